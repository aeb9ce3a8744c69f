"""The capture options, declared once for edge-camera and edge-collect (URIs: edge.sources.uri.USAGE)."""

# The numbers these flags take, checked against edge.options.ranges.
SOURCE_NUMBERS = ("width", "height", "fps", "flip")


def add_source_arguments(parser, required=False):
    """The source group: --source and how to capture it; the command adds its own flags to the group."""
    group = parser.add_argument_group("source")
    group.add_argument("--source", required=required, help="camera/stream/file URI (the list below)")
    group.add_argument("--width", type=int, help="capture width (CSI, V4L2; streams read through GStreamer are scaled)")
    group.add_argument("--height", type=int, help="capture height (CSI, V4L2; streams through GStreamer are scaled)")
    group.add_argument("--fps", type=int,
                       help="capture rate (CSI, V4L2; at most this for streams through GStreamer); pacing for "
                            "image folders and video files")
    group.add_argument("--flip", type=int, help="CSI nvvidconv flip-method 0-7")
    group.add_argument("--codec", help="RTSP codec through GStreamer: auto (h264, then h265), h264 or h265")
    group.add_argument("--capture-backend",
                       help="how RTSP and HTTP streams are read: auto (GStreamer on a Jetson, OpenCV's FFmpeg "
                            "elsewhere), gstreamer or ffmpeg; CSI is always GStreamer")
    return group


def source_options(values):
    """The open_source keywords among `values` (a dict of resolved options or vars(args))."""
    return dict((key, values[key]) for key in SOURCE_NUMBERS + ("codec", "capture_backend"))
