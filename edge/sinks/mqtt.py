"""MQTT sink (paho-mqtt 1.x on JetPack 4.6's Python 3.6, 2.x elsewhere).

publish() only enqueues, so the inference loop never waits on the network. A worker thread sends
while the broker is connected. Delivery guarantee for QoS 1 and 2: at least once while this
process lives: a message stays ours until the broker acknowledges it (PUBACK/PUBCOMP); messages
queued while the broker is away, and those unacknowledged when it went away, are sent when it
returns (a restart may therefore repeat a few; each result carries its frame index to deduplicate).
The queue is bounded (--mqtt-queue): when full, the oldest result is dropped and counted.
QoS 0 is best effort.
"""

import collections
import json
import threading
import time

from edge.errors import EdgeError
from edge.lazy import require
from edge.sinks.base import Sink


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, host, port=1883, topic="edge/camera/results", qos=1, retain=False, client_id=None,
                 username=None, password=None, tls_ca=None, tls_cert=None, tls_key=None, tls_insecure=False,
                 keepalive=30, max_queue=10000, reconnect_max=10, log=None):
        super(MqttSink, self).__init__()
        self.host, self.port, self.topic, self.qos, self.retain = host, int(port), topic, int(qos), bool(retain)
        self.client_id = client_id or "edge-camera-{}".format(int(time.time() * 1000) % 10 ** 9)
        self.username, self.password = username, password
        self.tls = (tls_ca, tls_cert, tls_key, tls_insecure)
        self.keepalive, self.reconnect_max = keepalive, reconnect_max
        self.log = log or (lambda text: None)
        self.pending = collections.deque()      # payloads not yet handed to paho, oldest first
        self.max_queue = max_queue
        self.inflight = {}                      # mid -> payload, awaiting the broker's acknowledgement
        self._early_acks = set()                # mids acknowledged before _send_loop recorded them
        self.dropped = 0
        self.connected = False
        self.client = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._worker = None

    # ----- lifecycle ------------------------------------------------------------------------------
    def start(self):
        mqtt = require("paho.mqtt.client", "the MQTT sink")
        if "#" in self.topic or "+" in self.topic or not self.topic:
            raise EdgeError("--mqtt-topic {!r} is not a publish topic (no wildcards)".format(self.topic))
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        else:  # paho-mqtt 1.x
            client = mqtt.Client(client_id=self.client_id)
        if self.username:
            client.username_pw_set(self.username, self.password)
        ca, cert, key, insecure = self.tls
        if ca or cert:
            try:
                client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
            except (IOError, OSError, ValueError) as exc:
                raise EdgeError("MQTT TLS set-up failed: {}".format(exc))
            client.tls_insecure_set(bool(insecure))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.reconnect_delay_set(min_delay=1, max_delay=int(self.reconnect_max))
        client.max_queued_messages_set(0)
        try:
            client.connect_async(self.host, self.port, self.keepalive)
        except (ValueError, OSError) as exc:
            raise EdgeError("bad MQTT broker address {}:{} ({})".format(self.host, self.port, exc))
        self.client = client
        client.loop_start()  # paho's network thread: connects, and reconnects with backoff
        self._worker = threading.Thread(target=self._send_loop, name="mqtt-sink")
        self._worker.daemon = True
        self._worker.start()

    def publish(self, result, frame=None):
        payload = json.dumps(result, separators=(",", ":"))
        with self._cond:
            if len(self.pending) >= self.max_queue:
                self.pending.popleft()
                self.dropped += 1
            self.pending.append(payload)
            self._cond.notify_all()

    def close(self, timeout=1.0):
        """Give queued results up to `timeout` seconds to reach the broker, then disconnect."""
        deadline = time.time() + timeout
        with self._cond:
            while (self.pending or self.inflight) and self.connected and time.time() < deadline:
                self._cond.wait(0.05)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(max(0.1, deadline - time.time()))
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def health(self):
        with self._cond:
            return {"ok": self.connected, "connected": self.connected, "queued": len(self.pending),
                    "inflight": len(self.inflight), "dropped": self.dropped, "published": self.published,
                    "errors": self.errors}

    # ----- the sending side ------------------------------------------------------------------------
    def _send_loop(self):
        mqtt = require("paho.mqtt.client", "the MQTT sink")
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set() and not (self.connected and self.pending):
                    self._cond.wait(0.2)
                if self._stop.is_set():
                    return
                payload = self.pending.popleft()
            # Never call paho while holding our lock: its network thread holds paho's own locks
            # when it calls _on_publish, which takes ours.
            try:
                info = self.client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
            except (ValueError, RuntimeError) as exc:
                self.errors += 1
                self.log("MQTT publish failed: {}".format(exc))
                continue
            with self._cond:
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    # Not connected after all: keep it first in line for the reconnect.
                    self.pending.appendleft(payload)
                    self.connected = False
                elif self.qos == 0:
                    self.published += 1
                elif info.mid in self._early_acks:
                    self._early_acks.discard(info.mid)  # acknowledged before we recorded it
                    self.published += 1
                else:
                    self.inflight[info.mid] = payload

    # ----- paho callbacks (both API versions: extra arguments ignored) ---------------------------
    def _on_connect(self, client, userdata, flags, reason, *rest):
        failed = reason.is_failure if hasattr(reason, "is_failure") else reason != 0
        if failed:
            self.log("MQTT broker {}:{} refused the connection: {}".format(self.host, self.port, reason))
            return
        with self._cond:
            self.connected = True
            self._cond.notify_all()
        self.log("MQTT connected to {}:{}".format(self.host, self.port))

    def _on_disconnect(self, client, userdata, *rest):
        with self._cond:
            was = self.connected
            self.connected = False
            # Unacknowledged messages go back to the front of the queue, in their original order.
            for mid in sorted(self.inflight, reverse=True):
                self.pending.appendleft(self.inflight.pop(mid))
            self._early_acks.clear()
            self._cond.notify_all()
        if was:
            self.log("MQTT broker {}:{} went away; queueing results until it returns".format(self.host, self.port))

    def _on_publish(self, client, userdata, mid, *rest):
        with self._cond:
            if self.inflight.pop(mid, None) is not None:
                self.published += 1
            elif self.qos > 0:
                self._early_acks.add(mid)
            self._cond.notify_all()
