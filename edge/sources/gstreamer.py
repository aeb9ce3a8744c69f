"""GStreamer pipelines for Jetson cameras and streams, built from validated values only.

appsink drop=true max-buffers=1 sync=false keeps only the newest frame inside GStreamer too, so
OpenCV never hands out a frame that waited in a queue.
"""

from edge.errors import EdgeError
from edge.lazy import require

APPSINK = "appsink drop=true max-buffers=1 sync=false"


def opencv_has_gstreamer():
    cv2 = require("cv2", "camera sources")
    for line in cv2.getBuildInformation().splitlines():
        if "GStreamer" in line:
            return "YES" in line.upper()
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
    """rtspsrc -> depay -> parse -> nvv4l2decoder (hardware) -> BGR appsink. `location` must be
    a URI already validated by edge.sources.uri (no spaces, quotes or '!')."""
    if codec not in ("h264", "h265"):
        raise EdgeError("RTSP codec must be h264 or h265, got {!r}".format(codec))
    if any(ch in location for ch in " \t\n!\"'`\\"):
        raise EdgeError("refusing RTSP location with characters that could alter the pipeline: {!r}".format(location))
    return ("rtspsrc location={loc} latency={lat} ! rtp{c}depay ! {c}parse ! nvv4l2decoder ! nvvidconv ! "
            "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! {sink}").format(
                loc=location, lat=int(200 if latency is None else latency), c=codec, sink=APPSINK)
