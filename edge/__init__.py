"""Jetson Edge Toolkit runtime: everything that consumes a deployment bundle.

Importing this package is cheap: no torch, TensorRT, onnxruntime or OpenCV is loaded here.
The Python API (for notebooks) is two calls; each imports what it needs when called:

    bundle = edge.load_bundle("bundle")             # edge.api.LoadedBundle
    with bundle.runner() as model:
        print(model.predict("photo.jpg").prediction)
    with edge.open_source("video.mp4") as frames:   # edge.sources.stream.FrameStream
        for image in frames: ...
"""

from edge.version import __version__


def load_bundle(path):
    """The bundle folder edge-export wrote, read and checked: an edge.api.LoadedBundle."""
    from edge.api import LoadedBundle

    return LoadedBundle.load(path)


def open_source(uri, timeout=None, **options):
    """An iterable of the newest frames of `uri` (camera, stream, video, folder): an edge.sources.stream.FrameStream.

    options: the source flags (width, height, fps, flip, latency, codec, loop, realtime); timeout:
    seconds without a frame that end the iteration (None: keep waiting while a live source reconnects).
    """
    from edge.sources.stream import FrameStream

    return FrameStream(uri, timeout=timeout, **options)
