"""MQTT requests survive a broker restart: a client sends 200 requests at QoS 1 over about 15 s, the
real mosquitto (persistence true) is stopped for 7 s in the middle and started again on the same port
and persistence folder, and every request is answered, because edge-serve keeps a persistent session
under a fixed client id and subscribes at QoS 1 (the broker keeps the requests for it meanwhile), and
so does the client (the broker keeps the answers for it)."""

import base64
import glob
import json
import os
import threading
import time

import pytest

from edge.net.mqtt_settings import MqttSettings
from edge.serve.mqtt import MqttFrontEnd
from tests.edge.realparts import Broker, free_port, needs_mosquitto
from tests.edge.serving import serving

paho = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt")

REQUESTS, EVERY_S = 200, 0.075        # 200 requests over 15 s
OUTAGE_AFTER_S, OUTAGE_S = 4.0, 7.0   # the broker goes away 4 s in, for 7 s


class PersistentClient(object):
    """A requester as the README tells users to make one: a fixed client id and a persistent session (MQTT 5:
    clean_start false with a Session Expiry Interval; MQTT 3.1.1: clean_session false), its answers topic
    subscribed at QoS 1, its requests sent at QoS 1 (MQTT 5: Response Topic and Correlation Data; 3.1.1: a
    JSON envelope)."""

    def __init__(self, port, answers_topic, name, protocol):
        self.protocol, self.answers_topic = protocol, answers_topic
        options = {"client_id": name}
        if protocol == "5":
            options["protocol"] = paho.MQTTv5
        else:
            options.update(protocol=paho.MQTTv311, clean_session=False)
        if hasattr(paho, "CallbackAPIVersion"):
            self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, **options)
        else:
            self.client = paho.Client(**options)
        self.answers, self.lock, self.subscribed = {}, threading.Lock(), threading.Event()

        def on_connect(client, userdata, flags, reason, *rest):
            client.subscribe(answers_topic, qos=1)

        def on_message(client, userdata, message):
            answer = json.loads(message.payload.decode("utf-8"))
            key = message.properties.CorrelationData.decode("ascii") if protocol == "5" else answer.get("id")
            with self.lock:
                self.answers[key] = answer

        self.client.on_connect, self.client.on_message = on_connect, on_message
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect_async("127.0.0.1", port, 30, **self._session())
        self.client.loop_start()
        assert self.subscribed.wait(30), "the requester never subscribed"

    def _session(self):
        if self.protocol != "5":
            return {}
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = 600
        return {"clean_start": False, "properties": session}

    def request(self, topic, payload, key):
        """Sent at QoS 1: paho keeps it while the broker is away and sends it once reconnected."""
        if self.protocol != "5":
            envelope = {"reply_to": self.answers_topic, "id": key, "image": base64.b64encode(payload).decode("ascii")}
            self.client.publish(topic, json.dumps(envelope), qos=1)
            return
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic, properties.CorrelationData = self.answers_topic, key.encode("ascii")
        self.client.publish(topic, payload, qos=1, properties=properties)

    def answered(self):
        with self.lock:
            return dict(self.answers)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@needs_mosquitto
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_every_request_sent_around_a_broker_restart_is_answered(export_fused_int8_bundle, export_images, protocol):
    payloads = []
    for path in sorted(glob.glob(os.path.join(export_images, "*", "*.png")))[::4]:
        with open(path, "rb") as handle:
            payloads.append(handle.read())
    broker = Broker(free_port()).start()
    lines = []
    try:
        with serving(export_fused_int8_bundle, model_name="colours", max_batch=4) as server:
            front = MqttFrontEnd(server.service, server.telemetry, MqttSettings("127.0.0.1", broker.port, qos=1),
                                 request_topic="drill/requests", protocol=protocol, log=lines.append).start()
            assert front.subscribed.wait(30), lines
            client = PersistentClient(broker.port, "drill/answers", "drill-requester", protocol)
            try:
                started = time.time()
                restarted = threading.Thread(target=restart, args=(broker, started))
                restarted.start()
                for index in range(REQUESTS):
                    time.sleep(max(0.0, started + index * EVERY_S - time.time()))
                    client.request("drill/requests", payloads[index % len(payloads)], "r-{}".format(index))
                restarted.join(60)
                deadline = time.time() + 90
                while len(client.answered()) < REQUESTS and time.time() < deadline:
                    time.sleep(0.2)
                answers = client.answered()
            finally:
                client.close()
                front.stop_taking()
                front.close(time.time() + 2)
    finally:
        broker.cleanup()
    missing = REQUESTS - len(answers)
    codes = sorted(set(answer.get("code", 200) for answer in answers.values()))
    print("broker restart drill, MQTT {}: {} requests over {:.0f} s, the broker away for {:.0f} s: {} unanswered; "
          "answer codes {}".format(protocol, REQUESTS, REQUESTS * EVERY_S, OUTAGE_S, missing, codes))
    assert missing == 0, lines
    assert codes == [200]


def restart(broker, started):
    time.sleep(max(0.0, started + OUTAGE_AFTER_S - time.time()))
    broker.stop()
    time.sleep(OUTAGE_S)
    broker.start()
