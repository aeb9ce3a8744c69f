"""The JSON lines sink: size rotation with a bounded number of files, and files moved from outside."""

import json
import os

from edge.sinks.jsonl import JsonLinesSink


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def result(frame):
    return {"frame": frame, "prediction": "cat", "confidence": 0.9,
            "top": [{"label": "cat", "index": 0, "confidence": 0.9}]}


def frames(path):
    with open(path) as handle:
        return [json.loads(line)["frame"] for line in handle]


def publish_all(path, count, **options):
    sink = JsonLinesSink(path, **options)
    sink.start()
    for frame in range(count):
        sink.publish(result(frame))
    sink.close()
    return sink


def test_rotation_keeps_the_newest_results_within_the_size_budget(tmp_path):
    path = str(tmp_path / "r.jsonl")
    sink = publish_all(path, 200, max_bytes=500, keep=2)
    assert sorted(os.listdir(str(tmp_path))) == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    line = len(json.dumps(result(100), separators=(",", ":"))) + 1
    assert all(os.path.getsize(p) < 500 + line for p in (path + ".2", path + ".1", path))
    kept = frames(path + ".2") + frames(path + ".1") + frames(path)
    assert kept == list(range(200 - len(kept), 200))  # the newest, in order, none missing in between
    assert sink.errors == 0 and sink.published == 200 and sink.health()["rotations"] >= 10


def test_keep_zero_starts_the_file_again(tmp_path):
    path = str(tmp_path / "r.jsonl")
    publish_all(path, 50, max_bytes=300, keep=0)
    assert os.listdir(str(tmp_path)) == ["r.jsonl"] and os.path.getsize(path) < 300
    assert frames(path)[-1] == 49


def test_no_rotation_without_a_size(tmp_path):
    path = str(tmp_path / "r.jsonl")
    publish_all(path, 100, max_bytes=0)
    assert os.listdir(str(tmp_path)) == ["r.jsonl"] and frames(path) == list(range(100))


def test_a_file_moved_or_deleted_from_outside_is_reopened(tmp_path):
    # logrotate without copytruncate renames the file; an operator may delete it to free space.
    path = str(tmp_path / "r.jsonl")
    clock = Clock()
    sink = JsonLinesSink(path, max_bytes=0, clock=clock)
    sink.start()
    sink.publish(result(0))
    os.rename(path, path + ".old")
    sink.publish(result(1))          # within the second: still the open (moved) file
    clock.now += 1.5
    sink.publish(result(2))          # noticed: a new file at the path
    os.unlink(path)
    clock.now += 1.5
    sink.publish(result(3))
    sink.close()
    assert frames(path + ".old") == [0, 1] and frames(path) == [3]
    assert sink.errors == 0 and sink.published == 4


def test_failures_are_counted_not_raised(tmp_path):
    sink = JsonLinesSink(str(tmp_path / "missing" / "x.jsonl"))
    sink.publish(result(1))
    assert sink.errors == 1 and sink.published == 0 and not sink.health()["ok"]
