"""The Prometheus text exposition format (0.0.4): the one writer behind every /metrics.

    text = Exposition()
    text.family("frames_total", "counter", "Frames classified", [((), 12)])
    text.histogram("request_seconds", "Request latency", [((("route", "/v1/predict"),), histogram)])
    body = text.render()

Names get the project's "edge_" prefix. A family's samples are (labels, value) pairs, labels a
tuple of (name, value) pairs. Histograms keep fixed buckets: memory stays flat over months.
"""

import bisect

PREFIX = "edge_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def number(value):
    """A sample value as the format writes it: integers plain, floats rounded to 6 places."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "+Inf" if value > 0 else "-Inf"
        return repr(round(value, 6))
    return str(value)


def label_text(labels):
    """'{a="x",b="y"}' (values escaped as the format asks), or '' for no labels."""
    if not labels:
        return ""
    return "{" + ",".join('{}="{}"'.format(name, str(value).replace("\\", "\\\\").replace("\n", "\\n")
                                           .replace('"', '\\"')) for name, value in labels) + "}"


class Histogram(object):
    """Observations counted into fixed buckets (upper bounds, ascending), with their sum and count.

    Not thread-safe on its own: its owner observes and renders under one lock.
    """

    def __init__(self, bounds):
        self.bounds = tuple(float(bound) for bound in bounds)
        self.counts = [0] * (len(self.bounds) + 1)   # the last one: above every bound (+Inf)
        self.count = 0
        self.total = 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def cumulative(self):
        """[(upper bound, observations at or below it)], ending with (+Inf, count)."""
        running, rows = 0, []
        for bound, count in zip(self.bounds + (float("inf"),), self.counts):
            running += count
            rows.append((bound, running))
        return rows

    def mean(self):
        return self.total / self.count if self.count else 0.0


class Exposition(object):
    """Lines of one /metrics answer, family by family."""

    def __init__(self, prefix=PREFIX):
        self.prefix = prefix
        self.lines = []

    def header(self, name, kind, help_text):
        self.lines.append("# HELP {}{} {}".format(self.prefix, name, help_text))
        self.lines.append("# TYPE {}{} {}".format(self.prefix, name, kind))

    def sample(self, name, labels, value):
        self.lines.append("{}{}{} {}".format(self.prefix, name, label_text(labels), number(value)))

    def family(self, name, kind, help_text, samples):
        """A counter or gauge: HELP, TYPE, then one line per (labels, value)."""
        self.header(name, kind, help_text)
        for labels, value in samples:
            self.sample(name, labels, value)

    def histogram(self, name, help_text, histograms):
        """A histogram family: per (labels, Histogram), its cumulative buckets, _sum and _count."""
        self.header(name, "histogram", help_text)
        for labels, histogram in histograms:
            for bound, count in histogram.cumulative():
                self.sample(name + "_bucket", tuple(labels) + (("le", number(bound)),), count)
            self.sample(name + "_sum", labels, histogram.total)
            self.sample(name + "_count", labels, histogram.count)

    def render(self):
        return "\n".join(self.lines) + "\n"
