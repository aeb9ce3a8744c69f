"""GStreamer pipelines for Jetson cameras and streams, built from validated values only.

appsink drop=true max-buffers=1 sync=false keeps only the newest frame inside GStreamer too, so
OpenCV never hands out a frame that waited in a queue.
"""

from edge.errors import EdgeError
from edge.lazy import require

APPSINK = "appsink drop=true max-buffers=1 sync=false"
RTSP_CODECS = ("h264", "h265")
# What OpenCV 3.x lists under its GStreamer line; appsink lives in app.
GSTREAMER_PARTS = ("base", "video", "app")


def opencv_has_gstreamer():
    cv2 = require("cv2", "camera sources")
    return gstreamer_in_build_information(cv2.getBuildInformation())


def gstreamer_in_build_information(text):
    """Whether cv2.getBuildInformation() `text` says GStreamer (with appsink) is built in.

    OpenCV 4.x: `GStreamer:   YES (1.14.5)` or `NO`. OpenCV 3.x: `GStreamer:` with nothing after
    it when built in, then one more indented line per library (`base:   YES (ver 1.14.5)`, ...)."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        key, _, value = line.partition(":")
        if key.strip() != "GStreamer":
            continue
        if value.strip():
            return value.strip().upper().startswith("YES")
        indent, found = len(key) - len(key.lstrip()), {}
        for part in lines[number + 1:]:
            name, _, state = part.partition(":")
            if len(name) - len(name.lstrip()) <= indent:
                break
            found[name.strip()] = state.strip().upper().startswith("YES")
        return all(found.get(name) for name in GSTREAMER_PARTS)
    return False


def csi_pipeline(sensor_id, width=None, height=None, fps=None, flip=None):
    """nvarguscamerasrc -> NVMM -> nvvidconv (flip) -> BGRx -> BGR appsink."""
    width, height, fps, flip = int(width or 1280), int(height or 720), int(fps or 30), int(flip or 0)
    return ("nvarguscamerasrc sensor-id={sensor} ! "
            "video/x-raw(memory:NVMM),width={w},height={h},framerate={fps}/1,format=NV12 ! "
            "nvvidconv flip-method={flip} ! video/x-raw,format=BGRx ! videoconvert ! "
            "video/x-raw,format=BGR ! {sink}").format(sensor=int(sensor_id), w=width, h=height, fps=fps,
                                                       flip=flip, sink=APPSINK)


def rtsp_pipeline(location, latency=None, codec="h264"):
    """rtspsrc -> depay -> parse -> nvv4l2decoder (hardware, at full clocks) -> BGR appsink.
    `location` must be a URI already validated by edge.sources.uri (no spaces, quotes or '!')."""
    if codec not in RTSP_CODECS:
        raise EdgeError("RTSP codec must be h264 or h265, got {!r}".format(codec))
    if any(ch in location for ch in " \t\n!\"'`\\"):
        raise EdgeError("refusing RTSP location with characters that could alter the pipeline: {!r}".format(location))
    return ("rtspsrc location={loc} latency={lat} ! rtp{c}depay ! {c}parse ! "
            "nvv4l2decoder enable-max-performance=1 ! nvvidconv ! "
            "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! {sink}").format(
                loc=location, lat=int(200 if latency is None else latency), c=codec, sink=APPSINK)
