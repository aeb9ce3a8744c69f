"""Calls into a capture that may never return, watched from outside the thread that makes them.

OpenCV's GStreamer backend pulls frames from appsink with a blocking call: when an RTSP camera
goes away, VideoCapture.read() may never return (opencv/opencv#22868, #24393; ros-drivers/gscam#108),
nor may VideoCapture(...) on a server that accepts and then says nothing (#22973), and release()
may block as well. Python cannot interrupt a thread inside a C call, so the call runs on a worker
thread and the caller waits for it with a deadline:

    worker = Worker("capture-reader")
    call = worker.submit(capture.read, "read")
    if not call.wait(5.0):                # the read is stuck inside the capture; its caller goes on
        stop_and_release(call, interrupt, capture.release, RELEASE_TIMEOUT_S, "capture")

A capture must not be released while a read runs in it: release() frees what the read is using
(measured with OpenCV 4.6: a segfault within ten such releases). So a stuck read is first ended by
interrupt() (a GStreamer capture stops its pipeline, which ends the blocked pull), and released only
once it has returned. A call that overruns is abandoned: its thread stays until the call returns,
then runs its `late` cleanup (a capture that opened or read too late is released then) and exits.
Abandoned calls still running are counted (stuck_calls()). While MAX_STUCK of them run, no new
capture is opened (ensure_capacity raises TooManyStuck, a SourceError: the camera daemon stays
degraded and says why) until one returns. A capture adds at most two (its interrupt, and its read
or release), so at most MAX_STUCK + 1 threads are ever stuck at once.
"""

import threading
import time

from edge.sources.base import SourceError

MAX_STUCK = 4               # abandoned calls still running, beyond which no capture is opened
OPEN_TIMEOUT_S = 10.0       # VideoCapture(...) for one pipeline or URL
FIRST_FRAME_TIMEOUT_S = 5.0  # --codec auto: a wrong depayloader opens and then delivers nothing
RELEASE_TIMEOUT_S = 5.0     # release() of one capture
OPEN_GUARD_S = 60.0         # Source.open() as a whole, for any source (OpenCVSource bounds each attempt)

_lock = threading.Lock()
_stuck = {}                 # id(call) -> its description, while an abandoned call runs


class Stalled(SourceError):
    """A watched call did not return within its deadline (it goes on, abandoned, on its own thread)."""


class TooManyStuck(SourceError):
    """MAX_STUCK abandoned calls are still running: no capture is opened until one of them returns."""


def stuck_calls():
    """Descriptions of the abandoned calls still running, one thread each."""
    with _lock:
        return sorted(_stuck.values())


def ensure_capacity(what):
    """Raise TooManyStuck instead of opening another capture while MAX_STUCK abandoned calls run."""
    stuck = stuck_calls()
    if len(stuck) >= MAX_STUCK:
        raise TooManyStuck("not opening {}: {} calls into the capture library are stuck ({}); waiting for one "
                           "to return (a restart clears them)".format(what, len(stuck), ", ".join(stuck)))


class Call(object):
    """One call run on a worker thread; its caller wait()s with a deadline and abandon()s it on overrun."""

    def __init__(self, fn, what):
        self.fn, self.what = fn, what
        self.value, self.error = None, None
        self.done = threading.Event()
        self.abandoned = False
        self._late = None
        self._lock = threading.Lock()

    def run(self):
        """On the worker thread. An abandoned call runs its late cleanup, then stops being counted."""
        try:
            self.value = self.fn()
        except Exception as exc:  # handed to whoever waits; an abandoned call's error is nobody's
            self.error = exc
        with self._lock:
            self.done.set()
            abandoned, late = self.abandoned, self._late
        if abandoned:
            try:
                if late is not None:
                    late(self)
            except Exception:  # cleanup of a call its owner gave up on: nobody is left to tell
                pass
            finally:
                with _lock:
                    _stuck.pop(id(self), None)

    def wait(self, timeout):
        return self.done.wait(max(0.0, timeout))

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value

    def abandon(self, late=None):
        """Give up on the call: True if it was still running (now counted as stuck until it returns,
        then `late(call)` runs on its thread); False if it returned meanwhile (take its result)."""
        with self._lock:
            if self.done.is_set():
                return False
            self.abandoned, self._late = True, late
            with _lock:
                _stuck[id(self)] = self.what
        return True

    def finish(self, timeout, late=None):
        """The call's result, waiting at most `timeout` seconds; Stalled (after abandoning it) past that."""
        if not self.wait(timeout) and self.abandon(late):
            raise Stalled("{} did not return within {:.1f} s".format(self.what, timeout))
        return self.result()


class Worker(object):
    """A thread that makes one call at a time for an owner that waits with deadlines.

    A worker whose call was abandoned is retired: it takes no more calls, and its thread exits once
    that call returns. close() lets an idle worker's thread exit."""

    def __init__(self, name):
        self.name = name
        self.current = None          # the last call submitted
        self._next = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=name)
        self._thread.daemon = True   # a thread stuck in C must not keep the process from exiting
        self._thread.start()

    def submit(self, fn, what):
        call = Call(fn, "{} {}".format(self.name, what).strip())
        with self._cond:
            if self._closed or (self.current is not None and not self.current.done.is_set()):
                raise SourceError("{} is busy or closed; cannot run {}".format(self.name, what))
            self.current = self._next = call
            self._cond.notify_all()
        return call

    def call(self, fn, timeout, what, late=None):
        """fn()'s result, or Stalled when it does not return within `timeout` seconds."""
        return self.submit(fn, what).finish(timeout, late)

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _loop(self):
        while True:
            with self._cond:
                while self._next is None and not self._closed:
                    self._cond.wait()
                if self._next is None:
                    return
                call, self._next = self._next, None
            call.run()
            if call.abandoned:
                return


def watched(fn, timeout, what, late=None):
    """fn() on a thread of its own, or Stalled after `timeout` seconds (the thread goes on, counted)."""
    worker = Worker(what)
    try:
        return worker.call(fn, timeout, "", late)
    finally:
        worker.close()


def release_watched(release, timeout, what):
    """Call `release` (a capture's release, a source's close) with a deadline: True if it returned in
    time, False if it is still blocked (abandoned and counted; its thread exits when it returns).
    An error it raises is raised here."""
    try:
        watched(release, timeout, what)
    except Stalled:
        return False
    return True


def stop_and_release(call, interrupt, release, timeout, what):
    """Release a capture whose `call` (a read) may still be running in it, never under a running call.

    A running call is first ended by `interrupt` (None: wait for it to end on its own) on a thread of
    its own; both are waited for within `timeout`, then `release` runs within `timeout`. Calls that still
    run are abandoned, and `release` runs on the thread of the last of them to return. Returns True if
    the capture was released in time."""
    running = [call] if call is not None and not call.done.is_set() else []
    if running and interrupt is not None:
        stopper = Worker("{} interrupt".format(what))
        running.append(stopper.submit(interrupt, ""))
        stopper.close()
    deadline = time.time() + timeout
    still = [each for each in running if not each.wait(deadline - time.time())]
    if still:
        _release_when_done(still, release, timeout, what)
        return False
    return release_watched(release, timeout, "{} release".format(what))


def _release_when_done(calls, release, timeout, what):
    """Abandon `calls`; `release` runs on the thread of the last to return (counted as stuck until then)."""
    lock = threading.Lock()
    pending = set(id(call) for call in calls)

    def finished(call):
        with lock:
            pending.discard(id(call))
            return not pending

    for call in calls:
        if not call.abandon(late=lambda done: finished(done) and release()) and finished(call):
            release_watched(release, timeout, "{} release".format(what))  # it returned meanwhile
