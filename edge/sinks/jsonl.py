"""JSON lines: one result per line, to a file (appended, flushed per line) or stdout ("-").

A daemon publishing 30 results a second writes about 0.8 GB a day, enough to fill a Nano's SD
card within weeks, so a file is rotated by size the way logging's RotatingFileHandler does:
results.jsonl -> results.jsonl.1 -> ... -> results.jsonl.K, the oldest dropped. Disk use stays
below (K + 1) x max_bytes. A file moved or deleted from outside (logrotate without
copytruncate, an operator clearing space) is noticed within a second and reopened.
"""

import json
import os
import sys
import time

from edge.errors import EdgeError
from edge.sinks.base import Sink

DEFAULT_MAX_MB = 100.0
DEFAULT_KEEP = 5
RECHECK_SECONDS = 1.0


class JsonLinesSink(Sink):
    name = "jsonl"

    def __init__(self, path, max_bytes=None, keep=DEFAULT_KEEP, clock=time.monotonic):
        """max_bytes: rotate when the file reaches this size (None or 0: never); keep: rotated
        files kept beside it (0: the full file is simply started again)."""
        super(JsonLinesSink, self).__init__()
        self.path = path
        self.max_bytes = int(max_bytes) if max_bytes else None
        self.keep = int(keep)
        self.clock = clock
        self.handle = None
        self.last_error = None
        self.rotations = 0
        self.dropped = 0        # results whose line could not be written
        self._checked = 0.0

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
            self._checked = self.clock()

    def publish(self, result, frame=None):
        written = False
        try:
            if self.handle is not None and self.handle is not sys.stdout:
                self._reopen_if_moved()
            if self.handle is None:
                self._open()  # reopen after a failure (disk was full, file rotated away)
            self.handle.write(json.dumps(result, separators=(",", ":")) + "\n")
            self.handle.flush()
            written = True
            self.published += 1
            self.last_error = None
            if self.max_bytes and self.handle is not sys.stdout and self.handle.tell() >= self.max_bytes:
                self._rotate()
        except (IOError, OSError, ValueError) as exc:
            self.errors += 1
            if not written:
                self.dropped += 1
            self.last_error = str(exc)
            self._close_handle()

    def _reopen_if_moved(self):
        now = self.clock()
        if now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            on_disk = os.stat(self.path)
        except OSError:
            on_disk = None
        mine = os.fstat(self.handle.fileno())
        if on_disk is None or (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            self._close_handle()

    def _rotate(self):
        self._close_handle()
        if self.keep < 1:
            os.unlink(self.path)
        else:
            for index in range(self.keep - 1, 0, -1):
                older = "{}.{}".format(self.path, index)
                if os.path.exists(older):
                    os.replace(older, "{}.{}".format(self.path, index + 1))
            os.replace(self.path, self.path + ".1")
        self.rotations += 1
        self._open()

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
        """Not ok while the last write failed (a full disk, a missing folder), until one succeeds."""
        health = {"ok": self.last_error is None, "connected": self.last_error is None, "queued": 0,
                  "dropped": self.dropped,
                  "delivered": self.published, "published": self.published, "errors": self.errors,
                  "path": self.path, "rotations": self.rotations}
        if self.last_error is not None:
            health["reason"] = "cannot write {}: {} ({} failed writes)".format(self.path, self.last_error,
                                                                               self.errors)
        return health
