"""Publish only when asked: on a change of the top-1 label, above a confidence, with a heartbeat.

The filters read a classifier's "prediction" and "confidence" (edge.tasks.postprocess). A regression
result has neither (edge-camera refuses the filters for a regression bundle); given one anyway, a
confidence filter lets it through and a change is a change of its points.
"""

import time

from edge.sinks.base import Sink


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
        confidence = result.get("confidence")
        if self.min_confidence is not None and confidence is not None and confidence < self.min_confidence:
            ok = False
        seen = seen_as(result)
        if ok and self.on_change and seen == self.last_label:
            ok = False
        if ok or due:
            self.last_label = seen
            self.last_sent = now
            return True
        return False


def seen_as(result):
    """What a result says was seen, to tell a change: the top-1 label, or a regression result's points."""
    if "prediction" in result:
        return result["prediction"]
    return tuple(sorted((result.get("values") or {}).items()))


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
