"""Measure one runner: batch-1 latency, throughput per batch size, stage breakdown, memory, accuracy,
and with --tta what test-time augmentation costs per image and changes in accuracy.

All rows see identical inputs: the same encoded images, decoded and preprocessed the same way.
"""

import os
import time

import numpy as np

from edge.benchmark.stats import summarize
from edge.benchmark.timing import time_calls
from edge.util.lazy import require
from edge.bundle.preprocess import finish_input, resize_and_crop


def rss_mb():
    """Resident memory of this process now, in MiB (Linux)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20
    except (IOError, OSError, ValueError, IndexError):
        return None


def peak_rss_mb():
    """The process's peak resident memory so far (VmHWM), in MiB (Linux)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (IOError, OSError, ValueError):
        pass
    return None


def sample_inputs(images, spec, count=8, seed=0):
    """JPEG-encoded frames: the given BGR images, or generated ones 1.5x the input size."""
    cv2 = require("cv2", "benchmarking")
    if not images:
        rng = np.random.RandomState(seed)
        height, width = (int(v * 1.5) for v in spec.size)
        images = [rng.randint(0, 256, size=(height, width, 3)).astype(np.uint8) for _ in range(count)]
    encoded = []
    for image in images[:count]:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        encoded.append(data)
    return encoded


class Inputs(object):
    """The decoded frames and model inputs every row uses, prepared once."""

    def __init__(self, classifier, encoded):
        cv2 = require("cv2", "benchmarking")
        self.encoded = encoded
        self.frames = [cv2.imdecode(data, cv2.IMREAD_COLOR) for data in encoded]
        self.prepared = [classifier.prepare(frame) for frame in self.frames]

    def batch(self, size):
        items = [self.prepared[i % len(self.prepared)] for i in range(size)]
        return np.stack(items)


def stage_breakdown(classifier, inputs, iterations=30):
    """Median milliseconds of each stage of the deployed path, one frame at a time."""
    cv2 = require("cv2", "benchmarking")
    stages = {"decode": [], "resize": [], "normalize": [], "h2d": [], "compute": [], "d2h": [],
              "postprocess": []}
    runner = classifier.runner
    for index in range(iterations):
        data = inputs.encoded[index % len(inputs.encoded)]
        t0 = time.perf_counter()
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        t1 = time.perf_counter()
        resized = resize_and_crop(frame, classifier.spec)
        t2 = time.perf_counter()
        tensor = finish_input(resized, classifier.spec, classifier.fused)
        t3 = time.perf_counter()
        logits = runner.infer(tensor[None])
        t4 = time.perf_counter()
        classifier.postprocess(logits, [frame])
        t5 = time.perf_counter()
        stages["decode"].append((t1 - t0) * 1000.0)
        stages["resize"].append((t2 - t1) * 1000.0)
        stages["normalize"].append((t3 - t2) * 1000.0)
        split = runner.timings or {}
        infer_ms = (t4 - t3) * 1000.0
        # CPU runners have no copies: their whole call is compute.
        stages["h2d"].append(split.get("h2d", 0.0))
        stages["d2h"].append(split.get("d2h", 0.0))
        stages["compute"].append(infer_ms - split.get("h2d", 0.0) - split.get("d2h", 0.0))
        stages["postprocess"].append((t5 - t4) * 1000.0)
    return {name: float(np.median(values)) for name, values in stages.items()}


def tta_figures(classifier, inputs, plain, warmup_s, min_time_s, min_iters, labelled=None):
    """What --tta costs and changes, for a classifier with views: one image's views made, run as one batch and
    averaged, timed against the plain batch-1 latency `plain` (a summary); top-1 with the views."""
    one, views = inputs.batch(1), classifier.views
    samples = time_calls(lambda: classifier.probabilities(one), warmup_s, min_time_s, min_iters)
    latency = summarize(samples)
    figures = {"mode": views.mode, "views": views.count, "batch_limit": classifier.runner.batch_limit(),
               "latency_ms": latency, "iterations": len(samples), "cost": latency["p50"] / plain["p50"]}
    if labelled:
        figures["accuracy"] = classifier.bundle.task.accuracy(classifier, labelled)[0]
    return figures


def measure(candidate, bundle, encoded, batch_sizes, warmup_s, min_time_s, min_iters, labelled=None,
            log=print, views=None):
    """The result row of one runnable candidate (dict, JSON-ready); `views` (edge.tasks.tta, --tta) adds row["tta"]."""
    runner = candidate.runner
    row = {"runtime": candidate.runtime, "precision": candidate.precision, "runnable": True, "reason": None}
    rss_before = rss_mb()
    task = bundle.task
    with runner:
        classifier = task.model(bundle, runner, k=5)
        inputs = Inputs(classifier, encoded)
        row["runner"] = runner.describe()
        row["model_file"] = os.path.basename(runner.model_path) if runner.model_path else None
        row["model_bytes"] = os.path.getsize(runner.model_path) if runner.model_path else None
        one = inputs.batch(1)
        samples = time_calls(lambda: runner.infer(one), warmup_s, min_time_s, min_iters)
        row["latency_ms"] = summarize(samples)
        row["iterations"] = len(samples)
        row["throughput"] = {}
        for size in batch_sizes:
            batch = inputs.batch(size)
            timed = samples if size == 1 else time_calls(lambda: runner.infer(batch), warmup_s / 2, min_time_s,
                                                          max(5, min_iters // 4))
            row["throughput"][str(size)] = size * 1000.0 / float(np.mean(timed))
        row["stages_ms"] = stage_breakdown(classifier, inputs, iterations=max(30, min_iters))
        if labelled:
            row["accuracy"], row["_predictions"] = task.accuracy(classifier, labelled)
        if views is not None and views.count > 1:
            row["tta"] = tta_figures(task.model(bundle, runner, k=5, views=views), inputs, row["latency_ms"],
                                     warmup_s, min_time_s, min_iters, labelled)
            if labelled:
                row["tta"]["top1_change"] = row["tta"]["accuracy"]["top1"] - row["accuracy"]["top1"]
        rss_after = rss_mb()
        # Rows share one process: the peak is the process's so far (rows run in a fixed order),
        # the delta is what this row's runner added.
        delta = rss_after - rss_before if rss_after is not None and rss_before is not None else None
        row["memory"] = {"rss_mb": rss_after, "peak_rss_mb": peak_rss_mb(), "rss_delta_mb": delta,
                         "gpu_mb": runner.gpu_memory_mb()}
    log("  {:<18} p50 {:.3f} ms  p99 {:.3f} ms  ({} iterations)".format(
        candidate.label, row["latency_ms"]["p50"], row["latency_ms"]["p99"], row["iterations"]))
    if "tta" in row:
        tta = row["tta"]
        log("  {:<18} tta {}: p50 {:.3f} ms an image ({:.1f}x){}".format(
            candidate.label, tta["mode"], tta["latency_ms"]["p50"], tta["cost"],
            ", top-1 {:.2%} -> {:.2%}".format(row["accuracy"]["top1"], tta["accuracy"]["top1"]) if labelled else ""))
    return row


def not_runnable(candidate):
    return {"runtime": candidate.runtime, "precision": candidate.precision, "runnable": False,
            "reason": candidate.reason}
