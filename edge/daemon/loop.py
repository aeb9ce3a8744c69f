"""The camera daemon's loop: newest frame -> classify (or find the points) -> publish, until stopped.

Runs for months under systemd, so:
- it takes the newest frame only (the grabber drops stale ones and counts them);
- a lost source turns health "degraded" while the grabber reconnects; the loop keeps going; a read
  that never returns (OpenCV's GStreamer backend, a camera gone) counts as lost after the stall
  timeout, and calls into the capture left stuck are counted in /healthz (source.stuck_calls);
- a sink failing never stops inference (its error is counted);
- SIGTERM/SIGINT stop it within two seconds: the loop checks the stop flag at least every
  0.25 s, then the grabber and sinks are closed with short timeouts (sinks flush);
- SIGHUP (`systemctl reload`) swaps the model live: the bundle folder it started with is loaded
  again beside the running one and golden-checked, and the loop takes it between two results
  (edge.daemon.swap); a changed config still takes a restart;
- a sink that cannot deliver (broker away, file not writable) turns health "degraded" and the
  status line names it (edge.daemon.telemetry);
- nothing grows with the run: counters and bounded windows only;
- OpenCV's own worker threads are turned off (single_threaded_opencv): a frame-sized resize or colour
  conversion handed to a thread pool costs more CPU in hand-offs than it saves at camera rate, and the
  inference has the cores (measured with edge-bench --source: 0.3-0.5 ms of CPU a result less, issue 25).

Each result carries per-stage latency: capture_wait (waiting for a new frame), preprocess,
inference, postprocess, publish (time the previous result took to publish: a result cannot
contain its own publish time), total (this frame, capture_wait excluded) and capture_to_result
(from the frame's capture to its result, the latency a robot sees).

The loop's thread also counts its own CPU time (edge.util.cpu.thread_cpu_seconds, 0 where the platform
has no per-thread clock): `frame_cpu_s` over every frame it processes (preprocessing, the inference call
as far as it runs on this thread, postprocessing, publishing, telemetry) and `publish_cpu_s`, the part
spent in the sinks' publish(). edge-bench --source splits a result's CPU with them (edge.benchmark.cpu_account).
"""

import signal
import threading
import time

from edge.util.cpu import thread_cpu_seconds
from edge.util.lazy import available
from edge.util.timestamps import utc_timestamp

POLL_S = 0.25  # longest the loop waits for a frame before checking the stop flag


class CameraDaemon(object):
    def __init__(self, model, grabber, sinks, telemetry, runtime_label, max_frames=None, duration=None,
                 log_every=10.0, log=print, swap=None):
        """model: the result model of the bundle's task (edge.tasks.registry.model_for) over an active runner.
        swap: an edge.daemon.swap.ModelSwap whose current model is `model` (SIGHUP and request_reload swap it)."""
        self.model = model
        self.swap = swap
        self.model_identity = None if swap is None else swap.current.identity
        self._last_result_at = None
        self._reload_asked = False
        self.grabber = grabber
        self.sinks = list(sinks)
        self.telemetry = telemetry
        self.runtime_label = runtime_label
        self.max_frames = max_frames
        self.duration = duration
        self.log_every = log_every
        self.log = log
        self.stop_event = threading.Event()
        self.frames = 0
        self.last_publish_ms = 0.0
        self.frame_cpu_s = 0.0      # this thread's CPU in process(), all frames
        self.publish_cpu_s = 0.0    # of which in the sinks' publish()
        self._cpu_mark = 0.0
        self._health_seen = None    # (grabber state, reconnects) last reported to telemetry

    def request_stop(self, signum=None, frame=None):
        if signum is not None and not self.stop_event.is_set():
            self.log("signal {}: stopping".format(signum))
        self.stop_event.set()

    def install_signal_handlers(self):
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), self.request_stop)
        if hasattr(signal, "SIGHUP"):  # no SIGHUP on Windows
            signal.signal(signal.SIGHUP, self.on_sighup if self.swap is not None else self.request_stop)

    def on_sighup(self, signum=None, frame=None):
        """SIGHUP: reload the bundle folder the daemon started with. The loop starts the swap (a handler taking the
        swap's lock could wait on the very thread it interrupted)."""
        self.log("signal {}: reloading the model".format(signum))
        self._reload_asked = True

    def request_reload(self, path=None):
        """Swap to the bundle folder `path` (default: the one the daemon started with): (accepted, one line)."""
        return self.swap.request_reload(path)

    def take_new_model(self):
        """Between two results: the swap's new model, when it has one ready."""
        if self._reload_asked:
            self._reload_asked = False
            accepted, message = self.request_reload()
            if not accepted:
                self.log("reload not started: " + message)
        loaded = self.swap.take() if self.swap is not None else None
        if loaded is not None:
            self.model, self.runtime_label, self.model_identity = loaded.model, loaded.label, loaded.identity

    def run(self):
        """Process frames until stopped, the source ends, or a limit is reached. Returns the reason."""
        single_threaded_opencv()
        started = time.time()
        next_log = started + self.log_every
        self.telemetry.set_state("starting", "waiting for the first frame")
        reason = "stopped"
        while not self.stop_event.is_set():
            if self.duration is not None and time.time() - started >= self.duration:
                reason = "duration reached"
                break
            waited_from = time.perf_counter()
            frame = self.grabber.get(timeout=POLL_S)
            capture_wait = (time.perf_counter() - waited_from) * 1000.0
            self.update_health()
            self.take_new_model()
            if self.swap is not None and self.swap.fatal:
                reason = "model lost: " + self.swap.fatal
                break
            if frame is None:
                if self.grabber.state in ("ended", "failed"):
                    reason = "source ended" if self.grabber.state == "ended" else "source unusable"
                    break
                continue
            self.process(frame, capture_wait)
            if self.max_frames is not None and self.frames >= self.max_frames:
                reason = "max frames reached"
                break
            if time.time() >= next_log:
                next_log = time.time() + self.log_every
                self.log_status()
        self.telemetry.set_state("stopping", reason)
        return reason

    def _count_cpu(self):
        """Add this thread's CPU since the last mark to frame_cpu_s: before publishing (a sink reading the
        counters then sees this frame's stages counted) and at the end of a frame."""
        now = thread_cpu_seconds()
        self.frame_cpu_s += now - self._cpu_mark
        self._cpu_mark = now

    def process(self, frame, capture_wait):
        self._cpu_mark = thread_cpu_seconds()
        results, timings = self.model.results([frame.image])
        now = time.time()
        latency = {"capture_wait": capture_wait, "preprocess": timings["preprocess"],
                   "inference": timings["inference"], "postprocess": timings["postprocess"],
                   "publish": self.last_publish_ms}
        latency["total"] = timings["preprocess"] + timings["inference"] + timings["postprocess"]
        latency["capture_to_result"] = (now - frame.captured) * 1000.0
        result = {"ts": utc_timestamp(now, milliseconds=True), "frame": frame.index,
                  "captured": round(frame.captured, 6)}
        result.update(results[0])
        if self.model_identity is not None:
            result["model"] = {"name": self.model_identity["name"], "id": self.model_identity["id"]}
        result.update({"latency_ms": dict((k, round(v, 3)) for k, v in latency.items()),
                       "runtime": self.runtime_label, "dropped": self.grabber.frames_dropped})
        self._count_cpu()
        publish_from = time.perf_counter()
        for sink in self.sinks:
            try:
                sink.publish(result, frame)
            except Exception as exc:  # a sink must never stop inference; it counts its own errors too
                sink.errors += 1
                self.log("sink {} failed: {}".format(sink.name, exc))
        self.last_publish_ms = (time.perf_counter() - publish_from) * 1000.0
        self.publish_cpu_s += thread_cpu_seconds() - self._cpu_mark
        latency["publish"] = self.last_publish_ms
        self.frames += 1
        if self.swap is not None and self._last_result_at is not None:
            self.swap.result_published(now - self._last_result_at)
        self._last_result_at = now
        self.telemetry.observe_frame(latency, dropped_total=self.grabber.frames_dropped)
        self._count_cpu()
        return result

    def update_health(self):
        state = self.grabber.state
        stuck = self.grabber.stuck_calls
        seen = (state, self.grabber.reconnects, self.grabber.last_error, stuck)
        if seen == self._health_seen:
            return  # nothing changed: no locks taken on the per-frame path
        self._health_seen = seen
        if state == "ok":
            self.telemetry.set_state("ok", "")
        elif state in ("degraded", "connecting"):
            self.telemetry.set_state("degraded" if state == "degraded" else "starting",
                                     self.grabber.last_error or "connecting to the source")
        self.telemetry.set_source(up=(state == "ok"), reconnects=self.grabber.reconnects, stuck_calls=stuck)

    def log_status(self):
        snap = self.telemetry.snapshot()
        state = snap.get("state")
        if state != "ok" and snap.get("reason"):
            state = "{} ({})".format(state, snap["reason"])
        self.log("frames {} | {:.1f} fps | dropped {} | inference p50 {:.2f} ms | "
                 "capture-to-result p50 {:.2f} ms | state {}".format(
                     self.frames, snap.get("fps", 0.0), self.grabber.frames_dropped,
                     snap.get("latency_ms", {}).get("inference", {}).get("p50", 0.0),
                     snap.get("latency_ms", {}).get("capture_to_result", {}).get("p50", 0.0), state))


def single_threaded_opencv():
    """OpenCV runs its functions on the calling thread (cv2.setNumThreads(0)), for this whole process; a cv2
    without the call (a test's stand-in for a capture library) is left as it is."""
    if available("cv2"):
        import cv2
        set_threads = getattr(cv2, "setNumThreads", None)
        if set_threads is not None:
            set_threads(0)
