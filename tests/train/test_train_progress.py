"""Progress where stderr is not a terminal (edge.util.progress): a plain line every interval; a bar on a terminal."""

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from edge.errors import EdgeError
from edge.util import progress as progress_module
from edge.util.progress import INTERVAL_VARIABLE, PROGRESS_INTERVAL, Progress, interval_setting
from tests.helpers import ROOT, make_shapes_folder

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--epochs", "2", "--keep-epochs", "1"]
TRAIN_LINE = re.compile(r"^epoch (\d)/2: batch (\d+)/(\d+), \d+ img/s, loss \d[\d.e+-]*(, \d+ s left)?$")


class FakeClock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("progress") / "data", per_class=12)


def test_a_line_appears_when_the_interval_passes_and_not_before():
    clock, stream = FakeClock(), io.StringIO()
    shown = Progress("epoch 3/20", total=400, unit="batch", items="img", stream=stream, clock=clock)
    assert shown.interval == PROGRESS_INTERVAL == 10.0 and shown.style == "lines"
    for step in range(1, 120):
        clock.now = 100.0 + step * 0.08          # 9.52 s after the start by step 119: still silent
        shown.update(items=32, loss=0.53)
    assert stream.getvalue() == ""
    clock.now = 110.0
    shown.update(items=32, loss=0.53)
    assert stream.getvalue() == "epoch 3/20: batch 120/400, 384 img/s, loss 0.53, 23 s left\n"
    clock.now = 119.9
    shown.update(items=32, loss=0.5)
    assert stream.getvalue().count("\n") == 1     # the next one waits 10 s more
    clock.now = 120.0
    shown.update(items=32, loss=0.5)
    assert stream.getvalue().splitlines()[-1].startswith("epoch 3/20: batch 122/400, ")
    assert "\r" not in stream.getvalue()


def test_the_interval_comes_from_the_environment_and_bad_values_are_one_line():
    assert interval_setting({}) == PROGRESS_INTERVAL
    assert interval_setting({INTERVAL_VARIABLE: "0"}) == 0.0
    assert interval_setting({INTERVAL_VARIABLE: " 2.5 "}) == 2.5
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(EdgeError, match=INTERVAL_VARIABLE):
            interval_setting({INTERVAL_VARIABLE: bad})


def test_a_heartbeat_names_a_stage_without_steps_and_stops_with_it():
    stream = io.StringIO()
    shown = Progress("int8 pre-processing", stream=stream, interval=0.02)
    shown.set_stage("shape inference")
    with shown.heartbeat():
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines and all(re.match(r"^int8 pre-processing: shape inference, \d+ s so far$", line) for line in lines)
    time.sleep(0.1)
    assert stream.getvalue().splitlines() == lines


def test_a_silent_progress_writes_nothing():
    stream = io.StringIO()
    shown = progress_module.progress("epoch 1/1", 3, enabled=False, stream=stream, interval=0)
    shown.update()
    assert stream.getvalue() == ""


def test_a_notebook_kernel_gets_tqdm_auto(monkeypatch):
    pytest.importorskip("tqdm")
    import tqdm.auto

    class Shell(object):
        kernel = object()

    class IPythonModule(object):
        @staticmethod
        def get_ipython():
            return Shell()

    monkeypatch.setitem(sys.modules, "IPython", IPythonModule)
    shown = Progress("epoch 1/1", total=2, stream=io.StringIO())
    try:
        assert shown.style == "notebook" and isinstance(shown.bar, tqdm.auto.tqdm)
    finally:
        shown.close()


def edge_train(data, out, *extra):
    return [sys.executable, "-m", "train", data, "--out", out] + TINY + list(extra)


def environment(interval):
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT, **{INTERVAL_VARIABLE: interval})


def test_edge_train_with_stderr_a_pipe_prints_plain_progress_lines(data, tmp_path):
    # --lr find runs the learning-rate finder first: its lines are checked on the same run.
    done = subprocess.run(edge_train(data, str(tmp_path / "run"), "--lr", "find"), cwd=ROOT,
                          env=environment("0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "\r" not in done.stderr
    train_lines = [line for line in lines if TRAIN_LINE.match(line)]
    assert {TRAIN_LINE.match(line).group(1) for line in train_lines} == {"1", "2"}
    last = TRAIN_LINE.match(train_lines[-1])
    assert last.group(2) == last.group(3) and last.group(4) == ", 0 s left"
    assert any(re.match(r"^epoch 2/2 validation: batch \d+/\d+, \d+ img/s", line) for line in lines)
    finder = [line for line in lines if line.startswith("lr finder: step ")]
    assert finder and re.match(r"^lr finder: step 1/100, \d+ img/s, lr 1\.0e-06, loss [\d.]+, \d+ s left$",
                               finder[0]), finder[:2]


def test_edge_train_with_the_default_interval_prints_no_line_for_a_short_epoch(data, tmp_path):
    done = subprocess.run(edge_train(data, str(tmp_path / "run"), "--lr", "3e-3"), cwd=ROOT,
                          env=environment(""), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "epoch   2/2  train loss" in done.stderr and not re.search(r"^epoch \d/2", done.stderr, re.M)


def read_all(descriptor, chunks):
    while True:
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:   # EIO: the child closed its end
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_edge_train_on_a_terminal_gets_the_bar_and_no_plain_lines(data, tmp_path):
    pytest.importorskip("tqdm")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))   # a terminal 120 columns wide
    chunks = []
    reader = threading.Thread(target=read_all, args=(master, chunks))
    reader.start()
    try:
        done = subprocess.run(edge_train(data, str(tmp_path / "run"), "--lr", "3e-3"), cwd=ROOT,
                              env=environment("0"), stdout=subprocess.PIPE, stderr=slave, timeout=600)
    finally:
        os.close(slave)
        reader.join(30)
        os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == 0, terminal
    assert "\r" in terminal and re.search(r"epoch 1/2: +\d+%\|", terminal), terminal
    assert "batch/s" in terminal or "s/batch" in terminal
    assert not re.search(r"epoch \d/2: batch \d+/\d+, ", terminal), terminal   # no lines beside the bar
