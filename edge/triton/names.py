"""Model names: one name means one precision and one input, on edge-serve and in the exported Triton repository.

    NAME                 the fp32 ONNX model; its input is the bundle's tensor (FP32 [3,H,W] normalised,
                         FORMAT_NCHW; a fused bundle's (the default): UINT8 [H,W,3] BGR, FORMAT_NHWC)
    NAME_int8            the INT8 ONNX model (ONNX Runtime's flavor), same input
    NAME_trt_<precision> a TensorRT engine (NAME_trt_fp16, NAME_trt_int8), same input
    <any of these>_image the same model behind its image entry: UINT8 [H,W,3] RGB pixels at the model's
                         size, FORMAT_NHWC, the normalisation fused (Triton's image_client.py -s NONE)

NAME is the bundle folder's name, or --triton-name / --model-name. Python 3.6 compatible.
"""

import re

from edge.bundle.bundle import FLAVOR
from edge.bundle.schema import ORT_INT8
from edge.runners.registry import runtime_of

IMAGE_SUFFIX = "_image"


def precision_suffix(artifact_kind, precision, flavor=None):
    """'' for fp32 ONNX, '_int8' for INT8 ONNX (ONNX Runtime's flavor; another flavor adds its name),
    '_trt_<precision>' for an engine, '_<kind>_<precision>' otherwise."""
    if artifact_kind == "onnx":
        suffix = "" if precision == "fp32" else "_" + precision
        if precision == "int8" and flavor not in (None, ORT_INT8):
            suffix += "_" + flavor
    elif artifact_kind == "tensorrt_engine":
        suffix = "_trt_" + precision
    else:
        suffix = "_{}_{}".format(artifact_kind, precision)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", suffix)


def served_name(base, runner):
    """edge-serve's model name for `runner` (a started or made edge.runners runner): `base` with the suffix of
    the model the exported repository serves under that name."""
    runtime = runtime_of(runner)
    entry = getattr(runner, "entry", None) or {}
    return base + precision_suffix(runtime.artifact if runtime is not None else runner.name, runner.precision,
                                   entry.get(FLAVOR))


def image_name(name):
    """The name of `name`'s image entry."""
    return name + IMAGE_SUFFIX
