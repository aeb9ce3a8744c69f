"""JSON lines: one result per line, to a file (appended, flushed per line) or stdout ("-")."""

import json
import sys

from edge.errors import EdgeError
from edge.sinks.base import Sink


class JsonLinesSink(Sink):
    name = "jsonl"

    def __init__(self, path):
        super(JsonLinesSink, self).__init__()
        self.path = path
        self.handle = None
        self.last_error = None

    def start(self):
        try:
            self._open()
        except (IOError, OSError) as exc:
            raise EdgeError("cannot open --jsonl {} ({})".format(self.path, exc.strerror or exc))

    def _open(self):
        if self.path == "-":
            self.handle = sys.stdout
        else:
            self.handle = open(self.path, "a", buffering=1)  # line-buffered

    def publish(self, result, frame=None):
        try:
            if self.handle is None:
                self._open()  # reopen after a failure (disk was full, file rotated away)
            self.handle.write(json.dumps(result, separators=(",", ":")) + "\n")
            self.handle.flush()
            self.published += 1
        except (IOError, OSError, ValueError) as exc:
            self.errors += 1
            self.last_error = str(exc)
            self._close_handle()

    def _close_handle(self):
        if self.handle is not None and self.handle is not sys.stdout:
            try:
                self.handle.close()
            except (IOError, OSError):
                pass
        self.handle = None

    def close(self, timeout=1.0):
        if self.handle is sys.stdout:
            sys.stdout.flush()
        self._close_handle()

    def health(self):
        return {"ok": self.last_error is None or self.handle is not None, "published": self.published,
                "errors": self.errors, "path": self.path}
