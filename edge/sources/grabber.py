"""Always the newest frame: a grabber thread reads continuously and keeps only the latest.

OpenCV's capture buffers frames; a consumer slower than the camera then sees ever older
frames. Here a background thread drains the source as fast as it delivers, keeps one frame,
and counts every frame that was replaced before anyone took it. A live source that fails or
stalls is closed and reopened with exponential backoff (state "degraded" meanwhile); a finite
source (file, folder) ends with state "ended" once its last frame has been taken.

A finite source read without real-time pacing (a recorded video processed offline) is the one
exception: there every frame is wanted, so the grabber waits for the consumer instead of dropping.

No call into the source may hold the grabber: OpenCV's GStreamer read can block forever when a
camera drops (edge.sources.watchdog). Each source is opened and read on a reader thread of its own,
which hands each frame over itself (no second thread woken per frame), watched from the grabber's
thread: a read that has not returned `stall_timeout` seconds after the last frame turns the state
"degraded" at once, and the source is closed on a helper thread with a deadline of its own before a
new one is opened: the stuck read is ended first (source.interrupt()), as releasing a capture under
a running read can crash OpenCV; a read or release still blocked past the deadline is abandoned and
counted. open() has a deadline as well (`open_timeout`).

`capture_cpu_s` is the CPU the capture cost this process, by each thread's own CPU clock
(edge.util.cpu.thread_cpu_seconds; 0 where the platform has none): the reader thread's while it reads
and hands frames over (decoding, conversion and scaling done on that thread; pacing sleeps and
back-pressured waits cost nothing), plus the grabber thread's while it watches a source. Work a
capture library does on threads of its own (FFmpeg's decoder threads, a GStreamer pipeline's
streaming threads) is not in it.
"""

import random
import threading
import time

from edge.errors import EdgeError
from edge.sources.base import SourceError
from edge.sources.watchdog import OPEN_GUARD_S, RELEASE_TIMEOUT_S, Worker, ensure_capacity, stop_and_release, stuck_calls
from edge.util.cpu import thread_cpu_seconds

STATES = ("connecting", "ok", "degraded", "ended", "stopped", "failed")
POLL_S = 0.25           # longest the grabber waits on a read before looking at the stop flag


class LatestFrameGrabber(object):
    def __init__(self, factory, stall_timeout=5.0, reconnect_initial=0.5, reconnect_max=10.0, log=None,
                 open_timeout=OPEN_GUARD_S, release_timeout=RELEASE_TIMEOUT_S):
        self.factory = factory              # () -> a new, unopened Source
        self.stall_timeout = stall_timeout  # a live source silent this long is reconnected
        self.open_timeout = open_timeout    # source.open() not returned by then: degraded, try again
        self.release_timeout = release_timeout  # source.close() not returned by then: abandoned
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.log = log or (lambda text: None)
        self.state = "connecting"
        self.last_error = None
        self.fatal = None                   # an EdgeError that retrying cannot fix (bad config)
        self.frames_captured = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.read_cpu_s = 0.0               # the reader thread's CPU reading and handing over frames
        self.drain_cpu_s = 0.0              # the grabber thread's CPU while watching the reader
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

    @property
    def capture_cpu_s(self):
        """CPU seconds the capture has cost on the reader and grabber threads (see the module's docstring)."""
        return self.read_cpu_s + self.drain_cpu_s

    @property
    def stuck_calls(self):
        """Calls into capture libraries abandoned past their deadline and still running (this process)."""
        return len(stuck_calls())

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
            worker = Worker("capture-reader")
            try:
                self._open(source, worker)
            except SourceError as exc:
                worker.close()
                if not source.live:
                    return self._fail(exc)
                self._set_state("degraded", str(exc))
                self.log("source unavailable ({}); retrying in {:.1f} s".format(exc, delay))
                self._sleep(delay)
                delay = min(self.reconnect_max, delay * 2)
                continue
            except EdgeError as exc:
                worker.close()
                return self._fail(exc)
            self._source = source
            started_cpu = thread_cpu_seconds()
            delivered = self._drain(source, worker)
            self.drain_cpu_s += thread_cpu_seconds() - started_cpu
            self._close(source, worker)
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

    def _open(self, source, worker):
        """source.open() on its reader within open_timeout (Stalled, a SourceError, past it: an open that
        returns later is closed then). TooManyStuck while too many abandoned calls still run."""
        ensure_capacity(source.uri or "the source")
        worker.call(source.open, self.open_timeout, "open {}".format(source.uri),
                    late=lambda call: call.error is None and source.close())

    def _drain(self, source, worker):
        """Read until the source ends, fails or stalls; True if it delivered any frame.

        The reader thread reads and publishes frame after frame in one call (_read_frames: no hand-off
        between two threads per frame); this thread watches it for a stall."""
        progress = _Progress()
        call = worker.submit(lambda: self._read_frames(source, progress), "read")
        if not self._watch(call, progress):
            return progress.delivered
        try:
            call.result()
        except SourceError as exc:
            self._set_state("degraded", str(exc))
        except Exception as exc:  # an OpenCV/driver error mid-stream: treat as a lost source
            self._set_state("degraded", "{}: {}".format(type(exc).__name__, exc))
        return progress.delivered

    def _read_frames(self, source, progress):
        """On the reader thread: read and publish until the grabber stops or gives up on this source
        (progress.stopped), the source ends, or nothing came for stall_timeout (degraded); a read error
        is raised to the grabber's thread."""
        spec_options = getattr(getattr(source, "spec", None), "options", {}) or {}
        backpressure = not source.live and not spec_options.get("realtime") and not spec_options.get("fps")
        timeout = min(1.0, self.stall_timeout)
        going = True
        while going and not self._stop.is_set():
            started_cpu = thread_cpu_seconds()
            try:
                going = self._read_one(source, progress, timeout, backpressure)
            finally:
                self.read_cpu_s += thread_cpu_seconds() - started_cpu

    def _read_one(self, source, progress, timeout, backpressure):
        """One read, and its frame published; False when the reading is over."""
        frame = source.read(timeout=timeout)
        with self._cond:
            if progress.stopped:
                return False
            if frame is not None and not progress.delivered:
                self._set_state("ok")
                progress.delivered = True
        if frame is None:
            if source.ended:
                return False
            if time.time() - progress.last_frame_at > self.stall_timeout:
                self._set_state("degraded", "no frame for {:.0f} s".format(self.stall_timeout))
                return False
            return True
        progress.handing_over = True    # a back-pressured wait for the consumer is not a stall
        self._publish(frame, backpressure)
        progress.last_frame_at, progress.handing_over = time.time(), False
        return True

    def _watch(self, call, progress):
        """True once the reading call returns; False when the grabber stops, or when no frame came for
        stall_timeout and the read is still inside the source (state degraded at once). Either way the
        reading stops at its next frame (progress.stopped)."""
        while not call.wait(min(POLL_S, progress.stall_left(self.stall_timeout))):
            if self._stop.is_set():
                progress.stopped = True
                return False
            if progress.stall_left(self.stall_timeout) <= 0:
                with self._cond:
                    progress.stopped = True
                    self._set_state("degraded", "no frame for {:.0f} s (read() did not return)".format(
                        self.stall_timeout))
                return False
        return True

    def _close(self, source, worker):
        """Close the source within release_timeout, on helper threads: a read still inside it is first
        ended by source.interrupt() (never by a release under it). A read or close that still does not
        return is abandoned and counted; the source is then closed when that read returns."""
        worker.close()
        try:
            released = stop_and_release(worker.current, getattr(source, "interrupt", None), source.close,
                                        self.release_timeout, "capture {}".format(source.uri))
        except Exception as exc:  # a failed close must not stop the reconnecting
            self.log("closing {} failed: {}".format(source.uri, exc))
            return
        if not released:
            self.log("closing {} did not finish within {:.0f} s: left to finish on its own; calls stuck: {}".format(
                source.uri, self.release_timeout, ", ".join(stuck_calls())))

    def _fail(self, exc):
        self.fatal = exc
        self._set_state("failed", str(exc))

    def _sleep(self, seconds):
        # Jitter keeps a fleet of cameras from reconnecting in lockstep.
        self._stop.wait(seconds * random.uniform(0.8, 1.2))


class _Progress(object):
    """One source's reading, shared by the reader thread (delivered, last_frame_at, handing_over) and the
    grabber's (stopped)."""

    def __init__(self):
        self.delivered = False
        self.last_frame_at = time.time()
        self.handing_over = False
        self.stopped = False

    def stall_left(self, stall_timeout):
        """Seconds until the reading counts as stalled; never while a frame waits for the consumer."""
        return POLL_S if self.handing_over else self.last_frame_at + stall_timeout - time.time()
