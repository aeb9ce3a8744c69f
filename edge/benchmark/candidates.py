"""Every runtime and precision edge-bench tries, with the reason when one cannot run here.

The rows are the registry's (edge.runners.registry): each runtime's bench precisions, the reference
first. Rows that cannot run do not vanish: they say why ("TensorRT: not installed", "INT8: no fast
INT8 on this GPU", "no fp16 engine for this GPU: build it with ...") and, for edge-doctor, what to do.
"""

from edge.errors import EdgeError
from edge.runners import registry
from edge.runners.runtime import Options


class Candidate(object):
    def __init__(self, runtime, precision, runner=None, reason=None):
        self.runtime, self.precision = runtime, precision
        self.runner = runner      # a not-yet-activated Runner, or None
        self.reason = reason      # why it cannot run here, when runner is None

    @property
    def label(self):
        return "{} {}".format(self.runtime, self.precision)

    @property
    def fix(self):
        """What to do about the reason it cannot run here, when its runtime knows (for edge-doctor); else None."""
        runtime = registry.get(self.runtime)
        return runtime.skip_fix(self.reason) if runtime is not None and self.reason else None


def rows(runtimes=None, precisions=None):
    """[(Runtime, precision)]: every bench row of the registry, filtered by runtime names and precisions."""
    return [(runtime, precision) for runtime in registry.rows_order() if not runtimes or runtime.name in runtimes
            for precision in runtime.bench_precisions if not precisions or precision in precisions]


def _runner(runtime, bundle, precision, options):
    """(runner, None), or (None, why it cannot run here)."""
    if not runtime.available():
        return None, runtime.missing
    reason = runtime.unavailable(bundle, precision) if runtime.unavailable is not None else None
    if reason:
        return None, reason
    return runtime.make(bundle, precision, options), None


def candidates(bundle, runtimes=None, checkpoint=None, threads=None, log=None, precisions=None):
    """One Candidate per row (filtered by `runtimes` and `precisions`), runnable or with its reason."""
    options = Options(threads=threads, checkpoint=checkpoint, log=log)
    found = []
    for runtime, precision in rows(runtimes, precisions):
        try:
            runner, reason = _runner(runtime, bundle, precision, options)
        except EdgeError as exc:
            runner, reason = None, str(exc)
        found.append(Candidate(runtime.name, precision, runner, reason))
    return found
