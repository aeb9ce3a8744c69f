"""A Source over an image folder (sorted) or a single image: finite, optionally looped and paced."""

import time

from edge.util.image_folders import image_files
from edge.bundle.preprocess import read_image
from edge.sources.base import Frame, Source, SourceError


class FolderSource(Source):
    live = False

    def __init__(self, spec):
        super(FolderSource, self).__init__()
        self.spec = spec
        self.uri = spec.uri
        self.paths = []
        self.position = 0
        self.index = 0
        self.unreadable = 0
        self.next_due = None

    def open(self):
        if self.spec.kind == "image":
            self.paths = [self.spec.target]
        else:
            self.paths = image_files(self.spec.target)
        if not self.paths:
            raise SourceError("{} has no images".format(self.uri))
        self.position, self.ended = 0, False
        return self

    def read(self, timeout=1.0):
        fps = self.spec.options.get("fps")
        while True:
            if self.position >= len(self.paths):
                if not self.spec.options.get("loop"):
                    self.ended = True
                    return None
                self.position = 0
            path = self.paths[self.position]
            self.position += 1
            image = read_image(path)
            if image is None:
                self.unreadable += 1
                continue
            if fps:
                now = time.time()
                self.next_due = now if self.next_due is None else self.next_due
                if self.next_due > now:
                    time.sleep(self.next_due - now)
                self.next_due = max(self.next_due + 1.0 / fps, time.time() - 1.0)
            frame = Frame(image, self.index)
            self.index += 1
            return frame

    def close(self):
        self.paths = []
