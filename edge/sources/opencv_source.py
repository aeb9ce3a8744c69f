"""A Source over cv2.VideoCapture: video files, HTTP MJPEG, RTSP, V4L2 cameras, GStreamer pipelines."""

import time

from edge.errors import EdgeError
from edge.util.lazy import require
from edge.sources.base import Frame, Source, SourceError
from edge.sources.elements import registry_elements
from edge.sources.gstreamer import gstreamer_attempts, opencv_has_gstreamer
from edge.sources.rtsp_probe import check_rtsp_answers
from edge.sources.watchdog import (FIRST_FRAME_TIMEOUT_S, OPEN_TIMEOUT_S, RELEASE_TIMEOUT_S, Stalled, Worker,
                                   ensure_capacity, stop_and_release, watched)

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 3000


class OpenCVSource(Source):
    def __init__(self, spec):
        super(OpenCVSource, self).__init__()
        self.spec = spec
        self.uri = spec.uri
        self.live = spec.live
        self.capture = None
        self.index = 0
        self.file_fps = None
        self.next_due = None
        self.pending = None      # a frame read while choosing the codec, handed out by the next read()
        self.stalls = []         # open() attempts that did not return in time (edge.sources.watchdog)
        self.api = None          # the capture's backend (cv2.CAP_GSTREAMER, ...)
        self._probe = None       # the codec probe's read, which may still be running in its capture
        self.scales = False      # whether the pipeline scales frames to options["scale_to"] (GStreamer)

    def _open_args(self, cv2):
        """[(codec or None, target, api preference, params)] for VideoCapture, to try in order."""
        spec = self.spec
        timeouts = []
        if hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):  # OpenCV >= 4.5.2; JetPack 4.6 has 4.1.1
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        READ_TIMEOUT_MS]
        self.scales = False
        if self._use_gstreamer():
            attempts = gstreamer_attempts(spec, registry_elements())
            self.scales = spec.options["scale_to"] is not None
            return [(codec, pipeline, cv2.CAP_GSTREAMER, []) for codec, pipeline in attempts]
        if spec.kind in ("rtsp", "http", "file"):
            return [(None, spec.target, cv2.CAP_FFMPEG, timeouts)]
        return [(None, spec.target, getattr(cv2, "CAP_V4L2", cv2.CAP_ANY), [])]

    def _use_gstreamer(self):
        """Whether this source is read through a GStreamer pipeline (--capture-backend; CSI always is)."""
        kind, backend = self.spec.kind, self.spec.options["capture_backend"]
        if kind not in ("csi", "rtsp", "http"):
            return False
        if kind == "csi" and backend == "ffmpeg":
            raise EdgeError("csi:// is read through GStreamer only: drop --capture-backend ffmpeg")
        if backend == "ffmpeg" or (backend == "auto" and kind != "csi" and not _is_jetson()):
            return False
        if opencv_has_gstreamer():
            return True
        if kind == "csi":
            raise EdgeError("csi:// needs OpenCV with GStreamer (JetPack's python3-opencv); this OpenCV "
                            "has none (a pip opencv-python?)")
        if backend == "gstreamer":
            raise EdgeError("--capture-backend gstreamer needs OpenCV built with GStreamer (JetPack's or Debian's "
                            "python3-opencv); this OpenCV has none (a pip opencv-python?): use --capture-backend "
                            "ffmpeg")
        return False

    def open(self):
        cv2 = require("cv2", "camera sources")
        attempts = self._open_args(cv2)
        self.pending, self.stalls = None, []
        if self.spec.kind == "rtsp" and str(self.spec.target).startswith("rtsp://") and \
                attempts[0][2] == cv2.CAP_GSTREAMER:
            check_rtsp_answers(self.spec.target)   # a failed GStreamer open can leak: see rtsp_probe
        for codec, target, api, params in attempts:
            capture, self._probe = self._construct(cv2, target, api, params), None
            if capture is None:
                continue
            # Guessing the codec: a wrong depayloader may open and then deliver nothing, or hang.
            if capture.isOpened() and (len(attempts) == 1 or self._first_frame(capture)):
                break
            stop_and_release(self._probe, _interrupter(cv2, capture, api), capture.release, RELEASE_TIMEOUT_S,
                             "capture-probe {}".format(self.uri))
        else:
            tried = ", ".join(codec for codec, _, _, _ in attempts if codec)
            raise SourceError("cannot open {}{}{}".format(self.uri, " (tried {})".format(tried) if tried else "",
                                                          "".join(": " + note for note in self.stalls[-1:])))
        if api != cv2.CAP_GSTREAMER:
            # OpenCV's GStreamer backend stops and restarts the pipeline around any set(), which an RTSP
            # pipeline does not survive (measured here, OpenCV 4.6); its appsink keeps one buffer anyway.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.spec.kind == "v4l2":
            options = self.spec.options
            # OpenCV's V4L2 backend takes YUYV before MJPEG: too few frames per second at 720p on USB.
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, options["width"]),
                                (cv2.CAP_PROP_FRAME_HEIGHT, options["height"]), (cv2.CAP_PROP_FPS, options["fps"])):
                if value:
                    capture.set(prop, value)
        if self.spec.kind == "file":
            fps = capture.get(cv2.CAP_PROP_FPS)
            # --fps replaces the file's own rate (e.g. a fast synthetic camera for benchmarks).
            self.file_fps = self.spec.options["fps"] or (fps if fps and 0 < fps < 1000 else 30.0)
        self.capture, self.api = capture, api
        self.ended = False
        self.next_due = None
        return self

    def _construct(self, cv2, target, api, params):
        """cv2.VideoCapture(...) within OPEN_TIMEOUT_S, or None: it may not return on a server that accepts
        and then says nothing (opencv/opencv#22973); one that opens later is released then."""
        ensure_capacity(self.uri)
        args = (target, api, params) if params else (target, api)
        try:
            return watched(lambda: cv2.VideoCapture(*args), OPEN_TIMEOUT_S, "capture-open {}".format(self.uri),
                           late=lambda call: call.value is not None and call.value.release())
        except Stalled as exc:
            self.stalls.append(str(exc))
            return None

    def _first_frame(self, capture):
        """Read one frame now and keep it for read(); False when none comes within FIRST_FRAME_TIMEOUT_S
        (the read, self._probe, may never return: the caller interrupts it before releasing)."""
        worker = Worker("capture-probe")
        self._probe = worker.submit(capture.read, "first frame of {}".format(self.uri))
        worker.close()
        if not self._probe.wait(FIRST_FRAME_TIMEOUT_S):
            self.stalls.append("no frame within {:.0f} s".format(FIRST_FRAME_TIMEOUT_S))
            return False
        ok, image = self._probe.result()
        if ok and image is not None:
            self.pending = image
        return self.pending is not None

    def read(self, timeout=1.0):
        if self.capture is None:
            raise SourceError("{} is not open".format(self.uri))
        if self.spec.kind == "file" and (self.spec.options.get("realtime") or self.spec.options.get("fps")):
            self._pace()
        if self.pending is not None:
            ok, image, self.pending = True, self.pending, None
        else:
            ok, image = self.capture.read()
        if not ok or image is None:
            if self.spec.kind == "file":
                if self.spec.options.get("loop"):
                    self._rewind()
                    ok, image = self.capture.read()
                if not ok or image is None:
                    self.ended = True
                    return None
            else:
                # A live stream that stops delivering is lost: the grabber reconnects.
                raise SourceError("{} stopped delivering frames".format(self.uri))
        frame = Frame(image, self.index)
        self.index += 1
        return frame

    def _pace(self):
        """A file played like a camera: one frame per 1/fps seconds, whoever is reading."""
        now = time.time()
        if self.next_due is None:
            self.next_due = now
        if self.next_due > now:
            time.sleep(self.next_due - now)
        self.next_due = max(self.next_due + 1.0 / self.file_fps, time.time() - 1.0)

    def _rewind(self):
        cv2 = require("cv2", "camera sources")
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def interrupt(self):
        """From another thread: make a read() blocked in the capture return soon, freeing nothing. close()
        must not run under a read (it frees what the read uses): see edge.sources.watchdog."""
        cv2 = require("cv2", "camera sources")
        stop = _interrupter(cv2, self.capture, self.api)
        if stop is not None:
            stop()

    def close(self):
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        self.pending = None


def _interrupter(cv2, capture, api):
    """A call that ends a read blocked in `capture` without freeing anything; None where reads end on their
    own (FFmpeg: its read timeout, 3 s as set here where OpenCV has CAP_PROP_READ_TIMEOUT_MSEC, measured
    after a camera froze, 30 s built in before OpenCV 4.5.2; V4L2: select() with a timeout).
    OpenCV's GStreamer capture stops its pipeline at the start of every set(), which ends a pull blocked
    in appsink; for the queue length (appsink max-buffers, 1 as in our pipelines) it returns without
    starting the pipeline again (cap_gstreamer.cpp setProperty, OpenCV 4.1 to 4.6)."""
    if capture is None or api != cv2.CAP_GSTREAMER:
        return None
    queue_length = getattr(cv2, "CAP_PROP_GSTREAMER_QUEUE_LENGTH", 200)
    return lambda: capture.set(queue_length, 1)


def _is_jetson():
    import os
    return os.path.exists("/etc/nv_tegra_release")
