"""Choose and build the runner for a bundle: --runtime auto|tensorrt|onnxruntime|pytorch.

auto picks the fastest this machine can run and says why: a TensorRT engine built for this GPU
and TensorRT version when TensorRT is installed, else ONNX Runtime (INT8 when the bundle has a
verified INT8 model, which is the fast path on CPUs), never PyTorch (a desktop reference).
"""

from edge.errors import EdgeError
from edge.lazy import available

RUNTIMES = ("auto", "tensorrt", "onnxruntime", "pytorch")
PRECISIONS = ("auto", "fp32", "fp16", "int8")


def int8_verified(bundle):
    """True when export measured the ONNX Runtime INT8 model and it passed its agreement bar."""
    figures = (bundle.manifest.get("verification") or {}).get("int8") or {}
    for flavour in ("ort-qdq-u8s8", "tensorrt-qdq-s8s8"):
        entry = figures.get(flavour)
        if entry and bundle.artifact("onnx", precision="int8", flavour=flavour):
            return entry.get("top1_agreement", 0.0) >= entry.get("min_agreement", 0.98)
    return False


def make_runner(bundle, runtime="auto", precision="auto", threads=None, checkpoint=None, build_engine=False,
                log=None):
    """A not-yet-activated runner and a one-line reason for the choice."""
    if runtime not in RUNTIMES:
        raise EdgeError("unknown --runtime {!r}; choose from {}".format(runtime, ", ".join(RUNTIMES)))
    if precision not in PRECISIONS:
        raise EdgeError("unknown --precision {!r}; choose from {}".format(precision, ", ".join(PRECISIONS)))
    if runtime == "auto":
        runtime, why = auto_runtime(bundle)
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
            precision = "int8" if int8_verified(bundle) else "fp32"
            why += "; {} ({})".format(precision, "verified INT8 model in the bundle" if precision == "int8"
                                      else "no verified INT8 model")
        from edge.runners.onnxruntime_runner import OnnxRuntimeRunner
        return OnnxRuntimeRunner(bundle, precision=precision, threads=threads), why
    if precision not in ("auto", "fp32"):
        raise EdgeError("the PyTorch runner is the fp32 desktop reference; use --precision fp32")
    from edge.runners.pytorch_runner import PyTorchRunner
    return PyTorchRunner(bundle, checkpoint=checkpoint, threads=threads), why


def auto_runtime(bundle):
    if available("tensorrt"):
        if bundle.artifacts("tensorrt_engine"):
            return "tensorrt", "TensorRT is installed and the bundle has engines"
        return "onnxruntime", ("TensorRT is installed but the bundle has no engine: build one with "
                               "edge-export {} --engine fp16".format(bundle.path))
    if available("onnxruntime"):
        return "onnxruntime", "TensorRT is not installed"
    raise EdgeError("no runtime available: install onnxruntime, or TensorRT (comes with JetPack)")
