"""The source interface every camera/file/stream source implements.

    source = open_source("rtsp://127.0.0.1:8554/cam")     # edge.sources.factory
    source.open()                       # EdgeError if the URI/options are wrong; SourceError if unreachable
    frame = source.read(timeout=1.0)    # a Frame, or None on timeout; never raises on a timeout
    source.ended                        # True once a finite source (file, folder) has no more frames
    source.close()

A `Frame` carries the BGR uint8 image, a running index, and the wall-clock time it was captured
(time.time()), so capture-to-result latency can be measured downstream.
"""

import time

from edge.errors import EdgeError


class SourceError(EdgeError):
    """The source cannot deliver frames right now (camera unplugged, stream down): retry later."""


class Frame(object):
    __slots__ = ("image", "index", "captured")

    def __init__(self, image, index, captured=None):
        self.image = image
        self.index = index
        self.captured = time.time() if captured is None else captured


class Source(object):
    """Base class. Subclasses implement open(), read(timeout) and close(); `ended` for finite ones."""

    uri = ""
    live = True        # a camera/stream (reconnect when it drops) vs a file/folder (ends)

    def __init__(self):
        self.ended = False

    def open(self):
        raise NotImplementedError

    def read(self, timeout=1.0):
        raise NotImplementedError

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
