"""ONNX Runtime runner: the bundle's fp32 or INT8 ONNX model on TensorRT, CUDA or CPU providers.

A model file this ONNX Runtime cannot load raises CannotLoad, an EdgeError whose one line says why
without ORT's C++ source location: an older ORT refuses an opset it does not know (1.10, JetPack
4.6's era, stops at "Opset 5 is under development" for ai.onnx.ml, which bundles from before
export.onnx_export.keep_used_opsets import unused). `load_problem` asks the same question up
front, so that an automatic choice (edge.runners.select) can take the next model instead.
"""

import re
import time

import numpy as np

from edge.bundle.bundle import ORT_INT8, TENSORRT_INT8
from edge.errors import EdgeError, first_line
from edge.bundle.finite import refuse_non_finite_onnx
from edge.util.lazy import require
from edge.runners.base import Runner

# Execution providers in order of preference, when this onnxruntime build has them.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# INT8 flavors in order of preference for ONNX Runtime (uint8 activations are its fast x86 path).
ORT_INT8_FLAVORS = (ORT_INT8, TENSORRT_INT8)


def onnx_artifact(bundle, precision):
    """The bundle's ONNX artifact for `precision` ("fp32" or "int8"), or an EdgeError saying why not."""
    if precision == "fp32":
        entry = bundle.artifact("onnx", precision="fp32")
    elif precision == "int8":
        entry = None
        for flavor in ORT_INT8_FLAVORS:
            entry = bundle.artifact("onnx", precision="int8", flavor=flavor)
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


class OnnxRuntimeRunner(Runner):
    """infer(batch) -> logits. A model exported with a static batch of 1 is run image by image.

    spinning: ONNX Runtime's worker threads busy-wait between calls unless told not to. That buys
    a fraction of a millisecond per call, and at a camera's 30 fps it burns a core doing nothing
    (114% of a core against 17% measured on this project's CPU): the daemon runs without it,
    edge-bench's peak-latency rows with it.
    """

    def __init__(self, bundle, precision="fp32", providers=None, threads=None, spinning=True):
        super(OnnxRuntimeRunner, self).__init__()
        self.bundle = bundle
        self.precision = precision
        self.entry = onnx_artifact(bundle, precision)
        self.requested_providers = providers
        self.threads = threads
        self.spinning = spinning
        self.session = None
        self.providers = []
        self.static_batch = None
        self.name = "onnxruntime"

    def _activate_impl(self):
        ort = require("onnxruntime", "the ONNX Runtime runner")
        path = self.model_path = self.bundle.check(self.entry)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        session = open_session(path, options, self.requested_providers or available_providers())
        refuse_non_finite_onnx(path)  # NaN or Inf weights give NaN outputs: refused, exit 3 (~60 ms for ResNet-18)
        self.session = session
        self.providers = self.session.get_providers()
        self.name = "onnxruntime-" + self.providers[0].replace("ExecutionProvider", "").lower()
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        batch_dim = inputs[0].shape[0]
        self.static_batch = batch_dim if isinstance(batch_dim, int) else None

    def _infer_impl(self, batch):
        started = time.perf_counter()
        if self.static_batch and batch.shape[0] != self.static_batch:
            step = self.static_batch
            outputs = [self.session.run(None, {self.input_name: batch[i:i + step]})[0]
                       for i in range(0, batch.shape[0], step)]
            logits = np.concatenate(outputs)
        else:
            logits = self.session.run(None, {self.input_name: batch})[0]
        self.timings = {"compute": (time.perf_counter() - started) * 1000.0}
        return np.asarray(logits, dtype=np.float32)

    def model_io(self):
        """The session's inputs and outputs as the model file states them, and what it takes (base.Runner)."""
        return ([(tensor.name, tensor.shape) for tensor in self.session.get_inputs()],
                [(tensor.name, tensor.shape) for tensor in self.session.get_outputs()],
                self.bundle.model_input_format(self.entry))

    def batch_limit(self):
        """A model exported with a static batch takes exactly that many inputs a run; a dynamic one any."""
        return self.static_batch if self.is_active else None

    def _deactivate_impl(self):
        self.session = None

    def describe(self):
        return "{} {} ({}{}{})".format(self.name, self.precision, self.entry["file"],
                                       ", {} threads".format(self.threads) if self.threads else "",
                                       "" if self.spinning else ", no spinning")
