"""Choose and build the runner for a bundle: --runtime auto|tensorrt|onnxruntime|pytorch.

auto picks the fastest this machine can run and says why: a TensorRT engine built for this GPU
and TensorRT version when there is one (or --build-engine will build it), else ONNX Runtime
(INT8 when the bundle has a verified INT8 model, which is the fast path on CPUs), never PyTorch
(a desktop reference, provided by the training package). A Jetson has no ONNX Runtime: with no
engine for it, auto answers with the command that builds one.

An automatic ONNX Runtime precision takes the next model when this ONNX Runtime cannot load the
INT8 one (an older ORT and an older bundle: edge.runners.onnxruntime_runner), and the reason says
so; a precision asked for by name is not swapped, and fails with ORT's reason on one line.
"""

from edge.bundle.bundle import INT8_MAX_MAE_INCREASE_PX, INT8_MIN_AGREEMENT, PRECISIONS
from edge.errors import EdgeError
from edge.util.lazy import available
from edge.runners.onnxruntime_runner import ORT_INT8_FLAVORS, load_problem, onnx_artifact
from edge.runners.plugins import plugin_runner

RUNTIMES = ("auto", "tensorrt", "onnxruntime", "pytorch")
PRECISION_CHOICES = ("auto",) + PRECISIONS


def int8_verified(bundle):
    """True when export measured the ONNX Runtime INT8 model and it passed its agreement bar."""
    figures = (bundle.manifest.get("verification") or {}).get("int8") or {}
    for flavor in ORT_INT8_FLAVORS:
        entry = figures.get(flavor)
        if entry and bundle.artifact("onnx", precision="int8", flavor=flavor):
            if entry.get("judged_by"):   # a regression model: its MAE change (or distance from FP32), in pixels
                return entry[entry["judged_by"]] <= entry.get("max_mae_increase_px", INT8_MAX_MAE_INCREASE_PX)
            agreement = entry.get("top1_agreement")   # none recorded: never measured, so never verified
            return agreement is not None and agreement >= entry.get("min_agreement", INT8_MIN_AGREEMENT)
    return False


def make_runner(bundle, runtime="auto", precision="auto", threads=None, checkpoint=None, build_engine=False,
                log=None, spinning=True):
    """A not-yet-activated runner and a one-line reason for the choice.

    spinning=False: ONNX Runtime's threads sleep between calls (a camera-rate loop, not a benchmark).
    """
    if runtime not in RUNTIMES:
        raise EdgeError("unknown --runtime {!r}; choose from {}".format(runtime, ", ".join(RUNTIMES)))
    if precision not in PRECISION_CHOICES:
        raise EdgeError("unknown --precision {!r}; choose from {}".format(precision, ", ".join(PRECISION_CHOICES)))
    if runtime == "auto":
        runtime, why = auto_runtime(bundle, precision, build_engine)
    else:
        why = "asked for"
    if runtime == "tensorrt":
        from edge.runners.tensorrt_runner import TensorRTRunner
        runner = TensorRTRunner(bundle, precision=precision, build_engine=build_engine, log=log)
        return runner, why
    if runtime == "onnxruntime":
        if precision == "fp16":
            raise EdgeError("ONNX Runtime runs the bundle's fp32 or int8 models; fp16 is a TensorRT engine "
                            "precision (--runtime tensorrt)")
        if precision == "auto":
            precision, chosen = onnxruntime_precision(bundle)
            why += "; " + chosen
        from edge.runners.onnxruntime_runner import OnnxRuntimeRunner
        return OnnxRuntimeRunner(bundle, precision=precision, threads=threads, spinning=spinning), why
    if precision not in ("auto", "fp32"):
        raise EdgeError("the PyTorch runner is the fp32 desktop reference; use --precision fp32")
    return plugin_runner("pytorch")(bundle, checkpoint=checkpoint, threads=threads), why


def onnxruntime_precision(bundle):
    """(precision, why) for ONNX Runtime: int8 when the bundle has a verified INT8 model that this ONNX
    Runtime loads, else fp32 (with the reason the INT8 model cannot be loaded here, when that is why)."""
    if not int8_verified(bundle):
        return "fp32", "fp32 (no verified INT8 model)"
    problem = load_problem(bundle, onnx_artifact(bundle, "int8"))
    if problem is None:
        return "int8", "int8 (verified INT8 model in the bundle)"
    return "fp32", "fp32 (instead of the verified INT8 model: {})".format(problem)


def auto_runtime(bundle, precision="auto", build_engine=False):
    """(runtime, why): TensorRT when an engine fits this device, else ONNX Runtime, else one clear error."""
    if available("tensorrt"):
        from edge.runners.tensorrt_runner import engine_for_this_device

        try:
            entry, why = engine_for_this_device(bundle, precision)
        except EdgeError as exc:   # the GPU cannot be told (no binding, no nvidia-smi) or CUDA fails
            entry, why = None, str(exc)
        if entry is not None:
            return "tensorrt", "{} fits this GPU and TensorRT".format(entry["file"])
        if build_engine:
            return "tensorrt", "no engine fits this device yet; --build-engine builds it"
        if available("onnxruntime"):
            return "onnxruntime", "no TensorRT engine for this device ({})".format(why)
        raise EdgeError("{} (or run with --build-engine; ONNX Runtime is not installed to fall back to)".format(why))
    if available("onnxruntime"):
        return "onnxruntime", "TensorRT is not installed"
    raise EdgeError("no runtime available: install onnxruntime, or TensorRT (comes with JetPack)")
