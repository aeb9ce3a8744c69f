"""MQTT results survive a daemon stop, a SIGKILL and a reboot: the durable outbox on its own, then
the drill with real parts (mosquitto down, daemon stopped, daemon restarted, broker back)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from edge.errors import EdgeError
from edge.sinks.outbox import Outbox
from tests.edge.realparts import Broker, Subscriber, free_port, needs_ffmpeg, needs_mosquitto
from tests.edge.test_camera_daemon import ROOT, read_jsonl, start_daemon, wait_until


class Clock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def payload(frame, pad=100):
    return json.dumps({"frame": frame, "pad": "x" * pad}).encode("ascii")


def frames(rows):
    return [json.loads(data.decode("ascii"))["frame"] for _, data in rows]


def test_rows_come_back_in_order_until_acknowledged_and_survive_a_reopen(tmp_path):
    path = str(tmp_path / "outbox.db")
    box = Outbox(path).open()
    ids = [box.append(payload(frame)) for frame in range(10)]
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert box.count() == 10 and box.size() == sum(len(payload(f)) for f in range(10))
    first = box.peek(limit=4)
    assert frames(first) == [0, 1, 2, 3]
    assert frames(box.peek(after=first[-1][0], limit=100)) == [4, 5, 6, 7, 8, 9]
    assert box.ack([ids[0], ids[2]]) == 2
    assert box.ack([ids[0]]) == 0          # acknowledged twice (a duplicate PUBACK): counted once
    assert box.count() == 8 and frames(box.peek()) == [1, 3, 4, 5, 6, 7, 8, 9]
    box.close()

    box = Outbox(path).open()               # the next start
    assert box.count() == 8 and box.size() == sum(len(payload(f)) for f in (1, 3, 4, 5, 6, 7, 8, 9))
    assert frames(box.peek()) == [1, 3, 4, 5, 6, 7, 8, 9]
    box.ack([row_id for row_id, _ in box.peek()])
    assert box.count() == 0 and box.size() == 0
    assert box.append(payload(10)) > max(ids)   # ids never go back, even on an empty outbox
    box.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_size_bound_drops_the_oldest_counts_them_and_logs_once_per_burst(tmp_path):
    lines = []
    box = Outbox(str(tmp_path / "o.db"), max_bytes=2000, log=lines.append).open()
    for frame in range(50):
        box.append(payload(frame))
    kept = frames(box.peek(limit=1000))
    assert box.size() <= 2000 and kept == list(range(50 - len(kept), 50))   # the newest, none missing
    assert box.dropped == 50 - len(kept) > 0 and len(lines) == 1 and "oldest" in lines[0]
    delivered = box.ack([row_id for row_id, _ in box.peek(limit=1000)])  # the broker came back
    for frame in range(50, 55):
        box.append(payload(frame))
    assert len(lines) == 1                   # room again: no drop, no line
    for frame in range(55, 100):
        box.append(payload(frame))
    assert len(lines) == 2                   # a second burst, a second line
    assert box.dropped == 100 - delivered - box.count()
    box.close()


def test_the_row_bound_and_a_result_larger_than_the_outbox(tmp_path):
    box = Outbox(str(tmp_path / "o.db"), max_rows=10).open()
    for frame in range(25):
        box.append(payload(frame))
    assert frames(box.peek(limit=100)) == list(range(15, 25)) and box.dropped == 15
    box.close()
    small = Outbox(str(tmp_path / "s.db"), max_bytes=500).open()
    small.append(payload(0))
    assert small.append(payload(1, pad=1000)) is None     # can never fit: refused and counted,
    assert frames(small.peek()) == [0] and small.dropped == 1  # the others are not thrown away for it
    small.close()


def test_the_age_bound_expires_the_oldest_at_run_time_and_at_the_next_start(tmp_path):
    path = str(tmp_path / "o.db")
    clock, lines = Clock(1000.0), []
    box = Outbox(path, max_age_s=60, clock=clock, log=lines.append).open()
    for frame in range(5):
        box.append(payload(frame))
    clock.now = 1050.0
    for frame in range(5, 10):
        box.append(payload(frame))
    clock.now = 1070.0
    assert box.expire() == 5 and frames(box.peek()) == [5, 6, 7, 8, 9] and box.dropped == 5
    assert box.expire() == 0 and len(lines) == 1 and "older than" in lines[0]
    box.close()
    clock.now = 5000.0                          # a reboot hours later
    box = Outbox(path, max_age_s=60, clock=clock, log=lines.append).open()
    assert box.count() == 0 and box.dropped == 5
    box.close()


@pytest.mark.parametrize("options, message", [
    ({"max_bytes": 0}, "max-mb"), ({"max_age_s": -1}, "max-age-h"), ({"max_rows": 0}, "queue"),
])
def test_bounds_are_validated(tmp_path, options, message):
    with pytest.raises(EdgeError) as error:
        Outbox(str(tmp_path / "o.db"), **options)
    assert message in str(error.value)


def test_an_unusable_path_is_one_line(tmp_path):
    with pytest.raises(EdgeError) as error:
        Outbox(str(tmp_path / "missing" / "o.db")).open()
    assert "--mqtt-outbox" in str(error.value) and "missing" in str(error.value)


def test_appended_rows_survive_a_sigkill(tmp_path):
    path = str(tmp_path / "o.db")
    script = ("import os, signal, sys\nfrom edge.sinks.outbox import Outbox\nbox = Outbox(sys.argv[1]).open()\n"
              "for frame in range(300):\n    box.append(('{\"frame\": %d}' % frame).encode())\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    child = subprocess.run([sys.executable, "-c", script, path], cwd=ROOT, timeout=60,
                           env=dict(os.environ, PYTHONPATH=ROOT))
    assert child.returncode == -signal.SIGKILL
    box = Outbox(path).open()
    assert box.count() == 300 and frames(box.peek(limit=1000)) == list(range(300))
    box.close()


# ----- the drill, with real parts ----------------------------------------------------------------
def keys(rows):
    return set((row["ts"], row["frame"]) for row in rows)


def received(subscriber):
    with subscriber.lock:
        return keys(subscriber.messages)


def outbox_rows(path):
    with sqlite3.connect(str(path)) as db:
        return [json.loads(data) for (data,) in db.execute("SELECT payload FROM outbox ORDER BY id")]


@needs_ffmpeg
@needs_mosquitto
@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_results_survive_a_daemon_stop_and_restart_while_the_broker_is_down(export_int8_bundle, video, tmp_path,
                                                                            stop):
    port = free_port()
    broker = Broker(port).start()
    subscriber = Subscriber(port, "edge/camera/results")      # a persistent session, kept by the broker
    outbox = tmp_path / "outbox.db"
    argv = [export_int8_bundle, "--source", video, "--realtime", "--loop", "--mqtt-host", "127.0.0.1",
            "--mqtt-port", port, "--mqtt-outbox", outbox]
    try:
        assert subscriber.connected.wait(10)
        time.sleep(0.3)                                        # the subscription is in place
        broker.stop()                                          # the broker is down from here on

        run1 = str(tmp_path / "run1.jsonl")
        first = start_daemon(argv + ["--jsonl", run1])
        assert wait_until(lambda: len(read_jsonl(run1)) >= 40, 30), "the first run did not start"
        first.send_signal(getattr(signal, stop))
        _, err1 = first.communicate(timeout=20)
        processed = read_jsonl(run1)
        if stop == "SIGTERM":
            assert first.returncode == 0, err1
            kept = re.search(r"(\d+) results kept in the outbox", err1.strip().splitlines()[-1])
            assert kept and int(kept.group(1)) == len(processed), err1
            must_arrive = processed
        else:
            assert first.returncode == -signal.SIGKILL
            # Killed between its JSON line and its outbox row, the last result may be missing; no other.
            must_arrive = processed[:-1]

        run2 = str(tmp_path / "run2.jsonl")
        second = start_daemon(argv + ["--jsonl", run2])       # the restart (a reboot), broker still down
        assert wait_until(lambda: len(read_jsonl(run2)) >= 10, 30), "the second run did not start"
        broker.start()                                         # the broker is back
        assert wait_until(lambda: keys(must_arrive) <= received(subscriber), 60), \
            "{} of {} results of the first run never arrived".format(
                len(keys(must_arrive) - received(subscriber)), len(must_arrive))
        assert wait_until(lambda: len(received(subscriber) & keys(read_jsonl(run2))) >= 10, 30)
        second.send_signal(signal.SIGTERM)
        _, err2 = second.communicate(timeout=20)
        assert second.returncode == 0, err2
        assert re.search(r"\d+ results from an earlier run", err2), err2
        # Nothing of the second run is lost either: delivered, or kept for the next start.
        time.sleep(1.0)
        left = keys(read_jsonl(run2)) - received(subscriber) - keys(outbox_rows(outbox))
        assert not left, "{} results of the second run lost".format(len(left))
        print("{} stop: {} results processed while the broker was down, {} delivered after the restart"
              .format(stop, len(processed), len(keys(processed) & received(subscriber))))
    finally:
        subscriber.close()
        broker.cleanup()


@needs_ffmpeg
@pytest.mark.parametrize("argv, message", [
    (["--mqtt-outbox-max-mb", "0"], "mqtt-outbox-max-mb must be"),
    (["--mqtt-outbox-max-age-h", "-1"], "mqtt-outbox-max-age-h must be"),
    (["--mqtt-outbox", "{tmp}/missing/o.db"], "cannot use the MQTT outbox"),
])
def test_bad_outbox_options_exit_with_one_line(export_int8_bundle, video, tmp_path, argv, message):
    argv = [str(a).format(tmp=tmp_path) for a in argv]
    daemon = start_daemon([export_int8_bundle, "--source", video, "--mqtt-host", "127.0.0.1", "--mqtt-port",
                           free_port()] + argv)
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 3, err
