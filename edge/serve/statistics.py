"""Triton's statistics extension for edge-serve's models: counts and times measured as requests run.

    statistics = ModelStatistics()
    batcher = DynamicBatcher(..., account=...)       # statistics.request_finished(pending) as each request ends
    statistics.batch_ran(pending_list, images)        # once per batch that ran, for this model's requests in it
    statistics.request_refused(seconds)               # a request this model never ran (queue full, stopping)
    statistics.view(name, version)                    # Triton's ModelStatistics as JSON

What each number is, as Triton defines it (model_statistics in Triton's statistics extension):
- success: requests answered, and their time from submission to the batcher until answered;
  fail: requests that failed (the runner failed, no room in the queue, shutting down), and their
  time until refused. As in Triton, input the model cannot take is refused before it counts;
- queue, compute_input, compute_infer, compute_output: for successful requests, the wait for their
  batch to start, gathering the batch's input rows, the runner calls, handing out its output rows.
  As in Triton, each request of a batch counts its batch's compute times;
- inference_count: images inferred successfully; execution_count: batches run successfully for
  this model's requests; last_inference: when the last such batch finished (ms since the epoch);
- batch_stats: per batch size (images in a runner batch), its count and compute times.
A batch holding requests for several of the server's models counts once for each.
Times are time.perf_counter() differences, in integer nanoseconds. Thread-safe. Python 3.6 compatible.
"""

import threading
import time

PHASES = ("compute_input", "compute_infer", "compute_output")


def _nanoseconds(seconds):
    return int(round(max(0.0, seconds) * 1e9))


class Duration(object):
    """A count and total nanoseconds (Triton's StatisticDuration)."""

    def __init__(self):
        self.count = 0
        self.ns = 0

    def add(self, seconds):
        self.count += 1
        self.ns += _nanoseconds(seconds)

    def view(self):
        return {"count": self.count, "ns": self.ns}


class ModelStatistics(object):
    def __init__(self):
        self._lock = threading.Lock()
        self.last_inference_ms = 0
        self.inference_count = 0
        self.execution_count = 0
        self.requests = dict((name, Duration()) for name in ("success", "fail", "queue") + PHASES)
        self.batches = {}   # batch size -> {phase: Duration}

    def request_finished(self, pending):
        """A request the batcher finished (batcher.Pending): answered, or failed."""
        with self._lock:
            if pending.error is not None:
                self.requests["fail"].add(pending.total_s)
                return
            for name, seconds in (("success", pending.total_s), ("queue", pending.queue_s),
                                  ("compute_input", pending.input_s), ("compute_infer", pending.inference_s),
                                  ("compute_output", pending.output_s)):
                self.requests[name].add(seconds)

    def request_refused(self, seconds):
        """A request for this model refused after `seconds` on its way to the batcher (no room, stopping)."""
        with self._lock:
            self.requests["fail"].add(seconds)

    def batch_ran(self, batch, images):
        """A batch of `images` images ran; `batch`: this model's requests (batcher.Pending) in it, their error
        and times set. A failed batch counts no execution (its requests count as failures)."""
        if not batch or batch[0].error is not None:
            return
        first = batch[0]
        with self._lock:
            self.inference_count += sum(pending.size for pending in batch)
            self.execution_count += 1
            self.last_inference_ms = int(time.time() * 1000)
            phases = self.batches.setdefault(int(images), dict((name, Duration()) for name in PHASES))
            for name, seconds in zip(PHASES, (first.input_s, first.inference_s, first.output_s)):
                phases[name].add(seconds)

    def view(self, name, version):
        """Triton's ModelStatistics of this model as JSON (statistics extension field names)."""
        with self._lock:
            inference_stats = dict((key, duration.view()) for key, duration in self.requests.items())
            inference_stats.update({"cache_hit": Duration().view(), "cache_miss": Duration().view()})  # no cache
            batch_stats = [dict([("batch_size", size)] + [(phase, self.batches[size][phase].view())
                                                           for phase in PHASES])
                           for size in sorted(self.batches)]
            return {"name": name, "version": version, "last_inference": self.last_inference_ms,
                    "inference_count": self.inference_count, "execution_count": self.execution_count,
                    "inference_stats": inference_stats, "batch_stats": batch_stats,
                    "response_stats": {}, "memory_usage": []}   # decoupled models' responses; no memory report
