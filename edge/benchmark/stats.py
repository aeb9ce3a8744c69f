"""Latency statistics: percentiles with linear interpolation (numpy's default, trtexec's too)."""

import numpy as np

STAT_KEYS = ("mean", "p50", "p90", "p99", "min", "max", "std")


def percentile(samples, q):
    """The q-th percentile (0..100) of `samples`, linearly interpolated between order statistics."""
    values = np.sort(np.asarray(samples, dtype=np.float64))
    if values.size == 0:
        raise ValueError("no samples")
    position = (values.size - 1) * q / 100.0
    low = int(np.floor(position))
    high = min(low + 1, values.size - 1)
    return float(values[low] + (values[high] - values[low]) * (position - low))


def summarize(samples):
    """{mean, p50, p90, p99, min, max, std, n} of latency samples in milliseconds."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples")
    return {"mean": float(values.mean()), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "min": float(values.min()), "max": float(values.max()),
            "std": float(values.std()), "n": int(values.size)}
