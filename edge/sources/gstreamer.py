"""GStreamer pipelines for Jetson cameras and streams, built from validated values only.

appsink drop=true max-buffers=1 sync=false keeps only the newest frame inside GStreamer too, so
OpenCV never hands out a frame that waited in a queue.
"""

from edge.errors import EdgeError
from edge.util.lazy import require
from edge.sources.elements import JETSON

APPSINK = "appsink drop=true max-buffers=1 sync=false"
RTSP_CODECS = ("h264", "h265")
# --capture-backend: auto (GStreamer on a Jetson, OpenCV's FFmpeg elsewhere), gstreamer, ffmpeg.
CAPTURE_BACKENDS = ("auto", "gstreamer", "ffmpeg")
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


def check_location(location, what="RTSP"):
    """`location` (a URI already validated by edge.sources.uri) may go into a pipeline: no character
    that could end the property or add an element."""
    if any(ch in location for ch in " \t\n!\"'`\\"):
        raise EdgeError("refusing {} location with characters that could alter the pipeline: {!r}".format(
            what, location))
    return location


def cover_size(frame, box):
    """(width, height) of `frame` ((width, height)) scaled, aspect kept, just to cover `box` ((width,
    height): the size a bundle's preprocessing resizes to), rounded as edge.bundle.preprocess.resize_plan
    rounds, so the preprocessing finds the frame at its size and resizes nothing; None when the frame
    is no larger than that (never upscale)."""
    if box is None:
        return None
    width, height = frame
    scale = max(float(box[0]) / width, float(box[1]) / height)
    if scale >= 1.0:
        return None
    return max(box[0], int(round(width * scale))), max(box[1], int(round(height * scale)))


def stream_size(width, height, scale_to):
    """The output size for a stream of unknown size: (width, height) with None for a free side.

    Asked sides win (one alone: the other follows the aspect ratio). Otherwise, with `scale_to`,
    the height is capped by the box's larger side and the width follows: a landscape stream (as IP
    cameras are) then covers the box; a smaller stream is never upscaled."""
    if width and height:
        return cover_size((width, height), scale_to) or (width, height)
    if width or height:
        return (width or None, height or None)
    if scale_to is None:
        return None
    return (None, "[16,{}]".format(max(scale_to)))


def csi_pipeline(sensor_id, width=None, height=None, fps=None, flip=None, elements=JETSON, scale_to=None):
    """nvarguscamerasrc -> NVMM -> nvvidconv (flip, scale) -> BGRx -> BGR appsink; `elements` picks the
    stand-ins (edge.sources.elements); scale_to: (width, height) box the frame is scaled to cover."""
    width, height, fps, flip = int(width or 1280), int(height or 720), int(fps or 30), int(flip or 0)
    turned = (height, width) if flip in (1, 3, 5, 7) else (width, height)  # a quarter turn swaps the sides
    source, nvmm = elements.camera(sensor_id, width, height, fps)
    return " ! ".join((source, elements.to_bgr(nvmm, flip=flip, size=cover_size(turned, scale_to)), APPSINK))


def rtsp_pipeline(location, latency=None, codec="h264", elements=JETSON, width=None, height=None, fps=None,
                  scale_to=None):
    """rtspsrc -> depay -> parse -> nvv4l2decoder (hardware, at full clocks) -> nvvidconv -> BGR appsink.
    `location` must be a URI already validated by edge.sources.uri (no spaces, quotes or '!')."""
    if codec not in RTSP_CODECS:
        raise EdgeError("RTSP codec must be h264 or h265, got {!r}".format(codec))
    check_location(location)
    decoder, nvmm = elements.decoder(codec)
    return "rtspsrc location={loc} latency={lat} ! rtp{c}depay ! {c}parse ! {dec} ! {bgr} ! {sink}".format(
        loc=location, lat=int(200 if latency is None else latency), c=codec, dec=decoder,
        bgr=elements.to_bgr(nvmm, size=stream_size(width, height, scale_to), fps=fps), sink=APPSINK)


def mjpeg_pipeline(location, elements=JETSON, width=None, height=None, fps=None, scale_to=None):
    """souphttpsrc -> multipartdemux -> jpegdec -> (rate, scale) -> BGR appsink: an HTTP MJPEG stream."""
    check_location(location, "HTTP")
    return "souphttpsrc location={loc} is-live=true do-timestamp=true ! multipartdemux ! jpegdec ! {bgr} ! {sink}" \
        .format(loc=location, bgr=elements.to_bgr(False, size=stream_size(width, height, scale_to), fps=fps),
                sink=APPSINK)


def gstreamer_attempts(spec, elements):
    """[(codec or None, pipeline)] to try in order for a validated SourceSpec (csi, rtsp, http)."""
    options = spec.options
    size = dict(width=options["width"], height=options["height"], fps=options["fps"], scale_to=options["scale_to"])
    if spec.kind == "csi":
        return [(None, csi_pipeline(spec.target, options["width"], options["height"], options["fps"],
                                    options["flip"], elements, options["scale_to"]))]
    if spec.kind == "http":
        return [(None, mjpeg_pipeline(spec.target, elements, **size))]
    # The depayloader must match the stream: with auto, h264 first, then h265.
    codecs = RTSP_CODECS if options["codec"] == "auto" else (options["codec"],)
    return [(codec, rtsp_pipeline(spec.target, options["latency"], codec, elements, **size)) for codec in codecs]
