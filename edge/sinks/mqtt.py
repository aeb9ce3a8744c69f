"""MQTT sink (paho-mqtt 1.x on JetPack 4.6's Python 3.6, 2.x elsewhere).

Delivery guarantee for QoS 1 and 2: at least once, across stops, crashes and reboots.
- publish() commits the result to a durable outbox on disk (edge.sinks.outbox) and returns: the
  inference loop never waits on the network, and a result publish() took survives a SIGKILL.
- A worker thread sends from the outbox, oldest first, while the broker is connected, with at most
  WINDOW results awaiting acknowledgement. A result leaves the outbox when the broker acknowledges
  it (PUBACK for QoS 1, PUBCOMP for QoS 2); QoS 0 results leave it once written to the socket.
- While the broker is away, results wait in the outbox, bounded by size, count and age (the
  oldest dropped first, counted). A stop keeps what is not acknowledged within its timeout on
  disk and says so ("N results kept in the outbox for the next start"); the next start sends
  those first.

Order: in capture order per daemon run; an earlier run's results before this run's. At least
once, so duplicates are possible: after a reconnect (paho resends what was not acknowledged) and
after a stop or crash with results in flight (sent again by the next start). `ts` and `frame`
identify a result for deduplication. QoS 0 is best effort: a result written to a connection that
then drops is not sent again.
"""

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time

from edge.errors import EdgeError
from edge.net.mqtt_client import connect_failed, new_client, paho
from edge.sinks.base import Sink
from edge.sinks.outbox import Outbox

DEFAULT_TOPIC = "edge/camera/results"
WINDOW = 64     # results handed to paho and not yet acknowledged, at most
SYNC_S = 1.0    # the outbox is made safe from a power cut, and aged, this often


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, settings, topic=DEFAULT_TOPIC, retain=False, keepalive=30, outbox=None, reconnect_max=10,
                 log=None):
        """settings: the broker, QoS, client id, credentials and TLS (edge.net.mqtt_settings.MqttSettings).
        outbox: an edge.sinks.outbox.Outbox (not yet opened); None: a temporary one, removed at
        close (for tests and notebooks: nothing survives the process)."""
        super(MqttSink, self).__init__()
        self.settings = settings.with_client_id("edge-camera-{}".format(int(time.time() * 1000) % 10 ** 9))
        self.host, self.port, self.qos = settings.host, settings.port, settings.qos
        self.topic, self.retain = topic, bool(retain)
        self.keepalive, self.reconnect_max = keepalive, reconnect_max
        self.log = log or (lambda text: None)
        self.outbox = outbox
        self._temporary = None                  # folder of a temporary outbox
        self.inflight = {}                      # mid -> outbox row id, awaiting the broker's acknowledgement
        self._early_acks = set()                # mids acknowledged before _send_some recorded them
        self._acked = []                        # row ids acknowledged, not yet removed from the outbox
        self._cursor = 0                        # the last row id handed to paho
        self.delivered = 0
        self.connected = False
        self._ever_connected = False
        self.last_error = None
        self._since = time.time()               # when the connection was last lost (or the start)
        self.client = None
        self._cond = threading.Condition()
        self._wake = False
        self._stop = threading.Event()
        self._closing = False
        self._worker = None

    # ----- lifecycle ------------------------------------------------------------------------------
    def start(self):
        if "#" in self.topic or "+" in self.topic or not self.topic:
            raise EdgeError("--mqtt-topic {!r} is not a publish topic (no wildcards)".format(self.topic))
        if self.outbox is None:
            self._temporary = tempfile.mkdtemp(prefix="edge-mqtt-")
            self.outbox = Outbox(os.path.join(self._temporary, "outbox.db"), log=self.log)
        self.outbox.open()
        if self.outbox.count():
            self.log("MQTT outbox {}: {} results from an earlier run are sent first".format(
                self.outbox.path, self.outbox.count()))
        _, client = new_client("the MQTT sink", self.settings)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.reconnect_delay_set(min_delay=1, max_delay=int(self.reconnect_max))
        client.max_queued_messages_set(0)  # paho holds at most WINDOW of ours (plus its resends)
        try:
            client.connect_async(self.host, self.port, self.keepalive)
        except (ValueError, OSError) as exc:
            raise EdgeError("bad MQTT broker address {}:{} ({})".format(self.host, self.port, exc))
        self.client = client
        self._since = time.time()
        client.loop_start()  # paho's network thread: connects, and reconnects with backoff
        self._worker = threading.Thread(target=self._send_loop, name="mqtt-sink")
        self._worker.daemon = True
        self._worker.start()

    def publish(self, result, frame=None):
        payload = json.dumps(result, separators=(",", ":")).encode("utf-8")
        try:
            self.outbox.append(payload)
        except sqlite3.Error as exc:  # disk full, file removed: counted, never raised
            self.errors += 1
            if self.last_error is None:
                self.log("MQTT outbox {}: cannot store results ({})".format(self.outbox.path, exc))
            self.last_error = "cannot store results in {}: {}".format(self.outbox.path, exc)
            return
        self.last_error = None
        self.published += 1
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def close(self, timeout=1.0):
        """Give the outbox up to `timeout` seconds to reach the broker; keep the rest on disk."""
        deadline = time.time() + timeout
        with self._cond:
            while self.connected and self.outbox.count() > 0 and time.time() < deadline:
                self._cond.wait(0.05)
            self._stop.set()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(1.0)
        self._closing = True  # our own disconnect is not "the broker went away"
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
        if self.outbox is None:
            return
        try:
            with self._cond:
                acked, self._acked = self._acked, []
            self._remove_acked(acked)
            self.outbox.sync()
        except sqlite3.Error as exc:
            self.log("MQTT outbox {}: {}".format(self.outbox.path, exc))
        kept = self.outbox.count()
        self.outbox.close()
        if self._temporary:
            shutil.rmtree(self._temporary, ignore_errors=True)
            if kept:
                self.log("MQTT: {} results not delivered (no --mqtt-outbox: not kept)".format(kept))
        elif kept:
            self.log("MQTT: {} results kept in the outbox for the next start ({})".format(kept, self.outbox.path))

    def health(self):
        with self._cond:
            connected, inflight = self.connected, len(self.inflight)
        box = self.outbox
        queued, dropped = (box.count(), box.dropped) if box is not None else (0, 0)
        reason = None
        if not connected:
            reason = "broker {}:{} {} for {:.0f} s; {} results queued, {} dropped".format(
                self.host, self.port, "away" if self._ever_connected else "not reachable", time.time() - self._since,
                queued, dropped)
        elif self.last_error:
            reason = self.last_error
        health = {"ok": reason is None, "connected": connected, "queued": queued, "inflight": inflight,
                  "dropped": dropped, "delivered": self.delivered, "published": self.published,
                  "errors": self.errors, "outbox": box.path if box is not None else None}
        if reason:
            health["reason"] = reason
        return health

    # ----- the sending side ------------------------------------------------------------------------
    def _send_loop(self):
        mqtt = paho("the MQTT sink")
        next_sync = time.time() + SYNC_S
        while True:
            with self._cond:
                if not (self._stop.is_set() or self._acked or self._wake):
                    self._cond.wait(0.2)
                self._wake = False
                acked, self._acked = self._acked, []
            try:
                self._remove_acked(acked)
                if self._stop.is_set():
                    return
                if time.time() >= next_sync:
                    next_sync = time.time() + SYNC_S
                    self.outbox.expire()
                    self.outbox.sync()
                if self.connected and self._send_some(mqtt) > 0:
                    with self._cond:
                        self._wake = True  # there may be more: go round again at once
            except sqlite3.Error as exc:
                self.errors += 1
                self.log("MQTT outbox {}: {}; retrying in a second".format(self.outbox.path, exc))
                self._stop.wait(1.0)
            except Exception as exc:  # the sender must outlive a surprise: results wait in the outbox
                self.errors += 1
                self.log("MQTT sender failed: {!r}; retrying in a second".format(exc))
                self._stop.wait(1.0)

    def _remove_acked(self, row_ids):
        if row_ids:
            self.delivered += self.outbox.ack(row_ids)
            with self._cond:
                self._cond.notify_all()  # close() may be waiting for the outbox to empty

    def _send_some(self, mqtt):
        """Hand the next rows to paho, up to the window; returns how many."""
        with self._cond:
            room, after = WINDOW - len(self.inflight), self._cursor
        if room <= 0:
            return 0
        sent = 0
        for row_id, payload in self.outbox.peek(after, room):
            # Never call paho while holding our lock: its network thread holds paho's own locks
            # when it calls _on_publish, which takes ours.
            try:
                info = self.client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
            except (ValueError, RuntimeError) as exc:
                self.errors += 1
                self.log("MQTT publish failed: {}".format(exc))
                break
            # Not connected after all: paho keeps a QoS 1/2 message and sends it on reconnection;
            # a QoS 0 one is gone, so it stays ours to send again.
            kept = info.rc == mqtt.MQTT_ERR_SUCCESS or (self.qos > 0 and info.rc == mqtt.MQTT_ERR_NO_CONN)
            if not kept:
                break
            with self._cond:
                self._cursor = row_id
                if info.mid in self._early_acks:
                    self._acked.append(row_id)
                else:
                    self.inflight[info.mid] = row_id
                self._early_acks.clear()  # any other is stale: only this publish could be early
            sent += 1
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
        return sent

    # ----- paho callbacks (both API versions: extra arguments ignored) ---------------------------
    def _on_connect(self, client, userdata, flags, reason, *rest):
        if connect_failed(reason):
            self.log("MQTT broker {}:{} refused the connection: {}".format(self.host, self.port, reason))
            return
        with self._cond:
            self.connected = self._ever_connected = True
            self._wake = True
            self._cond.notify_all()
        waiting = self.outbox.count()
        self.log("MQTT connected to {}:{}{}".format(self.host, self.port,
                                                     "; sending {} queued results".format(waiting) if waiting else ""))

    def _on_disconnect(self, client, userdata, *rest):
        with self._cond:
            was = self.connected
            self.connected = False
            if was:
                self._since = time.time()
            if self.qos == 0 and self.inflight:
                # paho drops QoS 0 messages it had not written: send them again from the outbox.
                self._cursor = min(self.inflight.values()) - 1
                self.inflight.clear()
            self._early_acks.clear()
            self._cond.notify_all()
        if was and not self._closing:
            self.log("MQTT broker {}:{} went away; keeping results in the outbox until it returns".format(
                self.host, self.port))

    def _on_publish(self, client, userdata, mid, *rest):
        with self._cond:
            row_id = self.inflight.pop(mid, None)
            if row_id is None:
                self._early_acks.add(mid)
            else:
                self._acked.append(row_id)
            self._cond.notify_all()
