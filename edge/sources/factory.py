"""One factory from URI to Source (jetson-utils' videoSource idea)."""

from edge.sources.uri import parse_source


def open_source(uri, **options):
    """A Source for `uri`, validated but not opened yet (call .open(), or hand it to the grabber)."""
    spec = parse_source(uri, **options)
    if spec.kind in ("folder", "image"):
        from edge.sources.folder_source import FolderSource
        return FolderSource(spec)
    from edge.sources.opencv_source import OpenCVSource
    return OpenCVSource(spec)
