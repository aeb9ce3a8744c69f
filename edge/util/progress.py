"""Progress of long loops: a tqdm bar on a terminal or in a notebook, plain lines everywhere else.

Where stderr is not a terminal (a log file, systemd's journal, CI) a bar would be one line redrawn
with carriage returns, or nothing at all, so a loop writes one plain line at most every
PROGRESS_INTERVAL seconds instead:

    epoch 3/20: batch 120/400, 41 img/s, loss 0.53, 68 s left

On a terminal the loop gets a tqdm bar (when tqdm is installed; lines otherwise); inside a
Jupyter kernel tqdm.auto's notebook bar. EDGE_PROGRESS_INTERVAL sets the seconds between lines
(0: a line at every step). Used by edge-train's epochs, its learning-rate finder and
edge-export's INT8 calibration. Python 3.6 compatible; tqdm and IPython are never required.
"""

import importlib
import os
import sys
import threading
import time

from edge.errors import EdgeError

PROGRESS_INTERVAL = 10.0                  # seconds between progress lines where stderr is no terminal
INTERVAL_VARIABLE = "EDGE_PROGRESS_INTERVAL"
HEARTBEAT_FLOOR = 0.05                    # a heartbeat thread wakes at most this often, even at interval 0
LINES, BAR, NOTEBOOK, SILENT = "lines", "bar", "notebook", "silent"


def interval_setting(environ=None):
    """Seconds between progress lines: EDGE_PROGRESS_INTERVAL when set, else PROGRESS_INTERVAL."""
    text = (os.environ if environ is None else environ).get(INTERVAL_VARIABLE, "").strip()
    if not text:
        return PROGRESS_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise EdgeError("{}={!r}: give the seconds between progress lines, e.g. 10 (0: every step)".format(
            INTERVAL_VARIABLE, text))
    return seconds


def in_notebook():
    """True inside a Jupyter kernel (IPython is looked up only if the kernel imported it already)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def choose_style(stream):
    """NOTEBOOK in a Jupyter kernel, BAR on a terminal, LINES anywhere else."""
    if in_notebook():
        return NOTEBOOK
    isatty = getattr(stream, "isatty", None)
    return BAR if isatty is not None and isatty() else LINES


def make_bar(style, what, total, unit, stream):
    """A tqdm bar for BAR (tqdm.auto for NOTEBOOK), or None when tqdm is not installed."""
    try:
        module = importlib.import_module("tqdm.auto" if style == NOTEBOOK else "tqdm")
    except ImportError:
        return None
    if style == NOTEBOOK:
        return module.tqdm(total=total, desc=what, unit=unit, leave=False)
    return module.tqdm(total=total, desc=what, unit=unit, leave=False, file=stream)


def figure_text(value):
    return "{:.3g}".format(value) if isinstance(value, float) else str(value)


class Progress(object):
    """Counts the steps of one loop and shows them (see the module's docstring).

    what: the line's head ("epoch 3/20"); total: steps expected (None: unknown); unit: a step's name;
    items: the name of what a step processes, for a rate ("img": 41 img/s; None: steps a second);
    clock and interval: injectable for tests; style: LINES, BAR, NOTEBOOK or SILENT (None: chosen).
    """

    def __init__(self, what, total=None, unit="step", items=None, stream=None, clock=time.monotonic,
                 interval=None, style=None):
        self.what, self.total, self.unit, self.items_name = what, total, unit, items
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.interval = interval_setting() if interval is None else float(interval)
        self.style = style or choose_style(self.stream)
        self.bar = make_bar(self.style, what, total, unit, self.stream) if self.style in (BAR, NOTEBOOK) else None
        if self.style in (BAR, NOTEBOOK) and self.bar is None:
            self.style = LINES
        self.started = self.last_line = clock()
        self.done, self.items = 0, 0
        self.figures = {}
        self.stage = None            # what runs once the steps are done (a heartbeat line says it)
        self.lock = threading.Lock()

    def update(self, steps=1, items=0, **figures):
        """`steps` more done, `items` more processed; figures (loss=0.53) replace the line's last ones. Steps
        end a stage (set_stage)."""
        with self.lock:
            self.done += steps
            self.items += items
            self.stage = None
            self.figures.update(figures)
            if self.bar is not None:
                if figures:
                    self.bar.set_postfix(dict((k, figure_text(v)) for k, v in figures.items()), refresh=False)
                self.bar.update(steps)
            elif self.style == LINES:
                self.line_if_due()

    def line_if_due(self):
        now = self.clock()
        if now - self.last_line >= self.interval:
            self.last_line = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now):
        """The progress line at time `now`."""
        elapsed = max(now - self.started, 1e-9)
        if self.stage is not None:
            return "{}: {}, {:.0f} s so far".format(self.what, self.stage, elapsed)
        parts = ["{} {}{}".format(self.unit, self.done, "/{}".format(self.total) if self.total else "")]
        if self.items_name:
            parts.append("{:.0f} {}/s".format(self.items / elapsed, self.items_name))
        else:
            parts.append("{:.2g} {}/s".format(self.done / elapsed, self.unit))
        parts.extend("{} {}".format(name, figure_text(value)) for name, value in self.figures.items())
        if self.total and self.done:
            parts.append("{:.0f} s left".format(elapsed / self.done * max(0, self.total - self.done)))
        return "{}: {}".format(self.what, ", ".join(parts))

    def set_stage(self, stage):
        """Name what runs now that has no steps to count (a heartbeat's lines say it)."""
        with self.lock:
            self.stage = stage

    def heartbeat(self):
        """A context: while it runs, a thread writes the line whenever none was written for `interval`
        (for a call that reports no steps of its own). Lines only; a bar stays as it is."""
        return Heartbeat(self)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Heartbeat(object):
    def __init__(self, progress):
        self.progress = progress
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, name="progress heartbeat")
        self.thread.daemon = True

    def beat(self):
        progress = self.progress
        while not self.stopped.wait(max(progress.interval, HEARTBEAT_FLOOR)):
            with progress.lock:
                progress.line_if_due()

    def __enter__(self):
        if self.progress.style == LINES:
            self.thread.start()
        return self.progress

    def __exit__(self, *exc_info):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()


def progress(what, total=None, unit="step", items=None, enabled=True, **options):
    """A Progress, or a SILENT one where `enabled` is false (a distributed run's other ranks)."""
    return Progress(what, total, unit, items, style=None if enabled else SILENT, **options)
