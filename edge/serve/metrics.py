"""edge-serve's health and metrics: what edge-camera reports about the process (state, CPU; a
failing part such as an unreachable MQTT broker turns it "degraded"), plus the service's own.

/metrics (Prometheus text, edge.net.prometheus), beside edge_up, edge_cpu_percent and
edge_process_cpu_seconds_total:
    edge_serve_requests_total{route,code}        requests answered, by route and status code
    edge_serve_request_seconds{route}            request latency histogram, arrival to answer
    edge_serve_queue_depth                       requests waiting for their batch
    edge_serve_requests_in_flight                requests taken for inference, not answered yet
    edge_serve_batch_size                        histogram of images per runner call
    edge_serve_queue_wait_seconds                histogram of the wait for a batch to start
    edge_serve_inference_seconds                 histogram of runner calls
    edge_serve_connections_dropped_total         connections closed for sending too slowly
    edge_serve_mqtt_connected                    1 while the MQTT front end has its broker

Routes are templates ("/v2/models/{model}/infer", "mqtt", "other"), never raw paths, so the
number of series stays fixed whatever clients send.
"""

import time

from edge.net.prometheus import Exposition, Histogram
from edge.daemon.telemetry import ServiceHealth

LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def batch_bounds(max_batch):
    """1, 2, 4, ... up to max_batch (included): the batch-size histogram's buckets."""
    bounds, bound = [], 1
    while bound < max_batch:
        bounds.append(bound)
        bound *= 2
    return bounds + [max_batch]


class ServeTelemetry(ServiceHealth):
    def __init__(self, max_batch=1):
        super(ServeTelemetry, self).__init__()
        self.model = {}                   # name, runtime, max_batch: for /healthz
        self.requests = {}                # (route, code) -> count
        self.latency = {}                 # route -> Histogram
        self.batch_size = Histogram(batch_bounds(max_batch))
        self.queue_wait = Histogram(LATENCY_BOUNDS_S)
        self.inference = Histogram(LATENCY_BOUNDS_S)
        self.dropped_connections = 0
        self.in_flight = 0                # requests handed to the batcher and not answered yet
        self.queue_depth = lambda: 0      # set by the service: its batcher's depth
        self.mqtt = None                  # the MQTT front end, when there is one (also in sinks)

    def set_max_batch(self, max_batch):
        """The batch-size histogram's buckets: 1, 2, 4, ... up to the service's largest batch."""
        with self._lock:
            self.batch_size = Histogram(batch_bounds(max_batch))

    def observe_request(self, route, code, seconds):
        now = time.time()
        with self._lock:
            key = (route, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            if route not in self.latency:
                self.latency[route] = Histogram(LATENCY_BOUNDS_S)
            self.latency[route].observe(seconds)
            self._sample_cpu(now)

    def observe_batch(self, batch, images, inference_s):
        """The batcher's observer: one runner call of `images` images for the requests in `batch`."""
        with self._lock:
            self.batch_size.observe(images)
            self.inference.observe(inference_s)
            for pending in batch:
                self.queue_wait.observe(pending.queue_s)

    def request_started(self):
        with self._lock:
            self.in_flight += 1

    def request_finished(self, pending=None):
        with self._lock:
            self.in_flight -= 1

    def connection_dropped(self):
        with self._lock:
            self.dropped_connections += 1

    def snapshot(self):
        sink_health = self._sink_health()
        snapshot = self.common_snapshot(sink_health)
        depth = self.queue_depth()
        with self._lock:
            snapshot.update({
                "model": dict(self.model_status() or {}, **self.model), "queue_depth": depth, "in_flight": self.in_flight,
                "requests": sum(self.requests.values()),
                "batches": self.batch_size.count, "mean_batch_size": round(self.batch_size.mean(), 3),
                "connections_dropped": self.dropped_connections,
            })
        for name, health in sink_health:
            snapshot[name] = health
        return snapshot

    def render_prometheus(self):
        sink_health = self._sink_health()
        depth = self.queue_depth()
        text = Exposition()
        self.render_up(text, self.overall(sink_health)[0])
        with self._lock:
            text.family("serve_requests_total", "counter", "Requests answered, by route and status code",
                        [((("route", route), ("code", code)), count)
                         for (route, code), count in sorted(self.requests.items())])
            text.histogram("serve_request_seconds", "Request latency in seconds, arrival to answer",
                           [((("route", route),), histogram) for route, histogram in sorted(self.latency.items())])
            text.family("serve_queue_depth", "gauge", "Requests waiting for their batch to start", [((), depth)])
            text.family("serve_requests_in_flight", "gauge", "Requests taken for inference and not answered yet",
                        [((), self.in_flight)])
            text.histogram("serve_batch_size", "Images per runner call", [((), self.batch_size)])
            text.histogram("serve_queue_wait_seconds", "Seconds a request waited for its batch to start",
                           [((), self.queue_wait)])
            text.histogram("serve_inference_seconds", "Seconds per runner call", [((), self.inference)])
            text.family("serve_connections_dropped_total", "counter",
                        "Connections closed for sending a request too slowly (or idle past the client timeout)",
                        [((), self.dropped_connections)])
        if self.mqtt is not None:
            text.family("serve_mqtt_connected", "gauge", "1 while the MQTT front end is connected to its broker",
                        [((), int(bool(self.mqtt.health().get("connected"))))])
        self.render_model(text)
        self.render_cpu(text)
        return text.render()
