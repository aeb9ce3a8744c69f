"""ONNX Runtime in the registry (edge.runners.registry): the bundle's fp32 or INT8 ONNX model, on CPUs and GPUs.

--runtime auto takes it when no TensorRT engine runs here; its automatic precision is INT8 when export
verified the bundle's INT8 model and this ONNX Runtime loads it (the fast path on CPUs), else fp32,
with the reason the INT8 model cannot be loaded here when that is why. A precision asked for by name
is not swapped, and fails with ORT's reason on one line.
"""

from edge.runners.onnxruntime.loader import ORT_INT8_FLAVORS, load_problem, onnx_artifact
from edge.runners.runtime import Runtime, TritonPlatform, Verdict


def _make(bundle, precision, options):
    from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
    return OnnxRuntimeRunner(bundle, precision=precision, threads=options.threads, spinning=options.spinning,
                             frame_rate=options.frame_rate, log=options.log)


def int8_verified(bundle):
    """True when export measured the ONNX Runtime INT8 model and it passed the bar it recorded (the bundle's
    task reads the record: edge.tasks)."""
    figures = (bundle.manifest.get("verification") or {}).get("int8") or {}
    for flavor in ORT_INT8_FLAVORS:
        entry = figures.get(flavor)
        if entry and bundle.artifact("onnx", precision="int8", flavor=flavor):
            return bundle.task.int8_passed(entry)
    return False


def choose_precision(bundle):
    """(precision, why): int8 when the bundle has a verified INT8 model that this ONNX Runtime loads, else fp32
    (with the reason the INT8 model cannot be loaded here, when that is why)."""
    if not int8_verified(bundle):
        return "fp32", "fp32 (no verified INT8 model)"
    problem = load_problem(bundle, onnx_artifact(bundle, "int8"))
    if problem is None:
        return "int8", "int8 (verified INT8 model in the bundle)"
    return "fp32", "fp32 (instead of the verified INT8 model: {})".format(problem)


def _automatic(bundle, precision, build_engine):
    return Verdict(True, "ONNX Runtime runs here")


RUNTIME = Runtime(
    "onnxruntime", "ONNX Runtime", module="onnxruntime", precisions=("fp32", "int8"), make=_make,
    refusal="ONNX Runtime runs the bundle's fp32 or int8 models; fp16 is a TensorRT engine precision "
            "(--runtime tensorrt)",
    choose_precision=choose_precision, automatic=_automatic, install="onnxruntime",
    missing="ONNX Runtime: not installed",
    artifact="onnx", triton=TritonPlatform("onnxruntime_onnx", "onnxruntime", "model.onnx"))
