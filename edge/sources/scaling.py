"""Frames scaled in the capture pipeline to what the model uses, and to a viewable size while the preview
is watched.

A bundle's preprocessing resizes every frame to cover its box (edge.bundle.preprocess.resize_plan) before
cropping. A GStreamer pipeline can do that scaling before the frame is converted to BGR on the CPU
(nvvidconv inside NVMM on a Jetson; videoscale before videoconvert elsewhere): the source option
`scale_to=(width, height)` asks for it, and the preprocessing then finds a frame already at its size.

The MJPEG preview (/stream.mjpg) would show that small frame. One cv2.VideoCapture delivers one
appsink, so there is no second, larger branch to tee off. The simplest correct design: while a
viewer is connected, capture at the box that covers both the model's box and PREVIEW_BOX, and go
back to the model's box once the last viewer has been gone LINGER_S (a reload does not flap). A
change of size reopens the capture (RescalingSource), a second or so without frames, which the
grabber absorbs; the model's results do not change, since the preprocessing resizes either frame
to the same input.
"""

import threading
import time

from edge.sources.base import Source

PREVIEW_BOX = (640, 360)   # width, height the preview covers while watched
LINGER_S = 10.0            # seconds after the last viewer leaves before the capture shrinks again


def model_box(spec):
    """(width, height) that a PreprocessSpec resizes a frame to cover (its crop box before cropping)."""
    height, width = spec.resized_size()
    return width, height


def demand_for(bundle):
    """The capture scaling `bundle` allows: a ScaleDemand at a classifier's box; None where its task reports
    results in pixels of the camera's frame (a regression bundle's points: edge.tasks)."""
    if not bundle.task.scales_capture:
        return None
    return ScaleDemand(model_box(bundle.spec))


class ScaleDemand(object):
    """The capture box now: the model's, or with the preview's while a viewer watches. Thread-safe;
    the HTTP sink calls joined()/left() per viewer, a RescalingSource calls it for the box."""

    def __init__(self, box, preview_box=PREVIEW_BOX, linger_s=LINGER_S, clock=time.time):
        self.box, self.linger_s, self.clock = tuple(box), linger_s, clock
        self.preview_box = (max(box[0], preview_box[0]), max(box[1], preview_box[1]))
        self.viewers = 0
        self.left_at = None
        self._lock = threading.Lock()

    def joined(self):
        with self._lock:
            self.viewers += 1

    def left(self):
        with self._lock:
            self.viewers -= 1
            self.left_at = self.clock()

    def __call__(self):
        with self._lock:
            watched = self.viewers > 0 or (self.left_at is not None and self.clock() - self.left_at < self.linger_s)
        return self.preview_box if watched else self.box


class RescalingSource(Source):
    """A source reopened at a new scale_to whenever `demand()` changes; `make(box)` builds the inner
    source (open_source with scale_to=box). Only a source whose pipeline scales is ever reopened."""

    def __init__(self, make, demand):
        super(RescalingSource, self).__init__()
        self.make, self.demand = make, demand
        self.box = demand()
        self.inner = make(self.box)   # validates the URI and options now
        self.uri, self.live = self.inner.uri, self.inner.live
        self.index = 0
        self.reopens = 0

    @property
    def spec(self):
        return getattr(self.inner, "spec", None)

    def open(self):
        self.inner.open()
        return self

    def interrupt(self):
        """From another thread: end a read blocked in the inner source (edge.sources.grabber's watchdog)."""
        interrupt = getattr(self.inner, "interrupt", None)
        if interrupt is not None:
            interrupt()

    def read(self, timeout=1.0):
        box = self.demand()
        if box != self.box and getattr(self.inner, "scales", False):
            self.inner.close()
            self.box, self.inner = box, self.make(box)
            self.inner.open()
            self.reopens += 1
        frame = self.inner.read(timeout)
        self.ended = self.inner.ended
        if frame is not None:
            frame.index, self.index = self.index, self.index + 1
        return frame

    def close(self):
        self.inner.close()
