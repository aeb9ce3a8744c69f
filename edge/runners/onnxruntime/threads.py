"""How many intra-op threads ONNX Runtime gets in a camera-rate loop when --threads is not given.

At a camera's rate the CPU a result costs matters more than its latency, and one intra-op thread is
often the cheapest: no worker threads to wake for every frame and park again. So a runner told the
loop's rate (edge-camera, and edge-bench --source, which measures what edge-camera runs: frames a
second times the model inputs each frame makes, 1 without --tta) loads its session with one thread,
times PROBE_RUNS inferences of the model's warm-up input (zeros of one input's shape, after one
untimed run), and keeps the one thread when their p90 is at most half the interval between inputs
(HEADROOM: room left for the capture, the host stages and a slower frame); otherwise it loads the
session again with ONNX Runtime's default. The decision is said in one line. --threads N is taken
as given and nothing is timed.
"""

import time

import numpy as np

from edge.benchmark.stats import percentile

PROBE_RUNS = 10
HEADROOM = 0.5              # one thread fits when its p90 is at most this share of the frame interval


def warmup_feed(session):
    """{input name: zeros} for the session's first input: its shape, a dynamic dimension taken as 1."""
    tensor = session.get_inputs()[0]
    shape = [dim if isinstance(dim, int) and dim > 0 else 1 for dim in tensor.shape]
    return {tensor.name: np.zeros(shape, np.uint8 if tensor.type == "tensor(uint8)" else np.float32)}


def time_session(session, runs=PROBE_RUNS):
    """Milliseconds of `runs` inferences of the warm-up input, after one untimed run."""
    feed = warmup_feed(session)
    session.run(None, feed)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def fit_threads(samples_ms, rate):
    """(1 or None, the one line saying why): 1 when the one-thread p90 of `samples_ms` is at most HEADROOM
    of the interval between inputs at `rate` a second, else None (ONNX Runtime's default)."""
    limit = HEADROOM * 1000.0 / rate
    measured = percentile(samples_ms, 90)
    words = "one-thread inference p90 {:.1f} ms {} {:.1f} ms, half the interval at {:g} inputs a second".format(
        measured, "<=" if measured <= limit else ">", limit, rate)
    if measured <= limit:
        return 1, "ONNX Runtime threads: 1 ({})".format(words)
    return None, "ONNX Runtime threads: the runtime's default ({})".format(words)
