"""ONNX Runtime loader: the bundle's fp32 or INT8 ONNX model as an InferenceSession (the runner,
edge.runners.onnxruntime.runner, runs it).

A model file this ONNX Runtime cannot load raises CannotLoad, an EdgeError whose one line says why
without ORT's C++ source location: an older ORT refuses an opset it does not know (1.10, JetPack
4.6's era, stops at "Opset 5 is under development" for ai.onnx.ml, which bundles from before
export.onnx_export.keep_used_opsets import unused). `load_problem` asks the same question up
front, so that an automatic choice (edge.runners.onnxruntime.runtime) can take the next model instead.
"""

import re

from edge.bundle.schema import ORT_INT8, TENSORRT_INT8
from edge.errors import EdgeError, first_line
from edge.util.lazy import require

# Execution providers in order of preference, when this onnxruntime build has them.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# INT8 flavors in order of preference for ONNX Runtime (uint8 activations are its fast x86 path).
ORT_INT8_FLAVORS = (ORT_INT8, TENSORRT_INT8)


def onnx_artifact(bundle, precision):
    """The bundle's ONNX artifact for `precision` ("fp32" or "int8") taking the bundle's own input (never a fused
    bundle's TensorRT 8.2 family), or an EdgeError saying why not."""
    if precision == "fp32":
        entry = bundle.onnx("fp32")
    elif precision == "int8":
        entry = None
        for flavor in ORT_INT8_FLAVORS:
            entry = bundle.onnx("int8", flavor=flavor)
            if entry:
                break
    else:
        raise EdgeError("ONNX Runtime runs fp32 or int8 models, not {}".format(precision))
    if entry is None:
        raise EdgeError("bundle {} has no {} ONNX model{}".format(
            bundle.path, precision, " (export it with --int8 --calib DIR)" if precision == "int8" else ""))
    return entry


# What ORT puts before the reason: "[ONNXRuntimeError] : 1 : FAIL : Load model from X failed:" and
# "/onnxruntime_src/.../model_load_utils.h:47 void onnxruntime::...::ValidateOpsetForDomain(...) ".
_ORT_PREFIX = re.compile(r"^.*?Load model from .*? failed:\s*")
_SOURCE_LOCATION = re.compile(r"^\S+\.(?:h|cc|cpp):\d+\s+[^()]*\([^()]*\)\s*")
# The disclaimers around an unknown opset's "Opset 5 is under development ... Current official
# support for domain ai.onnx.ml is till opset 2."
_OPSET_DISCLAIMERS = re.compile(r"ONNX Runtime only \*guarantees\* support for models stamped with official released "
                                r"onnx opset versions\.\s*|The operator schemas .*? backward compatibility\.\s*")


class CannotLoad(EdgeError):
    """ONNX Runtime refused a model file (an opset or operator it does not know, a damaged graph)."""


def load_error_text(exc, limit=400):
    """ORT's reason for refusing a model, on one line, without the file name and C++ location it adds."""
    text = _SOURCE_LOCATION.sub("", _ORT_PREFIX.sub("", first_line(exc, limit=None, empty="")))
    text = _OPSET_DISCLAIMERS.sub("", text).strip()
    return text[:limit] if text else type(exc).__name__


def open_session(path, options=None, providers=("CPUExecutionProvider",)):
    """An onnxruntime.InferenceSession of `path`, or CannotLoad naming this ONNX Runtime and its reason."""
    ort = require("onnxruntime", "the ONNX Runtime runner")
    try:
        return ort.InferenceSession(path, sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidArgument types
        raise CannotLoad("ONNX Runtime {} cannot load {} ({})".format(ort.__version__, path, load_error_text(exc)))


def load_problem(bundle, entry):
    """Why this ONNX Runtime cannot load the bundle's model `entry` (one line), or None when it can.

    Loads it on the CPU with graph optimisations off: the opset and graph checks, none of the cost
    of a provider's own build. A file that does not match the manifest still raises EdgeError.
    """
    ort = require("onnxruntime", "the ONNX Runtime runner")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        open_session(bundle.check(entry), options)
    except CannotLoad as exc:
        return str(exc)
    return None


def available_providers():
    ort = require("onnxruntime", "the ONNX Runtime runner")
    return [p for p in PREFERRED_PROVIDERS if p in ort.get_available_providers()]


def load_session(path, threads=None, spinning=True, providers=None):
    """An optimised session of `path` on `providers` (default: the preferred ones this build has), or CannotLoad.

    threads: intra-op threads (None: ORT's default); spinning=False: they sleep between calls."""
    ort = require("onnxruntime", "the ONNX Runtime runner")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return open_session(path, options, providers or available_providers())
