"""The CPU a result of edge-bench --source costs: all of it, the inference's share, and where the rest goes.

Every figure is milliseconds of CPU per result, over the run's steady part: from the first result to the
last (Marks taken then), divided by the results after the first. The start (opening the source, the
first frame, the runtime's first call) is left out. Measured so:

total        the process's CPU clock (every thread; edge.util.cpu.process_cpu_seconds).
inference    two parts. On the loop's thread, measured in the run itself: that thread's CPU clock around
             every runner.infer() call (CountedRunner; with ONNX Runtime at one intra-op thread this is
             all of it). On the runtime's own worker threads, which no clock here sees per call: after
             the run, on the same runner, still loaded, with nothing else running, the last frame's
             prepared input is inferred `calls` times, paced at the run's result interval (so the
             workers park and wake as they did), and the process's CPU per call less the calling
             thread's is that share. Its limits: the same input again, with the capture stopped, so
             the workers' share can read a little below what it cost in the run (that difference is
             counted outside). Without a per-thread clock (THREAD_CLOCK False) inference is the replay's
             process CPU per call, all of it measured after the run.
outside      total - inference: capture, conversion, resize, preprocessing, postprocessing, publishing,
             the preview, the loop itself.

The split of `outside`, by per-thread CPU clocks (edge.util.cpu.thread_cpu_seconds; not split where the
platform has none):
capture      the reader thread while it reads and hands frames over, and the grabber thread watching it
             (decoding, colour conversion and scaling done on the reader thread: edge.sources.grabber).
host stages  the loop's thread in its per-frame work (preprocess, postprocess, publish, telemetry:
             edge.daemon.loop) less its CPU inside runner.infer(). `publish` is its part inside the
             sinks' publish().
loop         the loop's thread between frames: taking the next frame, health and model-swap checks.
other        outside - capture - host stages - loop: threads no clock here sees (a decoder's own threads,
             GStreamer's streaming threads, OpenCV's and the preview's threads). Floored at 0: when the
             replay reads the workers' share above its cost in the run, the named parts can exceed
             outside; `other` then reads 0 and the excess is the accounting's error.
"""

import collections
import time

from edge.util.cpu import THREAD_CLOCK, process_cpu_seconds, thread_cpu_seconds

REPLAY_S = 2.0              # how long the inference replay runs, at most MAX_CALLS and at least MIN_CALLS calls
MIN_CALLS, MAX_CALLS = 20, 200

# The counters at one moment: wall and process CPU seconds, the grabber's read CPU, the loop thread's CPU, the
# loop's frame and publish CPU, and the loop thread's CPU inside runner.infer().
Marks = collections.namedtuple("Marks", "wall process read thread frame publish inference")


class CountedRunner(object):
    """What a task's model calls of a runner, infer(), with the calling thread's CPU inside it summed (cpu_s)."""

    def __init__(self, runner):
        self.runner = runner
        self.cpu_s = 0.0

    def infer(self, batch):
        started = thread_cpu_seconds()
        try:
            return self.runner.infer(batch)
        finally:
            self.cpu_s += thread_cpu_seconds() - started


def marks(daemon, grabber, counted):
    """The counters now, of an edge.daemon.loop.CameraDaemon, its edge.sources.grabber.LatestFrameGrabber and the
    CountedRunner its model calls; called on the loop's thread (its CPU clock is the caller's)."""
    return Marks(time.perf_counter(), process_cpu_seconds(), grabber.read_cpu_s, thread_cpu_seconds(),
                 daemon.frame_cpu_s, daemon.publish_cpu_s, counted.cpu_s)


def replay_calls(interval_s):
    """How many calls the replay makes at one call every `interval_s` seconds."""
    return int(min(MAX_CALLS, max(MIN_CALLS, REPLAY_S / max(interval_s, 1e-6))))


def replay_inference(infer, interval_s, calls):
    """(process CPU seconds, calling thread CPU seconds) per call of infer(), over `calls` calls started
    `interval_s` apart (back to back when a call takes longer), after one untimed call."""
    infer()
    process_started, thread_started = process_cpu_seconds(), thread_cpu_seconds()
    due = time.perf_counter()
    for _ in range(calls):
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        infer()
        due += interval_s
    return ((process_cpu_seconds() - process_started) / calls,
            (thread_cpu_seconds() - thread_started) / calls)


def cpu_section(first, last, results, drain_s, replay, calls, interval_s):
    """The measurement's "cpu" document: figures in ms per result (see the module's docstring).

    first, last: Marks at the first and the last result; results: how many came between them (the first not
    counted); drain_s: the grabber thread's CPU watching the reader, the whole run; replay: replay_inference's
    pair over `calls` calls `interval_s` apart."""
    wall, cpu_seconds = last.wall - first.wall, last.process - first.process
    per_result = 1000.0 / results
    total = cpu_seconds * per_result
    replay_ms, replay_calling_ms = replay[0] * 1000.0, replay[1] * 1000.0
    section = {"percent_of_one_core": 100.0 * cpu_seconds / wall, "ms_per_result": total,
               "window": {"results": results, "seconds": wall},
               "inference_replay": {"calls": calls, "interval_ms": interval_s * 1000.0, "process_ms": replay_ms,
                                    "calling_thread_ms": replay_calling_ms},
               "thread_clock": THREAD_CLOCK}
    if not THREAD_CLOCK:
        section.update(inference_ms=replay_ms, outside_inference_ms=total - replay_ms)
        return section
    calling = (last.inference - first.inference) * per_result
    workers = max(0.0, replay_ms - replay_calling_ms)
    inference = calling + workers
    section.update(inference_ms=inference, outside_inference_ms=total - inference,
                   inference_parts={"calling_thread_ms": calling, "worker_threads_ms": workers})
    capture = (last.read - first.read + drain_s) * per_result
    frames = (last.frame - first.frame) * per_result
    host = max(0.0, frames - calling)
    loop = max(0.0, (last.thread - first.thread) * per_result - frames)
    section["outside"] = {"capture_ms": capture, "host_stages_ms": host,
                          "publish_ms": (last.publish - first.publish) * per_result, "loop_ms": loop,
                          "other_ms": max(0.0, section["outside_inference_ms"] - capture - host - loop)}
    return section


def cpu_text(section):
    """One line: "cpu: 14% of one core, 4.70 ms per result: inference 3.90 ms, outside inference 0.80 ms
    (capture 0.50, host stages 0.20 of which publish 0.02, loop 0.05, other 0.05)"."""
    line = "cpu: {:.0f}% of one core, {:.2f} ms per result: inference {:.2f} ms, outside inference {:.2f} ms".format(
        section["percent_of_one_core"], section["ms_per_result"], section["inference_ms"],
        section["outside_inference_ms"])
    outside = section.get("outside")
    if outside is None:
        return line + " (no per-thread CPU clock here: not split further)"
    return line + " (capture {:.2f}, host stages {:.2f} of which publish {:.2f}, loop {:.2f}, other {:.2f})".format(
        outside["capture_ms"], outside["host_stages_ms"], outside["publish_ms"], outside["loop_ms"],
        outside["other_ms"])
