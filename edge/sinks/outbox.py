"""The MQTT sink's durable outbox: results waiting for the broker, in an SQLite file.

    box = Outbox("/var/lib/edge-toolkit/mqtt-outbox.db", max_bytes=100 * 2**20, max_age_s=24 * 3600).open()
    row_id = box.append(payload)        # committed when it returns; None when refused (bigger than the bound)
    box.peek(after=0, limit=64)         # [(row_id, payload), ...], oldest first
    box.ack([row_id, ...])              # delivered: deleted (an id acknowledged twice counts once)
    box.count(), box.size()             # rows and payload bytes waiting; box.dropped: rows thrown away

Durability. WAL journal with synchronous=NORMAL, and the sink calls sync() about once a second:
- a row append() returned for survives the process dying at any point (SIGKILL, OOM killer, a
  crash): the commit has reached the WAL file in the kernel before append() returns;
- a power cut loses at most the rows committed since the last sync() (about a second), and never
  corrupts the file (SQLite's WAL recovery).
Why not synchronous=FULL: it fsyncs on every commit, 30 times a second at camera rate, in the
inference thread; on a Nano's SD card an fsync costs milliseconds to tens of milliseconds and wears
the card. NORMAL + a checkpoint per second (which fsyncs the WAL) is one fsync a second, off the
inference thread, for a loss window of about a second on power failure only.

Bounds and drop policy: at most `max_bytes` of payload, `max_rows` rows, and rows no older than
`max_age_s`. When full, the OLDEST rows are dropped to make room for the new one (the newest
results matter most to whoever reads them after an outage); rows past the age limit are dropped
from the front, at run time and at the next start. Every drop is counted in `dropped`; one line
is logged at the start of each burst of drops. A single result larger than `max_bytes` is refused
(counted) rather than emptying the outbox for it. Ages use the wall clock (the only clock that
spans a reboot).

The file keeps its high-water size (freed pages are reused, not returned): budget max-mb plus a
few MB of WAL. Each thread gets its own connection: append() on the inference thread never waits
for the fsync of sync() on the sink's worker.
"""

import sqlite3
import threading
import time

from edge.errors import EdgeError

DEFAULT_MAX_MB = 100.0
DEFAULT_MAX_AGE_H = 24.0
DEFAULT_MAX_ROWS = 100000
SCHEMA = ("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
          "created REAL NOT NULL, payload BLOB NOT NULL)",
          "CREATE TABLE IF NOT EXISTS synced (id INTEGER PRIMARY KEY CHECK (id = 0), at REAL NOT NULL)")


class Outbox(object):
    def __init__(self, path, max_bytes=int(DEFAULT_MAX_MB * 2 ** 20), max_age_s=DEFAULT_MAX_AGE_H * 3600,
                 max_rows=DEFAULT_MAX_ROWS, clock=time.time, log=None):
        for value, name in ((max_bytes, "mqtt-outbox-max-mb"), (max_age_s, "mqtt-outbox-max-age-h"),
                            (max_rows, "mqtt-queue")):
            if value is not None and not value > 0:
                raise EdgeError("{} must be positive, got {!r}".format(name, value))
        self.path = str(path)
        self.max_bytes, self.max_age_s, self.max_rows = max_bytes, max_age_s, max_rows
        self.clock = clock
        self.log = log or (lambda text: None)
        self.dropped = 0
        self._rows = self._bytes = 0
        self._burst = False          # dropping for room right now (one line per burst)
        self._lock = threading.RLock()   # _db() takes it too, inside the other methods
        self._local = threading.local()
        self._connections = []

    # ----- lifecycle ------------------------------------------------------------------------------
    def open(self):
        try:
            db = self._db()
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError("WAL journal not available ({})".format(mode))
            for statement in SCHEMA:
                db.execute(statement)
            self._rows, self._bytes = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise EdgeError("cannot use the MQTT outbox {} ({}); choose another --mqtt-outbox".format(self.path, exc))
        self.expire()
        return self

    def close(self):
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")     # sync() checkpoints, off the inference thread
            db.execute("PRAGMA journal_size_limit={}".format(4 * 2 ** 20))
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    # ----- rows -----------------------------------------------------------------------------------
    def append(self, payload):
        """Store one payload (bytes); returns its id, or None when it is larger than the whole outbox."""
        size = len(payload)
        with self._lock:
            if self.max_bytes is not None and size > self.max_bytes:
                self.dropped += 1
                self.log("MQTT outbox: a result of {} bytes is larger than the whole outbox; dropped".format(size))
                return None
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                self._make_room(db, size)
                row_id = db.execute("INSERT INTO outbox (created, payload) VALUES (?, ?)",
                                    (self.clock(), sqlite3.Binary(payload))).lastrowid
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._rows += 1
            self._bytes += size
            return row_id

    def _make_room(self, db, size):
        """Within the lock and a transaction: drop the oldest rows until `size` more bytes fit."""
        def over():
            return ((self.max_bytes is not None and self._bytes + size > self.max_bytes) or
                    (self.max_rows is not None and self._rows + 1 > self.max_rows))
        if not over():
            self._burst = False
            return
        if not self._burst:
            self._burst = True
            self.log("MQTT outbox {} full ({}): dropping the oldest results while the broker is away "
                     "(counted in edge_sink_dropped_total)".format(self.path, self.describe_bounds()))
        while over() and self._rows > 0:
            for row_id, length in db.execute("SELECT id, LENGTH(payload) FROM outbox ORDER BY id LIMIT 64"):
                if not over():
                    break
                db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                self._rows -= 1
                self._bytes -= length
                self.dropped += 1

    def peek(self, after=0, limit=64):
        with self._lock:
            return [(row_id, bytes(data)) for row_id, data in self._db().execute(
                "SELECT id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit))]

    def ack(self, ids):
        """Delete delivered rows; returns how many were still there."""
        ids = list(ids)
        deleted = 0
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox "
                                            "WHERE id IN ({})".format(marks), chunk).fetchone()
                    db.execute("DELETE FROM outbox WHERE id IN ({})".format(marks), chunk)
                    deleted += rows
                    self._rows -= rows
                    self._bytes -= size
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return deleted

    def expire(self):
        """Drop rows older than max_age_s from the front; returns how many."""
        if self.max_age_s is None:
            return 0
        cutoff = self.clock() - self.max_age_s
        expired = 0
        with self._lock:
            db = self._db()
            while True:
                batch = list(db.execute("SELECT id, created, LENGTH(payload) FROM outbox ORDER BY id LIMIT 256"))
                old = []
                for row in batch:
                    if row[1] >= cutoff:
                        break
                    old.append(row)
                if not old:
                    break
                db.execute("DELETE FROM outbox WHERE id <= ?", (old[-1][0],))
                self._rows -= len(old)
                self._bytes -= sum(length for _, _, length in old)
                expired += len(old)
                if len(old) < len(batch):
                    break
            self.dropped += expired
        if expired:
            self.log("MQTT outbox: {} results older than {:g} h dropped".format(expired, self.max_age_s / 3600.0))
        return expired

    def sync(self):
        """Make every committed row safe from a power cut: checkpoint, which fsyncs the WAL.

        Then note the time in the file: that first write after a checkpoint restarts the WAL, which
        fsyncs its header; done here, on the caller's thread, not by the next append()."""
        db = self._db()
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        db.execute("INSERT OR REPLACE INTO synced (id, at) VALUES (0, ?)", (self.clock(),))

    def describe_bounds(self):
        bounds = []
        if self.max_bytes is not None:
            bounds.append("{:g} MB".format(self.max_bytes / 2.0 ** 20))
        if self.max_rows is not None:
            bounds.append("{} results".format(self.max_rows))
        if self.max_age_s is not None:
            bounds.append("{:g} h".format(self.max_age_s / 3600.0))
        return ", ".join(bounds) or "unbounded"

    def count(self):
        return self._rows

    def size(self):
        return self._bytes
