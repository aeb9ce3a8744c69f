"""edge-serve's MQTT front end: requests on a topic, answers on the topic each request names.

- MQTT 5 (paho-mqtt 1.5 and later): the payload is the image's bytes (JPEG or PNG); the answer
  goes to the request's Response Topic, with its Correlation Data, so a client can have many
  requests out at once and match every answer.
- MQTT 3.1.1 has neither property: the payload is a small JSON envelope,
      {"reply_to": "robot/7/answers", "id": "42", "image": "<base64 JPEG or PNG>"}
  and the answer goes to reply_to with the same id.

An answer is JSON in the project's vocabulary, as /v1/predict gives it ("prediction",
"confidence", "top", "latency_ms", "model"), plus "id" for an envelope; a request that cannot be
served is answered {"error": "...", "code": 400 | 413 | 503 | 500} (503: busy or shutting down,
try again). A request without anywhere to answer is counted and logged, and otherwise dropped.

Requests are decoded on paho's network thread and answered from the batcher's thread when their
batch is done, so concurrent requests are batched together like HTTP ones. A request that finds the
queue full waits up to QUEUE_WAIT_S for room before it is answered 503: meanwhile paho acknowledges
nothing more, and the broker holds the requests behind it (at QoS 1). QoS (for the
subscription and the answers), TLS and credentials work as in edge-camera: the same settings object
(edge.net.mqtt_settings) and client code (edge.net.mqtt_client).

Requests outlive a broker restart or a reconnect: edge-serve keeps a persistent session (MQTT 5:
clean_start false, Session Expiry Interval SESSION_EXPIRY_S; MQTT 3.1.1: clean_session false) under
a client id that stays the same from one start to the next (default edge-serve-HOST-MODEL), and
subscribes at QoS 1 at least, so the broker keeps the requests that arrive while edge-serve is away
and delivers them when it is back (a broker restart keeps them with `persistence true`). A client
that wants its answers across the same outage needs the same: a persistent session and QoS 1.
"""

import base64
import binascii
import json
import re
import socket
import threading
import time

from edge.errors import EdgeError
from edge.net.mqtt_client import connect_failed, connect_options, new_client
from edge.serve import images
from edge.serve.errors import RequestError

ROUTE = "mqtt"
LOG_EVERY_S = 10.0   # unanswerable requests are logged at most this often
# A request waits this long for its turn to decode, then for room in a full queue: the broker holds the
# rest meanwhile. Both waits block paho's network thread, so together they stay well inside the 1.5 x
# keepalive after which the broker drops a silent client.
QUEUE_WAIT_S = 10.0
SESSION_EXPIRY_S = 3600   # MQTT 5: how long the broker keeps the session (and requests) of an edge-serve away


def default_client_id(model_name):
    """edge-serve-HOST-MODEL: the same on every start, so the broker finds the persistent session again."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "edge-serve-{}-{}".format(socket.gethostname(), model_name))


class MqttFrontEnd(object):
    name = "mqtt"

    def __init__(self, service, telemetry, settings, request_topic="edge/serve/requests", protocol="5", keepalive=30,
                 reconnect_max=10, log=None):
        """settings: the broker, QoS, client id, credentials and TLS (edge.net.mqtt_settings.MqttSettings)."""
        self.service = service
        self.telemetry = telemetry
        self.settings = settings.with_client_id(default_client_id(service.model_name))
        self.host, self.port, self.qos = settings.host, settings.port, settings.qos
        self.client_id, self.request_topic, self.protocol = self.settings.client_id, request_topic, protocol
        self.keepalive, self.reconnect_max = keepalive, reconnect_max
        self.log = log or (lambda text: None)
        self.client = None
        self.connected = self._ever_connected = False
        self._since = time.time()
        self.taking = True
        self.subscribed = threading.Event()   # the broker acknowledged the request subscription
        self.unanswerable = 0
        self._last_logged = 0.0
        self._lock = threading.Lock()
        self._sent = []        # MessageInfo of answers not yet known to be written
        self._outstanding = 0  # requests taken and not yet answered

    def start(self):
        if not self.request_topic:
            raise EdgeError("--mqtt-request-topic must not be empty")
        _, self.client = new_client("edge-serve's MQTT front end", self.settings, protocol=self.protocol,
                                    persistent=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(min_delay=1, max_delay=int(self.reconnect_max))
        self.client.connect_async(self.host, self.port, self.keepalive,
                                  **connect_options(self.protocol, SESSION_EXPIRY_S))
        self.client.loop_start()
        return self

    def stop_taking(self):
        """Requests that still arrive are answered 503. The subscription stays in the session: what arrives
        once edge-serve has gone waits at the broker for its next start (within the session's expiry)."""
        self.taking = False

    def close(self, deadline):
        """Give the answers in flight until `deadline` (time.time()) to go out, then disconnect."""
        while time.time() < deadline:
            with self._lock:
                self._sent = [info for info in self._sent if not self._delivered(info)]
                if not self._outstanding and not (self._sent and self.connected):
                    break
            time.sleep(0.02)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def health(self):
        health = {"ok": self.connected, "connected": self.connected, "topic": self.request_topic,
                  "protocol": self.protocol, "unanswerable": self.unanswerable}
        if not self.connected:
            health["reason"] = "broker {}:{} {} for {:.0f} s".format(
                self.host, self.port, "away" if self._ever_connected else "not reachable", time.time() - self._since)
        return health

    # ----- paho callbacks (both API versions: extra arguments ignored) -----------------------------
    def _on_connect(self, client, userdata, flags, reason, *rest):
        if connect_failed(reason):
            self.log("MQTT broker {}:{} refused the connection: {}".format(self.host, self.port, reason))
            return
        self.connected = self._ever_connected = True
        if self.taking:   # QoS 1 at least: the broker keeps QoS 0 messages for no one
            client.subscribe(self.request_topic, qos=max(1, self.qos))
        self.log("MQTT connected to {}:{} (MQTT {}); requests on {}".format(self.host, self.port, self.protocol,
                                                                           self.request_topic))

    def _on_subscribe(self, client, userdata, *rest):
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, *rest):
        self.subscribed.clear()
        if self.connected and self.taking:
            self.log("MQTT broker {}:{} went away; reconnecting".format(self.host, self.port))
        self.connected = False
        self._since = time.time()

    def _on_message(self, client, userdata, message):
        try:
            self._take(message)
        except Exception as exc:  # paho 2.x lets a callback's exception end its network thread: never
            self.log("MQTT request on {} failed: {!r}".format(message.topic, exc))
            self.telemetry.observe_request(ROUTE, 500, 0.0)

    def _take(self, message):
        started = time.perf_counter()
        properties = getattr(message, "properties", None)
        reply_to = getattr(properties, "ResponseTopic", None) if properties is not None else None
        correlation = getattr(properties, "CorrelationData", None) if reply_to else None
        request_id = None
        try:
            if reply_to:
                data = message.payload
            else:
                reply_to, request_id, data = self._envelope(message.payload)
            if not self.taking:
                raise RequestError(503, "shutting down")
            kind = images.sniff(data)
            if kind is None:
                raise RequestError(400, "the image is neither a JPEG nor a PNG")
            rows, image_hw = self.service.prepare_image(data, wait_s=QUEUE_WAIT_S)
            pending = self.service.submit(rows, QUEUE_WAIT_S)
        except RequestError as exc:
            if isinstance(exc, _EnvelopeError):
                reply_to, request_id = exc.reply_to, exc.request_id
            if reply_to:
                self._answer(reply_to, correlation, _error(exc.code, exc.message, request_id))
            else:
                self._unanswerable(message.topic, exc.message)
            self.telemetry.observe_request(ROUTE, exc.code, time.perf_counter() - started)
            return
        with self._lock:
            self._outstanding += 1
        pending.add_done_callback(lambda done: self._finish(done, image_hw, reply_to, correlation, request_id,
                                                            started))

    # ----- answers ---------------------------------------------------------------------------------
    def _finish(self, pending, image_hw, reply_to, correlation, request_id, started):
        """On the batcher's thread, once the request's batch ran: publish its answer."""
        code = 500
        try:
            try:
                outputs = self.service.answer(pending)
                result = self.service.result(outputs[0], image_hw, pending=pending)
                if request_id is not None:
                    result["id"] = request_id
                code = 200
            except RequestError as exc:
                result, code = _error(exc.code, exc.message, request_id), exc.code
            self._answer(reply_to, correlation, result)
        finally:
            with self._lock:
                self._outstanding -= 1
            self.telemetry.observe_request(ROUTE, code, time.perf_counter() - started)

    def _answer(self, topic, correlation, document):
        payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
        options = {}
        if self.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            properties.ContentType = "application/json"
            if correlation is not None:
                properties.CorrelationData = correlation
            options["properties"] = properties   # paho before 1.5 (MQTT 3.1.1 only) has no such argument
        try:
            info = self.client.publish(topic, payload, qos=self.qos, **options)
        except (ValueError, RuntimeError) as exc:   # a reply topic with wildcards, paho stopped
            self._unanswerable(topic, "cannot publish the answer ({})".format(exc))
            return
        with self._lock:
            self._sent.append(info)
            if len(self._sent) > 1024:
                self._sent = [item for item in self._sent if not self._delivered(item)]

    def _delivered(self, info):
        """True once an answer is written, or when it never will be. paho's is_published() raises for one
        published while the broker was away, which paho keeps (QoS 1 and 2) and sends once reconnected."""
        try:
            return info.is_published()
        except ValueError:   # paho's queue was full: never sent
            return True
        except RuntimeError:
            return self.qos == 0 or bool(getattr(info, "_published", False))

    def _envelope(self, payload):
        """(reply topic, id, image bytes) of an MQTT 3.1.1 JSON envelope."""
        try:
            document = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RequestError(400, "no Response Topic (MQTT 5) and not a JSON envelope "
                                    '{"reply_to", "id", "image" (base64)} (MQTT 3.1.1)')
        if not isinstance(document, dict) or not isinstance(document.get("reply_to"), str) \
                or not document["reply_to"] or "#" in document["reply_to"] or "+" in document["reply_to"]:
            raise RequestError(400, "the envelope needs \"reply_to\": a topic to answer on (no wildcards)")
        request_id = document.get("id")
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            request_id = None
        try:
            data = base64.b64decode(document.get("image") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _EnvelopeError(document["reply_to"], request_id, "\"image\" is not base64")
        if not data:
            raise _EnvelopeError(document["reply_to"], request_id, "the envelope has no \"image\"")
        return document["reply_to"], request_id, data

    def _unanswerable(self, topic, why):
        self.unanswerable += 1
        now = time.time()
        if now - self._last_logged >= LOG_EVERY_S:
            self._last_logged = now
            self.log("MQTT request on {} not answered: {} ({} so far)".format(topic, why, self.unanswerable))


class _EnvelopeError(RequestError):
    """A bad envelope that still says where to answer."""

    def __init__(self, reply_to, request_id, message):
        super(_EnvelopeError, self).__init__(400, message)
        self.reply_to, self.request_id = reply_to, request_id


def _error(code, message, request_id):
    document = {"error": message, "code": code}
    if request_id is not None:
        document["id"] = request_id
    return document
