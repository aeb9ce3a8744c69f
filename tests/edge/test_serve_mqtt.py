"""edge-serve over MQTT, through a real mosquitto: an MQTT 5 client's concurrent requests answered on
its Response Topic with their Correlation Data; an MQTT 3.1.1 client's JSON envelope; errors
answered, not dropped; a broker that is not there makes /healthz say so."""

import base64
import glob
import json
import os
import threading
import time

import pytest

from edge.api import LoadedBundle
from edge.net.mqtt_settings import MqttSettings
from edge.serve.mqtt import MqttFrontEnd
from tests.edge.realparts import Broker, free_port, needs_mosquitto
from tests.edge.serving import serving

paho = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt")


class Client(object):
    """A paho client (1.x or 2.x API) collecting the JSON answers on `topic`, with their MQTT 5 Correlation Data."""

    def __init__(self, port, topic, protocol, name):
        options = {"client_id": name, "protocol": paho.MQTTv5 if protocol == "5" else paho.MQTTv311}
        if hasattr(paho, "CallbackAPIVersion"):
            self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, **options)
        else:
            self.client = paho.Client(**options)
        self.answers, self.lock = [], threading.Lock()
        self.ready = threading.Event()

        def on_connect(client, userdata, flags, reason, *rest):
            client.subscribe(topic, qos=1)

        def on_subscribe(client, userdata, *rest):
            self.ready.set()

        def on_message(client, userdata, message):
            properties = getattr(message, "properties", None)
            correlation = getattr(properties, "CorrelationData", None) if properties is not None else None
            with self.lock:
                self.answers.append((correlation, json.loads(message.payload.decode("utf-8"))))

        self.client.on_connect, self.client.on_subscribe, self.client.on_message = on_connect, on_subscribe, on_message
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert self.ready.wait(30), "the test client never subscribed"

    def request_v5(self, topic, payload, reply_to, correlation):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = reply_to
        properties.CorrelationData = correlation
        return self.client.publish(topic, payload, qos=1, properties=properties)

    def wait_for(self, count, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.answers) >= count:
                    return list(self.answers)
            time.sleep(0.05)
        with self.lock:
            return list(self.answers)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker():
    running = Broker(free_port()).start()
    yield running
    running.cleanup()


@pytest.fixture
def service_over_mqtt(export_fused_int8_bundle, broker, request):
    """edge-serve's service (batches of up to 4: the bundle's range) with its MQTT front end on the broker,
    connected with MQTT 5 (or the protocol a test asks for with indirect parametrization)."""
    lines = []
    protocol = getattr(request, "param", "5")
    with serving(export_fused_int8_bundle, model_name="colours", max_batch=4, max_delay_ms=5.0) as server:
        front = MqttFrontEnd(server.service, server.telemetry, MqttSettings("127.0.0.1", broker.port, qos=1),
                             request_topic="test/serve/requests", protocol=protocol, log=lines.append).start()
        server.telemetry.sinks = [front]
        assert front.subscribed.wait(30), lines
        yield server, front
        front.stop_taking()
        front.close(time.time() + 2)


@pytest.fixture(scope="module")
def images_and_answers(export_fused_int8_bundle, export_images):
    paths = sorted(glob.glob(os.path.join(export_images, "*", "*.png")))
    with LoadedBundle.load(export_fused_int8_bundle).runner("onnxruntime", "fp32", threads=1) as model:
        expected = [model.predict(path).prediction for path in paths]
    payloads = []
    for path in paths:
        with open(path, "rb") as handle:
            payloads.append(handle.read())
    return payloads, expected


@needs_mosquitto
def test_fifty_concurrent_mqtt5_requests_are_answered_with_their_correlation_data(service_over_mqtt, broker,
                                                                                   images_and_answers):
    server, front = service_over_mqtt
    payloads, expected = images_and_answers
    client = Client(broker.port, "test/answers/robot-1", "5", "robot-1")
    try:
        def send(indices):
            for index in indices:
                client.request_v5("test/serve/requests", payloads[index % len(payloads)], "test/answers/robot-1",
                                  "request-{}".format(index).encode("ascii"))

        senders = [threading.Thread(target=send, args=(range(start, 50, 5),)) for start in range(5)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(30)
        answers = client.wait_for(50)
    finally:
        client.close()
    assert len(answers) == 50, (len(answers), front.health())
    by_request = dict((correlation.decode("ascii"), answer) for correlation, answer in answers)
    assert sorted(by_request) == sorted("request-{}".format(index) for index in range(50))
    for index in range(50):
        answer = by_request["request-{}".format(index)]
        assert answer["prediction"] == expected[index % len(payloads)], (index, answer)
        assert set(answer) >= {"prediction", "confidence", "top", "latency_ms", "model"}
    sizes = [answer["latency_ms"]["batch_size"] for answer in by_request.values()]
    assert max(sizes) <= 4
    print("MQTT answers came in batches of {}".format(sorted(set(sizes))))
    requests = server.telemetry.requests
    assert requests[("mqtt", "200")] == 50


@needs_mosquitto
@pytest.mark.parametrize("service_over_mqtt", ["5", "3.1.1"], indirect=True)
def test_an_mqtt311_envelope_gets_its_answer_with_its_id(service_over_mqtt, broker, images_and_answers):
    payloads, expected = images_and_answers
    client = Client(broker.port, "test/answers/plc", "3.1.1", "plc-gateway")
    try:
        envelope = {"reply_to": "test/answers/plc", "id": "job-42",
                    "image": base64.b64encode(payloads[-1]).decode("ascii")}
        client.client.publish("test/serve/requests", json.dumps(envelope), qos=1)
        bad = {"reply_to": "test/answers/plc", "id": 43, "image": base64.b64encode(b"not an image").decode("ascii")}
        client.client.publish("test/serve/requests", json.dumps(bad), qos=1)
        answers = sorted((answer for _, answer in client.wait_for(2)), key=lambda answer: str(answer["id"]))
    finally:
        client.close()
    assert len(answers) == 2, answers
    assert answers[1]["id"] == "job-42" and answers[1]["prediction"] == expected[-1]
    assert answers[0] == {"id": 43, "code": 400, "error": "the image is neither a JPEG nor a PNG"}


@needs_mosquitto
def test_an_mqtt5_request_that_is_not_an_image_is_answered_with_an_error(service_over_mqtt, broker):
    server, front = service_over_mqtt
    client = Client(broker.port, "test/answers/x", "5", "client-x")
    try:
        client.request_v5("test/serve/requests", b"\x89PNG\r\n\x1a\n truncated", "test/answers/x", b"c-1")
        answers = client.wait_for(1)
        # Nowhere to answer (no Response Topic, not an envelope): counted, and the server goes on.
        client.client.publish("test/serve/requests", b"\xff\xd8\xff raw jpeg without a reply topic", qos=1)
        deadline = time.time() + 30
        while front.unanswerable == 0 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        client.close()
    assert answers == [(b"c-1", {"code": 400, "error": "the image cannot be decoded (a damaged or truncated file?)"})]
    assert front.unanswerable == 1
    assert server.telemetry.requests[("mqtt", "400")] == 2


def test_a_broker_that_is_not_there_makes_the_service_degraded(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours") as server:
        front = MqttFrontEnd(server.service, server.telemetry, MqttSettings("127.0.0.1", free_port()), protocol="5").start()
        server.telemetry.sinks = [front]
        server.telemetry.mqtt = front
        try:
            status, _, health = server.json("GET", "/healthz")
            assert status == 503 and health["state"] == "degraded"
            assert "mqtt: broker 127.0.0.1:" in health["reason"] and "not reachable" in health["reason"]
            _, _, metrics = server.request("GET", "/metrics")
            assert b"edge_serve_mqtt_connected 0" in metrics
            assert server.request("GET", "/v2/health/ready")[0] == 200   # HTTP inference still works
        finally:
            front.close(time.time() + 1)
