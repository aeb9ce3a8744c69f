"""cv2.VideoCapture over a camera that can hang, as OpenCV's GStreamer backend is reported to:

- read() pulls from appsink with a blocking call and no timeout (OpenCV 4.1.1, JetPack 4.6): while the
  stream is silent it does not return, for as long as the pipeline plays (opencv/opencv#22868, #24393;
  ros-drivers/gscam#108 sees the same gst_app_sink_pull_sample never return). Measured here with OpenCV
  4.6 and a gst-rtsp-server stopped by SIGSTOP: still blocked after 25 s.
- set(propId, value) stops the pipeline first (cap_gstreamer.cpp setProperty: "If the pipeline is
  running, it is briefly stopped and started again"); appsink is flushed and a blocked read() returns
  (False, None) (measured: within 0.1 s). For CAP_PROP_GSTREAMER_QUEUE_LENGTH it returns without
  starting the pipeline again; the next read() starts it (grabFrame: "start the pipeline if it was not
  in playing state yet").
- release() frees the capture: run while a read() (or set()) is inside it, it frees what that call uses.
  Measured with OpenCV 4.6: a segfault within ten such releases. The fake records it in
  camera.violations (a test that sees one fails) and lets the read return.
- VideoCapture(...) on a server that accepts and then says nothing does not return either (#22973;
  measured: 20 s, rtspsrc's TCP timeout, on a server stopped by SIGSTOP).
- release() and set() may block as well (TENSORRT_API.md's last section; gscam#32: a join that never ends).
- A capture holds file descriptors (its sockets) until release() returns.

The test drives the camera: camera.silent() / camera.deliver(), camera.hang_opens / hang_releases,
camera.finish_releases(), and camera.let_go() (teardown) returns every blocked call. Python's cv2 releases the GIL in every
call, so the fake's blocking calls wait on threading primitives, never while holding the GIL in C.
"""

import socket
import threading
import time

import numpy as np

QUEUE_LENGTH = 200   # cv2.CAP_PROP_GSTREAMER_QUEUE_LENGTH


class FakeCamera(object):
    """The far end: a stream that delivers frames at `fps` or goes silent, and switches that make calls hang."""

    def __init__(self, fps=50.0, shape=(8, 8, 3)):
        self.fps, self.shape = fps, shape
        self.hang_opens = False       # VideoCapture(...) blocks until the camera delivers again (or let_go)
        self.hang_releases = False    # release() blocks until finish_releases() (or let_go)
        self.hang_stops = False       # set() (stopping the pipeline) blocks until finish_releases() (or let_go)
        self.violations = []          # calls the real library would crash on
        self.release_gate = threading.Event()
        self.captures = []            # every FakeVideoCapture made, in order
        self.decodes = lambda target: True   # False: opens, then delivers nothing (a wrong depayloader)
        self._cond = threading.Condition()
        self._delivering = True
        self._gone = False            # let_go(): nothing blocks any more

    def silent(self):
        """The camera drops off the network: reads block, opens hang if hang_opens."""
        with self._cond:
            self._delivering = False
            self._cond.notify_all()

    def deliver(self):
        with self._cond:
            self._delivering = True
            self._cond.notify_all()

    def finish_releases(self):
        """Blocked release() calls return (and the reads they unblock)."""
        with self._cond:
            self.release_gate.set()
            self._cond.notify_all()

    def let_go(self):
        """Teardown: every blocked call returns, so no thread outlives the test."""
        with self._cond:
            self._gone = True
            self.release_gate.set()
            self._cond.notify_all()

    def blocked_calls(self):
        return sum(capture.blocked for capture in self.captures)

    def wait_for(self, predicate, timeout=None):
        with self._cond:
            return self._cond.wait_for(lambda: predicate() or self._gone, timeout)

    def notify(self):
        with self._cond:
            self._cond.notify_all()

    @property
    def delivering(self):
        return self._delivering

    def capture_class(self):
        camera = self

        class Capture(FakeVideoCapture):
            pass
        Capture.camera = camera
        return Capture


class FakeVideoCapture(object):
    """cv2.VideoCapture(filename, apiPreference[, params]) as documented: isOpened(), read() -> (retval,
    image), grab(), set(propId, value) -> bool, get(propId) -> float, release(). Bound to a FakeCamera by
    FakeCamera.capture_class()."""

    camera = None

    def __init__(self, target, api_preference, params=None):
        assert isinstance(target, (str, int)) and isinstance(api_preference, int)
        assert params is None or (isinstance(params, list) and len(params) % 2 == 0)
        camera = self.camera
        self.target, self.blocked, self.released = target, 0, False
        self.reading, self.stopping, self._stops = 0, 0, 0   # calls inside the capture; pipeline stops so far
        self._sockets = socket.socketpair()   # the stream's connection: two real file descriptors
        camera.captures.append(self)
        if camera.hang_opens and not camera.delivering:
            self._block(lambda: camera.delivering)
        self._opened = camera.delivering

    def _block(self, until):
        camera = self.camera
        self.blocked += 1
        camera.notify()
        try:
            camera.wait_for(until)
        finally:
            self.blocked -= 1
            camera.notify()

    def isOpened(self):
        return self._opened and not self.released

    def read(self):
        camera = self.camera
        if not self.isOpened():
            return False, None
        self.reading += 1
        try:
            stops = self._stops
            time.sleep(1.0 / camera.fps)
            if not self._flowing():
                # appsink's pull has no timeout: only a frame or the pipeline stopping ends it.
                self._block(lambda: self._flowing() or self._stops != stops or self.released)
            if self.released or camera._gone or self._stops != stops or not self._flowing():
                return False, None
            return True, np.zeros(camera.shape, np.uint8)
        finally:
            self.reading -= 1

    def _flowing(self):
        return self.camera.delivering and self.camera.decodes(self.target)

    def grab(self):
        return self.read()[0]

    def set(self, prop, value):
        assert isinstance(prop, int)
        camera = self.camera
        self.stopping += 1
        try:
            if camera.hang_stops:
                self._block(lambda: camera.release_gate.is_set())
        finally:
            self.stopping -= 1
        self._stops += 1      # the pipeline stops: a pull blocked in appsink returns no sample
        camera.notify()
        return prop == QUEUE_LENGTH

    def get(self, prop):
        assert isinstance(prop, int)
        return 0.0

    def release(self):
        camera = self.camera
        if self.reading or self.stopping:
            camera.violations.append("release() of {} while {} ran in it".format(
                self.target, "read()" if self.reading else "set()"))
        if camera.hang_releases:
            self._block(lambda: camera.release_gate.is_set())
        if not self.released:
            self.released = True
            for sock in self._sockets:
                sock.close()
        camera.notify()   # a read blocked on appsink returns now (the pipeline went to NULL)
