"""The capture options, declared once for edge-camera, edge-collect, edge-bench and edge-doctor (URIs:
edge.sources.uri.USAGE); their limits are rows of edge.options.ranges."""

from edge.options.table import Option, add_flags

SOURCE_OPTIONS = (
    Option("width", int, help="capture width (CSI, V4L2; streams read through GStreamer are scaled)"),
    Option("height", int, help="capture height (CSI, V4L2; streams through GStreamer are scaled)"),
    Option("fps", int, help="capture rate (CSI, V4L2; at most this for streams through GStreamer); pacing for "
                            "image folders and video files"),
    Option("flip", int, help="CSI nvvidconv flip-method"),
    Option("codec", str, "auto", what="auto, h264 or h265",
           help="RTSP codec through GStreamer: auto (h264, then h265), h264 or h265"),
    Option("capture_backend", str, "auto", what="auto, gstreamer or ffmpeg",
           help="how RTSP and HTTP streams are read: auto (GStreamer on a Jetson, OpenCV's FFmpeg "
                "elsewhere), gstreamer or ffmpeg; CSI is always GStreamer"),
)
# The numbers these flags take, checked against edge.options.ranges.
SOURCE_NUMBERS = tuple(row.name for row in SOURCE_OPTIONS if row.kind is int)


def add_source_arguments(parser, required=False):
    """The source group: --source and how to capture it; the command adds its own flags to the group."""
    group = parser.add_argument_group("source")
    group.add_argument("--source", required=required, help="camera/stream/file URI (the list below)")
    return add_flags(group, SOURCE_OPTIONS)


def source_options(values):
    """The open_source keywords among `values` (a dict of resolved options or vars(args))."""
    return dict((row.name, values[row.name]) for row in SOURCE_OPTIONS)
