"""The MQTT outbox's bounds, counts and messages, as a user after an outage meets them.

Written against the survivors of `make mutation` (tests/mutation.py): each test names what a
wrong outbox would do to someone reading results after the broker comes back."""

import shutil
import sqlite3
import threading

import pytest

from edge.errors import EdgeError
from edge.sinks.outbox import Outbox

MB = 2 ** 20


class Clock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def opened(tmp_path, **options):
    lines = []
    box = Outbox(str(tmp_path / "outbox.db"), log=lines.append, **options).open()
    return box, lines


def stored(box):
    return [data for _, data in box.peek(limit=100000)]


@pytest.mark.parametrize("options, message", [
    ({"max_bytes": 0}, "mqtt-outbox-max-mb must be positive, got 0"),
    ({"max_age_s": -1.0}, "mqtt-outbox-max-age-h must be positive, got -1.0"),
    ({"max_rows": 0}, "mqtt-queue must be positive, got 0"),
])
def test_each_bound_is_refused_by_its_own_option_name_and_value(tmp_path, options, message):
    with pytest.raises(EdgeError) as caught:
        Outbox(str(tmp_path / "outbox.db"), **options)
    assert str(caught.value) == message


def test_a_cap_of_one_row_keeps_exactly_the_newest_row(tmp_path):
    """The last row waiting is dropped for a new one: otherwise a cap of one holds two, then more."""
    box, _ = opened(tmp_path, max_rows=1)
    for data in (b"first", b"second", b"third"):
        assert box.append(data) is not None
    assert stored(box) == [b"third"]
    assert (box.count(), box.size(), box.dropped) == (1, 5, 2)


def test_a_payload_exactly_the_size_cap_fits_and_fills_it_exactly(tmp_path):
    box, lines = opened(tmp_path, max_bytes=10, max_rows=None)
    assert box.append(b"12345") is not None
    assert box.append(b"67890") is not None        # 10 bytes of 10: full, nothing dropped
    assert (stored(box), box.dropped, lines) == ([b"12345", b"67890"], 0, [])
    assert box.append(b"x" * 10) is not None       # the whole cap: both others go
    assert (stored(box), box.size(), box.dropped) == ([b"x" * 10], 10, 2)


def test_results_larger_than_the_outbox_are_refused_each_counted_and_explained(tmp_path):
    box, lines = opened(tmp_path, max_bytes=10)
    assert box.append(b"x" * 11) is None
    assert box.append(b"y" * 12) is None
    assert (box.count(), box.dropped) == (0, 2)
    assert lines == ["MQTT outbox: a result of 11 bytes is larger than the whole outbox; dropped",
                     "MQTT outbox: a result of 12 bytes is larger than the whole outbox; dropped"]


def test_the_outbox_full_line_names_the_file_and_its_real_bounds_once_per_burst(tmp_path):
    box, lines = opened(tmp_path, max_bytes=int(1.5 * MB), max_rows=2, max_age_s=7200.0)
    for data in (b"a", b"b", b"c", b"d"):
        box.append(data)
    assert lines == ["MQTT outbox {} full (1.5 MB, 2 results, 2 h): dropping the oldest results while the "
                     "broker is away (counted in edge_sink_dropped_total)".format(box.path)]
    box.ack([row_id for row_id, _ in box.peek()])
    box.append(b"e")                               # room again: the burst is over
    box.append(b"f")
    box.append(b"g")                               # a new burst, a new line
    assert len(lines) == 2 and lines[1] == lines[0]


@pytest.mark.parametrize("options, text", [
    ({"max_bytes": int(2.5 * MB), "max_rows": 7, "max_age_s": 5400.0}, "2.5 MB, 7 results, 1.5 h"),
    ({"max_bytes": None, "max_rows": 3, "max_age_s": None}, "3 results"),
    ({"max_bytes": None, "max_rows": None, "max_age_s": 1800.0}, "0.5 h"),
    ({"max_bytes": 3 * MB, "max_rows": None, "max_age_s": None}, "3 MB"),
    ({"max_bytes": None, "max_rows": None, "max_age_s": None}, "unbounded"),
])
def test_the_bounds_are_described_in_the_units_of_their_options(tmp_path, options, text):
    assert Outbox(str(tmp_path / "outbox.db"), **options).describe_bounds() == text


def test_an_outage_longer_than_one_batch_expires_every_stale_row(tmp_path):
    """After a long outage the stale results are all dropped, not the first 256 of them."""
    clock = Clock(0.0)
    box, lines = opened(tmp_path, max_age_s=3600.0, max_rows=None, max_bytes=None, clock=clock)
    for frame in range(600):
        box.append(b"%05d" % frame)
    clock.now = 100.0
    box.append(b"fresh")
    clock.now = 3650.0
    assert box.expire() == 600
    assert stored(box) == [b"fresh"]
    assert (box.count(), box.size(), box.dropped) == (1, 5, 600)
    assert lines == ["MQTT outbox: 600 results older than 1 h dropped"]


def test_expiry_keeps_a_row_exactly_at_the_age_limit_and_adds_to_earlier_drops(tmp_path):
    clock = Clock(0.0)
    box, lines = opened(tmp_path, max_age_s=1800.0, max_rows=1, max_bytes=None, clock=clock)
    box.append(b"dropped for room")
    box.append(b"old")                             # the row cap dropped one already
    assert box.dropped == 1
    clock.now = 10.0
    box.max_rows = None
    box.append(b"on the limit")
    clock.now = 1810.0                             # "on the limit" is exactly max_age_s old
    assert box.expire() == 1
    assert stored(box) == [b"on the limit"]
    assert (box.count(), box.size(), box.dropped) == (1, 12, 2)
    assert lines[-1] == "MQTT outbox: 1 results older than 0.5 h dropped"


def test_without_an_age_bound_nothing_expires(tmp_path):
    clock = Clock(0.0)
    box, lines = opened(tmp_path, max_age_s=None, clock=clock)
    box.append(b"kept")
    clock.now = 10 ** 9
    assert box.expire() == 0
    assert (stored(box), box.dropped, lines) == ([b"kept"], 0, [])


def test_acknowledging_more_than_one_chunk_deletes_and_counts_every_row(tmp_path):
    box, _ = opened(tmp_path, max_rows=None)
    ids = [box.append(b"%04d" % frame) for frame in range(1203)]
    assert box.ack(ids[:1201]) == 1201
    assert stored(box) == [b"1201", b"1202"]
    assert (box.count(), box.size()) == (2, 8)


def test_a_failed_ack_or_append_rolls_back_and_the_outbox_goes_on(tmp_path):
    box, _ = opened(tmp_path)
    first = box.append(b"first")
    with pytest.raises(sqlite3.Error):
        box.ack([first, object()])                 # a value SQLite cannot bind: the transaction fails
    with pytest.raises(TypeError):
        box.append(u"text, not bytes")
    assert box.append(b"second") is not None       # no transaction was left open
    assert stored(box) == [b"first", b"second"]
    assert (box.count(), box.size()) == (2, 11)


def test_a_path_without_a_wal_journal_is_refused_in_one_line(tmp_path):
    with pytest.raises(EdgeError) as caught:
        Outbox(":memory:").open()
    assert str(caught.value) == ("cannot use the MQTT outbox :memory: (WAL journal not available (memory)); "
                                 "choose another --mqtt-outbox")


def test_sync_puts_every_committed_row_in_the_database_file_itself(tmp_path):
    """After sync() the rows survive a power cut: the .db file alone, without its WAL, holds them."""
    clock = Clock(1234.5)
    box, _ = opened(tmp_path, clock=clock)
    for data in (b"a", b"bb", b"ccc"):
        box.append(data)
    box.sync()
    copy = str(tmp_path / "after-power-cut.db")
    shutil.copy(box.path, copy)
    db = sqlite3.connect(copy)
    try:
        assert [bytes(row[0]) for row in db.execute("SELECT payload FROM outbox ORDER BY id")] == [b"a", b"bb", b"ccc"]
    finally:
        db.close()
    box.close()
    db = sqlite3.connect(box.path)
    try:
        assert db.execute("SELECT at FROM synced").fetchall() == [(1234.5,)]
    finally:
        db.close()


def test_one_connection_per_thread_a_bounded_wal_and_close_closes_them_all(tmp_path):
    box, _ = opened(tmp_path)
    assert (box.count(), box.size()) == (0, 0)
    for frame in range(20):
        box.append(b"%d" % frame)
        box.peek()
    assert len(box._connections) == 1
    assert box._db().execute("PRAGMA journal_size_limit").fetchone()[0] == 4 * MB
    worker_db = []

    def worker():
        box.append(b"from a worker")
        worker_db.append(box._db())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(box._connections) == 2
    box.close()                                    # from another thread than the worker's
    assert box._connections == []
    for db in worker_db + [box._local.db]:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            db.execute("SELECT 1")


def test_counts_before_open_are_zero(tmp_path):
    box = Outbox(str(tmp_path / "outbox.db"))
    assert (box.count(), box.size(), box.dropped) == (0, 0, 0)


def test_a_restart_into_a_full_outbox_logs_the_first_drop(tmp_path):
    """The daemon restarted during an outage, the outbox already at its cap: the first drop is said."""
    box, _ = opened(tmp_path, max_rows=2)
    box.append(b"a")
    box.append(b"b")
    box.close()
    box, lines = opened(tmp_path, max_rows=2)
    box.append(b"c")
    assert stored(box) == [b"b", b"c"] and len(lines) == 1 and " full (" in lines[0]


def test_peek_hands_out_64_rows_at_a_time_by_default(tmp_path):
    box, _ = opened(tmp_path, max_rows=None)
    ids = [box.append(b"%d" % frame) for frame in range(100)]
    assert [row_id for row_id, _ in box.peek()] == ids[:64]
    assert [row_id for row_id, _ in box.peek(after=ids[63])] == ids[64:]
