"""Publish only when asked: on a change of the top-1 label, above a confidence, with a heartbeat.

What a result says was seen and its confidence are its task's to say (edge.tasks, found by the
result's vocabulary): a classifier's "prediction" and "confidence". A regression result has no
confidence (edge-camera refuses the filters for a regression bundle); given one anyway, a confidence
filter lets it through and a change is a change of its points.
"""

import time

from edge.sinks.base import Sink
from edge.tasks.registry import task_of_result


class PublishPolicy(object):
    def __init__(self, on_change=False, min_confidence=None, heartbeat=None):
        self.on_change = on_change
        self.min_confidence = min_confidence
        self.heartbeat = heartbeat      # seconds: publish at least this often even without a change
        self.last_label = None
        self.last_sent = 0.0

    @property
    def active(self):
        return self.on_change or self.min_confidence is not None

    def wants(self, result):
        now = time.time()
        due = self.heartbeat is not None and now - self.last_sent >= self.heartbeat
        ok = True
        task = task_of_result(result)
        confidence = task.confidence(result) if task is not None else None
        if self.min_confidence is not None and confidence is not None and confidence < self.min_confidence:
            ok = False
        seen = task.seen(result) if task is not None else None
        if ok and self.on_change and seen == self.last_label:
            ok = False
        if ok or due:
            self.last_label = seen
            self.last_sent = now
            return True
        return False


class FilteredSink(Sink):
    """Passes results to `sink` only when the policy wants them; the preview (HTTP) is not filtered."""

    def __init__(self, sink, policy):
        # No Sink.__init__: the counters (published, errors) are the wrapped sink's, read through.
        self.sink, self.policy = sink, policy
        self.name = sink.name
        self.filtered = 0

    def start(self):
        self.sink.start()

    def publish(self, result, frame=None):
        if self.policy.wants(result):
            self.sink.publish(result, frame)
        else:
            self.filtered += 1

    @property
    def published(self):
        return self.sink.published

    @property
    def errors(self):
        return self.sink.errors

    def close(self, timeout=1.0):
        self.sink.close(timeout)

    def health(self):
        health = dict(self.sink.health())
        health["filtered"] = self.filtered
        return health
