"""The source side of the Python API: iterate a camera, stream, video or folder, newest frame first.

    import edge
    with edge.open_source("video.mp4") as frames:     # any URI edge-camera takes (edge.sources.uri)
        for image in frames:                          # BGR uint8 HxWx3 arrays
            ...

It is edge-camera's capture path: the same source factory and the same LatestFrameGrabber, so a
live camera yields its newest frame (older ones are dropped and counted), reconnecting when it
drops, while a file or folder read without pacing yields every frame and then ends the loop.
The source is closed when the loop ends or is left (break), by close(), or on leaving the `with` block.
"""

import time

from edge.errors import EdgeError

POLL_S = 0.25  # longest one wait for a frame, so that a timeout and an ended source are seen soon


class FrameStream(object):
    """Frames from one source URI; options are the source flags (width, height, fps, loop, ...)."""

    def __init__(self, uri, timeout=None, **options):
        from edge.sources.factory import open_source
        from edge.sources.uri import option_names

        unknown = sorted(set(options) - set(option_names()))
        if unknown:
            raise TypeError("edge.open_source: unknown option(s) {}; the options are {}".format(
                ", ".join(unknown), ", ".join(option_names())))
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise EdgeError("timeout must be a positive number of seconds, or None, got {!r}".format(timeout))
        self.uri = uri
        self.timeout = timeout   # seconds without a frame that end the loop; None: wait while reconnecting
        self._new_source = lambda: open_source(uri, **options)
        self._new_source()       # validates the URI and options before anything starts
        self.grabber = None

    @property
    def frames_dropped(self):
        """Frames replaced by a newer one before they were taken (a consumer slower than the camera)."""
        return self.grabber.frames_dropped if self.grabber is not None else 0

    def open(self):
        from edge.sources.grabber import LatestFrameGrabber

        if self.grabber is None:
            self.grabber = LatestFrameGrabber(self._new_source).start()
        return self

    def close(self):
        if self.grabber is not None:
            self.grabber.stop(timeout=0.5)

    @property
    def closed(self):
        return self.grabber is not None and self.grabber.state == "stopped"

    def __enter__(self):
        return self.open()

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def frames(self):
        """Yield edge.sources.base.Frame objects (image, index, captured time) until the source ends."""
        self.open()
        try:
            waited = 0.0
            while not self.closed:
                started = time.time()
                frame = self.grabber.get(timeout=POLL_S)
                if frame is not None:
                    waited = 0.0
                    yield frame
                    continue
                if self.grabber.state == "failed":
                    raise EdgeError(str(self.grabber.fatal))
                if self.grabber.state in ("ended", "stopped"):
                    return
                waited += time.time() - started
                if self.timeout is not None and waited >= self.timeout:
                    return
        finally:
            self.close()

    def __iter__(self):
        for frame in self.frames():
            yield frame.image

    def __repr__(self):
        return "FrameStream({!r}, {})".format(self.uri, self.grabber.state if self.grabber else "not started")
