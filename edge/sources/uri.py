"""Source URIs: parsed and validated before anything is opened.

Nothing from a URI is ever pasted into a shell or a GStreamer pipeline unchecked: hosts, paths
and numbers are validated here, and gstreamer.py builds pipelines from these values only.
"""

import os
import re

from edge.errors import EdgeError
from edge.options.ranges import check
from edge.util.image_folders import IMAGE_EXTENSIONS
from edge.sources.gstreamer import CAPTURE_BACKENDS, RTSP_CODECS

USAGE = """camera sources (--source):
  csi://0                      CSI camera via nvarguscamerasrc (Jetson; --width --height --fps --flip;
                               where it is missing, a videotestsrc test pattern stands in)
  v4l2:///dev/video0, /dev/video0, 0
                               USB (V4L2) camera by device path or index
  rtsp://[user:pass@]host[:port]/path
                               RTSP stream (hardware decode on a Jetson, FFmpeg elsewhere;
                               --codec h264|h265, default auto: h264, then h265)
  http://host[:port]/path      HTTP MJPEG stream (e.g. an IP camera, ffmpeg -f mpjpeg)
  --capture-backend auto|gstreamer|ffmpeg
                               how RTSP and HTTP streams are read (auto: GStreamer on a Jetson,
                               OpenCV's FFmpeg elsewhere; gstreamer needs OpenCV built with it)
  file:///path/video.mp4, video.mp4
                               video file (--loop to repeat, --realtime to pace at its fps)
  folder:///path/images, images/
                               image folder, sorted (--fps to pace it like a camera)
"""

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".mjpeg", ".mjpg", ".h264", ".h265", ".ts", ".m4v")
# Network locations: host (name, IPv4 or [IPv6]), optional port, a path of safe characters.
_NETWORK = re.compile(r"^(?P<scheme>rtsp|rtsps|http|https)://"
                      r"(?:(?P<user>[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::(?P<password>[^@/\s!\"'`\\]*))?@)?"
                      r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
                      r"(?P<path>/[A-Za-z0-9._~%/?=&+,;:@-]*)?$")


class SourceSpec(object):
    """kind: csi | v4l2 | rtsp | http | file | folder | image; target: what to open; options validated."""

    def __init__(self, kind, target, uri, live, options):
        self.kind, self.target, self.uri, self.live, self.options = kind, target, uri, live, options

    def __repr__(self):
        return "SourceSpec({}, {!r})".format(self.kind, self.target)


def _int_option(options, key):
    """An integer option inside its edge.options.ranges row (the flags' and YAML's limits too)."""
    value = options.get(key)
    return None if value is None else int(check(key, value))


def _choice_option(options, key, choices):
    """One of `choices` (the first is the default)."""
    value = options.get(key)
    if value is None:
        return choices[0]
    if str(value).lower() not in choices:
        raise EdgeError("--{} must be one of {}, got {!r}".format(key.replace("_", "-"), ", ".join(choices), value))
    return str(value).lower()


def _size_option(options, key):
    """None, or (width, height): the box a GStreamer pipeline scales frames to cover (aspect kept)."""
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise EdgeError("{} must be (width, height), got {!r}".format(key, value))
    return tuple(int(check(side_name, side, key)) for side_name, side in zip(("width", "height"), value))


def _options(raw):
    return {
        "width": _int_option(raw, "width"),
        "height": _int_option(raw, "height"),
        "fps": _int_option(raw, "fps"),
        "flip": _int_option(raw, "flip"),
        "latency": _int_option(raw, "latency"),
        "codec": _choice_option(raw, "codec", ("auto",) + RTSP_CODECS),
        "capture_backend": _choice_option(raw, "capture_backend", CAPTURE_BACKENDS),
        "scale_to": _size_option(raw, "scale_to"),
        "loop": bool(raw.get("loop")),
        "realtime": raw.get("realtime"),
    }


def option_names():
    """The options parse_source reads (each one a flag of the commands that open sources)."""
    return tuple(sorted(_options({})))


def parse_source(uri, **raw_options):
    """Validate `uri` and options into a SourceSpec; one clear EdgeError if anything is off."""
    if not isinstance(uri, str) or not uri.strip():
        raise EdgeError("no source given\n" + USAGE)
    uri = uri.strip()
    options = _options(raw_options)
    bad = "{!r} is not a source this toolkit reads; accepted forms:\n{}".format(uri, USAGE)
    if uri.startswith("csi://"):
        sensor = uri[len("csi://"):]
        if not sensor.isdigit() or int(sensor) > 7:
            raise EdgeError("csi:// takes a sensor id 0-7, got {!r}".format(uri))
        return SourceSpec("csi", int(sensor), uri, True, options)
    if uri.startswith("v4l2://"):
        device = uri[len("v4l2://"):]
        if not re.match(r"^/dev/video[0-9]{1,3}$", device):
            raise EdgeError("v4l2:// takes a device like v4l2:///dev/video0, got {!r}".format(uri))
        return SourceSpec("v4l2", device, uri, True, options)
    if re.match(r"^/dev/video[0-9]{1,3}$", uri):
        return SourceSpec("v4l2", uri, uri, True, options)
    if uri.isdigit():
        return SourceSpec("v4l2", int(uri), uri, True, options)
    if re.match(r"^[a-z][a-z0-9+.-]*://", uri) and not uri.startswith(("file://", "folder://")):
        match = _NETWORK.match(uri)
        if not match:
            raise EdgeError(bad)
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise EdgeError("port {} in {!r} is out of range".format(port, uri))
        kind = "rtsp" if match.group("scheme").startswith("rtsp") else "http"
        return SourceSpec(kind, uri, uri, True, options)
    path = uri
    for prefix in ("file://", "folder://"):
        if uri.startswith(prefix):
            path = uri[len(prefix):]
    if os.path.isdir(path):
        return SourceSpec("folder", path, uri, False, options)
    if os.path.isfile(path):
        lower = path.lower()
        if lower.endswith(IMAGE_EXTENSIONS):
            return SourceSpec("image", path, uri, False, options)
        if lower.endswith(VIDEO_EXTENSIONS):
            return SourceSpec("file", path, uri, False, options)
        raise EdgeError("{} is neither a video ({}) nor an image file".format(path, ", ".join(VIDEO_EXTENSIONS[:5])))
    if uri.startswith(("file://", "folder://")) or "/" in uri or "." in uri:
        raise EdgeError("source {} not found".format(path))
    raise EdgeError(bad)
