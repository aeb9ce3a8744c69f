"""Every runtime and precision edge-bench tries, with the reason when one cannot run here.

Rows that cannot run do not vanish: they say why ("TensorRT: not installed", "INT8: no fast INT8
on this GPU", "no fp16 engine for this GPU: build it with ...").
"""

from edge.errors import EdgeError
from edge.util.lazy import available

ROWS = (("pytorch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
        ("tensorrt", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8"))


class Candidate(object):
    def __init__(self, runtime, precision, runner=None, reason=None):
        self.runtime, self.precision = runtime, precision
        self.runner = runner      # a not-yet-activated Runner, or None
        self.reason = reason      # why it cannot run here, when runner is None

    @property
    def label(self):
        return "{} {}".format(self.runtime, self.precision)


def _pytorch(bundle, checkpoint, threads):
    if not available("torch"):
        return None, "PyTorch: not installed (a desktop reference)"
    from edge.runners.plugins import plugin_runner
    # The runner checks its checkpoint when made: the reason comes back when it is not here.
    return plugin_runner("pytorch")(bundle, checkpoint=checkpoint, threads=threads), None


def _onnxruntime(bundle, precision, threads):
    if not available("onnxruntime"):
        return None, "ONNX Runtime: not installed"
    from edge.runners.onnxruntime_runner import OnnxRuntimeRunner
    return OnnxRuntimeRunner(bundle, precision=precision, threads=threads), None


def _tensorrt(bundle, precision, log):
    if not available("tensorrt"):
        return None, "TensorRT: not installed (comes with JetPack on a Jetson)"
    from edge.runners.tensorrt_runner import TensorRTRunner, unavailable_reason
    reason = unavailable_reason(bundle, precision)
    if reason:
        return None, reason
    return TensorRTRunner(bundle, precision=precision, log=log), None


def candidates(bundle, runtimes=None, checkpoint=None, threads=None, log=None, precisions=None):
    """One Candidate per row of ROWS (filtered by `runtimes` and `precisions`), runnable or with its reason."""
    found = []
    for runtime, precision in ROWS:
        if (runtimes and runtime not in runtimes) or (precisions and precision not in precisions):
            continue
        try:
            if runtime == "pytorch":
                runner, reason = _pytorch(bundle, checkpoint, threads)
            elif runtime == "onnxruntime":
                runner, reason = _onnxruntime(bundle, precision, threads)
            else:
                runner, reason = _tensorrt(bundle, precision, log)
        except EdgeError as exc:
            runner, reason = None, str(exc)
        found.append(Candidate(runtime, precision, runner, reason))
    return found
