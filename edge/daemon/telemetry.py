"""The daemon's health and metrics: thread-safe, bounded, rendered as JSON or Prometheus text.

Memory stays flat over months: counters are integers and latencies live in fixed-size windows.

The state the daemon reports combines the source's (set by the daemon loop: starting, ok,
degraded, stopping) with its sinks': a running daemon whose sink cannot deliver (health() "ok"
false: a broker away, a file that cannot be written) is "degraded", and the reason names the
sink ("mqtt: broker 10.0.0.2:1883 away for 12 s; 340 results queued, 0 dropped").
"""

import collections
import threading
import time

from edge.util.cpu import process_cpu_seconds
from edge.net.prometheus import Exposition

STAGES = ("capture_wait", "preprocess", "inference", "postprocess", "publish", "total", "capture_to_result")
QUANTILES = (0.5, 0.9, 0.99)


class Window(object):
    """The last `size` samples, with quantiles, plus an all-time count and sum (Prometheus summary)."""

    def __init__(self, size=1000):
        self.samples = collections.deque(maxlen=size)
        self.count = 0
        self.total = 0.0

    def add(self, value):
        self.samples.append(value)
        self.count += 1
        self.total += value

    def quantile(self, q):
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ServiceHealth(object):
    """What every long-running command reports: its state and reason, uptime, the process's CPU,
    and the parts that deliver (`sinks`: objects with .name and .health()), whose failing turns a
    running service "degraded". edge-camera's Telemetry and edge-serve's ServeTelemetry build on it.
    """

    def __init__(self, cpu_window_s=5.0):
        self._lock = threading.Lock()
        self.state, self.reason = "starting", ""
        self.started = time.time()
        self._cpu_window_s = cpu_window_s
        # (wall, process CPU seconds), one a second: CPU percent over the last cpu_window_s.
        self._cpu_samples = collections.deque([(self.started, process_cpu_seconds())], maxlen=64)
        self.sinks = []  # objects with .name, .health() (camera sinks also .published, .errors)
        self.reloader = None  # edge.daemon.swap.ModelSwap where models swap live: request_reload(path), status()

    def set_state(self, state, reason=""):
        with self._lock:
            self.state, self.reason = state, reason

    def _sample_cpu(self, now):
        """Call under the lock, on each unit of work: keeps one CPU sample a second."""
        if now - self._cpu_samples[-1][0] >= 1.0:
            self._cpu_samples.append((now, process_cpu_seconds()))

    def cpu_percent(self):
        """Percent of one core this process used over the last seconds (as top shows it)."""
        now, cpu = time.time(), process_cpu_seconds()
        with self._lock:
            recent = [sample for sample in self._cpu_samples if now - sample[0] <= self._cpu_window_s]
            start = recent[0] if recent else self._cpu_samples[-1]
        elapsed = now - start[0]
        return 100.0 * (cpu - start[1]) / elapsed if elapsed > 0 else 0.0

    def healthy(self):
        return self.overall(self._sink_health())[0] == "ok"

    def _sink_health(self):
        return [(sink.name, sink.health()) for sink in list(self.sinks)]

    def overall(self, sink_health):
        """(state, reason): the service's own state, "degraded" while running with a failing sink."""
        with self._lock:
            state, reason = self.state, self.reason
        failing = ["{}: {}".format(name, health.get("reason", "not delivering"))
                   for name, health in sink_health if not health.get("ok", True)]
        if failing and state in ("ok", "degraded"):
            return "degraded", "; ".join(([reason] if reason else []) + failing)
        return state, reason

    def common_snapshot(self, sink_health):
        """The /healthz fields every service has: state, reason, uptime_s, cpu_percent."""
        state, reason = self.overall(sink_health)
        return {"state": state, "reason": reason, "uptime_s": round(time.time() - self.started, 1),
                "cpu_percent": round(self.cpu_percent(), 1)}

    def model_status(self):
        """/healthz's "model": the running bundle's name, id, runtime and the last swap (None without a reloader)."""
        return None if self.reloader is None else self.reloader.status()

    def render_model(self, text):
        """The running bundle (edge_model_info{name,id} 1) and the live swaps, where the service has a reloader."""
        if self.reloader is None:
            return
        status = self.reloader.status()
        text.family("model_info", "gauge", "The running bundle: its folder's name and id (sha256 of manifest.json)",
                    [((("name", status["name"]), ("id", status["id"])), 1)])
        text.family("model_swaps_total", "counter", "Live model swaps, by result (switched, refused)",
                    [((("result", result),), count) for result, count in sorted(self.reloader.counts.items())])
        text.family("model_swap_gap_seconds", "gauge", "Longest time between two results across the last swap",
                    [((), status["swap"].get("gap_s") or 0.0)])

    def render_up(self, text, state):
        text.family("up", "gauge", "1 while the service is healthy (state ok)", [((), int(state == "ok"))])

    def render_cpu(self, text):
        text.family("process_cpu_seconds_total", "counter", "CPU seconds this process used, all threads",
                    [((), round(process_cpu_seconds(), 3))])
        text.family("cpu_percent", "gauge", "Percent of one core used over the last seconds (200 = two busy cores)",
                    [((), round(self.cpu_percent(), 1))])


class Telemetry(ServiceHealth):
    """edge-camera's: frames, drops, the source, per-stage latency windows, and the sinks' counters."""

    def __init__(self, window=1000, fps_window_s=5.0):
        super(Telemetry, self).__init__(cpu_window_s=fps_window_s)
        self.frames_total = 0
        self.frames_dropped_total = 0
        self.source_up = False
        self.source_reconnects_total = 0
        self.source_stuck_calls = 0
        self.latency = dict((stage, Window(window)) for stage in STAGES)
        self._frame_times = collections.deque(maxlen=10000)
        self._fps_window_s = fps_window_s

    def set_source(self, up, reconnects, stuck_calls=0):
        """stuck_calls: calls into the capture library abandoned past their deadline, still running."""
        with self._lock:
            self.source_up = bool(up)
            self.source_reconnects_total = int(reconnects)
            self.source_stuck_calls = int(stuck_calls)

    def observe_frame(self, latency_ms, dropped_total=0):
        now = time.time()
        with self._lock:
            self.frames_total += 1
            self.frames_dropped_total = int(dropped_total)
            for stage in STAGES:
                if stage in latency_ms:
                    self.latency[stage].add(float(latency_ms[stage]))
            self._frame_times.append(now)
            self._sample_cpu(now)

    def fps(self):
        now = time.time()
        with self._lock:
            recent = [t for t in self._frame_times if now - t <= self._fps_window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def snapshot(self):
        fps = self.fps()
        sink_health = self._sink_health()
        snapshot = self.common_snapshot(sink_health)
        with self._lock:
            snapshot.update({
                "frames": self.frames_total, "dropped": self.frames_dropped_total, "fps": round(fps, 2),
                "source": {"up": self.source_up, "reconnects": self.source_reconnects_total,
                           "stuck_calls": self.source_stuck_calls},
                "latency_ms": dict((stage, {"p50": round(w.quantile(0.5), 3), "p90": round(w.quantile(0.9), 3),
                                            "p99": round(w.quantile(0.99), 3)})
                                   for stage, w in self.latency.items()),
                "sinks": dict(sink_health),
            })
        if self.reloader is not None:
            snapshot["model"] = self.model_status()
        return snapshot

    def render_prometheus(self):
        """Prometheus text exposition format 0.0.4."""
        fps = self.fps()
        sink_health = self._sink_health()
        text = Exposition()
        self.render_up(text, self.overall(sink_health)[0])
        with self._lock:
            text.family("frames_total", "counter", "Frames classified", [((), self.frames_total)])
            text.family("frames_dropped_total", "counter", "Frames replaced by a newer one before inference",
                        [((), self.frames_dropped_total)])
            text.family("source_up", "gauge", "1 while the source delivers frames", [((), int(self.source_up))])
            text.family("source_reconnects_total", "counter", "Times the source was reopened",
                        [((), self.source_reconnects_total)])
            text.family("source_stuck_calls", "gauge", "Calls into the capture library past their deadline, "
                        "still running (a read or release that never returned)", [((), self.source_stuck_calls)])
            text.family("fps", "gauge", "Frames classified per second over the last seconds", [((), round(fps, 3))])
            text.header("stage_latency_ms", "summary", "Per-stage latency in milliseconds (last 1000 frames)")
            for stage, window in self.latency.items():
                for q in QUANTILES:
                    text.sample("stage_latency_ms", (("stage", stage), ("quantile", q)), window.quantile(q))
                text.sample("stage_latency_ms_sum", (("stage", stage),), window.total)
                text.sample("stage_latency_ms_count", (("stage", stage),), window.count)
            sinks = list(self.sinks)
        text.family("sink_published_total", "counter", "Results handed to each sink",
                    [((("sink", s.name),), s.published) for s in sinks])
        text.family("sink_errors_total", "counter", "Failures of each sink",
                    [((("sink", s.name),), s.errors) for s in sinks])

        def per_sink(key, default):
            return [((("sink", name),), health.get(key, default)) for name, health in sink_health]
        text.family("sink_connected", "gauge",
                    "1 while the sink reaches its destination (broker connected, file writable)",
                    per_sink("connected", True))
        text.family("sink_queued", "gauge", "Results accepted by the sink and not yet delivered",
                    per_sink("queued", 0))
        text.family("sink_dropped_total", "counter", "Results a sink threw away undelivered (bounds, write failures)",
                    per_sink("dropped", 0))
        text.family("sink_delivered_total", "counter", "Results delivered (written, or acknowledged by the broker)",
                    per_sink("delivered", 0))
        self.render_model(text)
        self.render_cpu(text)
        return text.render()
