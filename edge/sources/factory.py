"""One factory from URI to Source (jetson-utils' videoSource idea)."""

from edge.sources.uri import parse_source


def open_source(uri, **options):
    """A Source for `uri`, validated but not opened yet (call .open(), or hand it to the grabber).

    scale_to: None, (width, height) for a GStreamer pipeline to scale frames to cover, or a callable
    giving that box now (edge.sources.scaling.ScaleDemand): the source is then reopened when it changes."""
    demand = options.get("scale_to")
    if callable(demand):
        from edge.sources.scaling import RescalingSource
        return RescalingSource(lambda box: open_source(uri, **dict(options, scale_to=box)), demand)
    spec = parse_source(uri, **options)
    if spec.kind in ("folder", "image"):
        from edge.sources.folder_source import FolderSource
        return FolderSource(spec)
    from edge.sources.opencv_source import OpenCVSource
    return OpenCVSource(spec)
