"""A Source over cv2.VideoCapture: video files, HTTP MJPEG, RTSP, V4L2 cameras, GStreamer pipelines."""

import time

from edge.errors import EdgeError
from edge.lazy import require
from edge.sources.base import Frame, Source, SourceError
from edge.sources.gstreamer import RTSP_CODECS, csi_pipeline, opencv_has_gstreamer, rtsp_pipeline

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

    def _open_args(self, cv2):
        """[(codec or None, target, api preference, params)] for VideoCapture, to try in order."""
        spec, options = self.spec, self.spec.options
        timeouts = []
        if hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):  # OpenCV >= 4.5.2; JetPack 4.6 has 4.1.1
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        READ_TIMEOUT_MS]
        if spec.kind == "csi":
            if not opencv_has_gstreamer():
                raise EdgeError("csi:// needs OpenCV with GStreamer (JetPack's python3-opencv); this OpenCV "
                                "has none (a pip opencv-python?)")
            return [(None, csi_pipeline(spec.target, options["width"], options["height"], options["fps"],
                                        options["flip"]), cv2.CAP_GSTREAMER, [])]
        if spec.kind == "rtsp" and opencv_has_gstreamer() and _is_jetson():
            # The depayloader must match the stream: with auto, h264 first, then h265.
            codecs = RTSP_CODECS if options["codec"] == "auto" else (options["codec"],)
            return [(codec, rtsp_pipeline(spec.target, options["latency"], codec), cv2.CAP_GSTREAMER, [])
                    for codec in codecs]
        if spec.kind in ("rtsp", "http", "file"):
            return [(None, spec.target, cv2.CAP_FFMPEG, timeouts)]
        return [(None, spec.target, getattr(cv2, "CAP_V4L2", cv2.CAP_ANY), [])]

    def open(self):
        cv2 = require("cv2", "camera sources")
        attempts = self._open_args(cv2)
        self.pending = None
        for codec, target, api, params in attempts:
            capture = cv2.VideoCapture(target, api, params) if params else cv2.VideoCapture(target, api)
            # Guessing the codec: a wrong depayloader may open and then deliver nothing.
            if capture.isOpened() and (len(attempts) == 1 or self._first_frame(capture)):
                break
            capture.release()
        else:
            tried = ", ".join(codec for codec, _, _, _ in attempts if codec)
            raise SourceError("cannot open {}{}".format(self.uri, " (tried {})".format(tried) if tried else ""))
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
        self.capture = capture
        self.ended = False
        self.next_due = None
        return self

    def _first_frame(self, capture):
        """Read one frame now and keep it for read(); False when none comes."""
        ok, image = capture.read()
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

    def close(self):
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        self.pending = None


def _is_jetson():
    import os
    return os.path.exists("/etc/nv_tegra_release")
