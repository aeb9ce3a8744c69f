"""Timing loops with warm-up and a minimum measuring time (trtexec/ultralytics style)."""

import time


def time_calls(call, warmup_s=0.5, min_time_s=2.0, min_iters=20, max_iters=100000):
    """Warm up for warmup_s, then call until both min_time_s and min_iters are reached.

    Returns the per-call latencies in milliseconds.
    """
    deadline = time.perf_counter() + warmup_s
    call()  # at least one warm-up call: first calls pay for lazy initialisation
    while time.perf_counter() < deadline:
        call()
    samples = []
    started = time.perf_counter()
    while len(samples) < max_iters and (len(samples) < min_iters or time.perf_counter() - started < min_time_s):
        before = time.perf_counter()
        call()
        samples.append((time.perf_counter() - before) * 1000.0)
    return samples
