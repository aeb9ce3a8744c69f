"""Always the newest frame: a grabber thread reads continuously and keeps only the latest.

OpenCV's capture buffers frames; a consumer slower than the camera then sees ever older
frames. Here a background thread drains the source as fast as it delivers, keeps one frame,
and counts every frame that was replaced before anyone took it. A live source that fails or
stalls is closed and reopened with exponential backoff (state "degraded" meanwhile); a finite
source (file, folder) ends with state "ended" once its last frame has been taken.

A finite source read without real-time pacing (a recorded video processed offline) is the one
exception: there every frame is wanted, so the grabber waits for the consumer instead of dropping.
"""

import random
import threading
import time

from edge.errors import EdgeError
from edge.sources.base import SourceError

STATES = ("connecting", "ok", "degraded", "ended", "stopped", "failed")


class LatestFrameGrabber(object):
    def __init__(self, factory, stall_timeout=5.0, reconnect_initial=0.5, reconnect_max=10.0, log=None):
        self.factory = factory              # () -> a new, unopened Source
        self.stall_timeout = stall_timeout  # a live source silent this long is reconnected
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.log = log or (lambda text: None)
        self.state = "connecting"
        self.last_error = None
        self.fatal = None                   # an EdgeError that retrying cannot fix (bad config)
        self.frames_captured = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self._frame = None                  # newest frame not yet taken
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = None
        self._source = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name="frame-grabber")
        self._thread.daemon = True
        self._thread.start()
        return self

    def get(self, timeout=1.0):
        """The newest frame not returned before, or None after `timeout` seconds."""
        deadline = time.time() + timeout
        with self._cond:
            while self._frame is None:
                remaining = deadline - time.time()
                if remaining <= 0 or self.state in ("ended", "stopped", "failed"):
                    return None
                self._cond.wait(remaining)
            frame, self._frame = self._frame, None
            self._cond.notify_all()  # a waiting (back-pressured) reader may go on
            return frame

    def stop(self, timeout=1.0):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state("stopped")

    # ----- the thread ----------------------------------------------------------------------------
    def _set_state(self, state, error=None):
        with self._cond:
            if self.state == "stopped" and state != "stopped":
                return
            self.state = state
            if error is not None:
                self.last_error = error
            self._cond.notify_all()

    def _publish(self, frame, backpressure=False):
        with self._cond:
            while backpressure and self._frame is not None and not self._stop.is_set():
                self._cond.wait(0.1)
            if self._frame is not None:
                self.frames_dropped += 1
            self._frame = frame
            self.frames_captured += 1
            self._cond.notify_all()

    def _run(self):
        delay = self.reconnect_initial
        first = True
        while not self._stop.is_set():
            if not first:
                self.reconnects += 1
            first = False
            source = self.factory()
            try:
                source.open()
            except SourceError as exc:
                if not source.live:
                    return self._fail(exc)
                self._set_state("degraded", str(exc))
                self.log("source unavailable ({}); retrying in {:.1f} s".format(exc, delay))
                self._sleep(delay)
                delay = min(self.reconnect_max, delay * 2)
                continue
            except EdgeError as exc:
                return self._fail(exc)
            self._source = source
            delivered = self._drain(source)
            source.close()
            self._source = None
            if source.ended:
                # Let the consumer take the last frame, then report the end.
                with self._cond:
                    while self._frame is not None and not self._stop.is_set():
                        self._cond.wait(0.1)
                self._set_state("ended")
                return
            if delivered:
                delay = self.reconnect_initial
            if not self._stop.is_set():
                self.log("source lost ({}); reconnecting in {:.1f} s".format(self.last_error, delay))
                self._sleep(delay)
                delay = min(self.reconnect_max, delay * 2)

    def _drain(self, source):
        """Read until the source ends, fails or stalls; True if it delivered any frame."""
        delivered = False
        last_frame_at = time.time()
        spec_options = getattr(getattr(source, "spec", None), "options", {}) or {}
        backpressure = not source.live and not spec_options.get("realtime") and not spec_options.get("fps")
        while not self._stop.is_set():
            try:
                frame = source.read(timeout=min(1.0, self.stall_timeout))
            except SourceError as exc:
                self._set_state("degraded", str(exc))
                return delivered
            except Exception as exc:  # an OpenCV/driver error mid-stream: treat as a lost source
                self._set_state("degraded", "{}: {}".format(type(exc).__name__, exc))
                return delivered
            if frame is None:
                if source.ended:
                    return delivered
                if time.time() - last_frame_at > self.stall_timeout:
                    self._set_state("degraded", "no frame for {:.0f} s".format(self.stall_timeout))
                    return delivered
                continue
            if not delivered:
                self._set_state("ok")
                delivered = True
            last_frame_at = time.time()
            self._publish(frame, backpressure)
        return delivered

    def _fail(self, exc):
        self.fatal = exc
        self._set_state("failed", str(exc))

    def _sleep(self, seconds):
        # Jitter keeps a fleet of cameras from reconnecting in lockstep.
        self._stop.wait(seconds * random.uniform(0.8, 1.2))
