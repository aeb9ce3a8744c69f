"""ONNX Runtime runner: the bundle's fp32 or INT8 ONNX model on TensorRT, CUDA or CPU providers."""

import time

import numpy as np

from edge.bundle import ORT_INT8, TENSORRT_INT8
from edge.errors import EdgeError, first_line
from edge.lazy import require
from edge.runners.base import Runner

# Execution providers in order of preference, when this onnxruntime build has them.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# INT8 flavours in order of preference for ONNX Runtime (uint8 activations are its fast x86 path).
ORT_INT8_FLAVOURS = (ORT_INT8, TENSORRT_INT8)


def onnx_artifact(bundle, precision):
    """The bundle's ONNX artifact for `precision` ("fp32" or "int8"), or an EdgeError saying why not."""
    if precision == "fp32":
        entry = bundle.artifact("onnx", precision="fp32")
    elif precision == "int8":
        entry = None
        for flavour in ORT_INT8_FLAVOURS:
            entry = bundle.artifact("onnx", precision="int8", flavor=flavour)
            if entry:
                break
    else:
        raise EdgeError("ONNX Runtime runs fp32 or int8 models, not {}".format(precision))
    if entry is None:
        raise EdgeError("bundle {} has no {} ONNX model{}".format(
            bundle.path, precision, " (export it with --int8 --calib DIR)" if precision == "int8" else ""))
    return entry


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
        providers = list(self.requested_providers or available_providers())
        try:
            self.session = ort.InferenceSession(path, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise EdgeError("ONNX Runtime cannot load {} ({})".format(path, first_line(exc)))
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

    def batch_limit(self):
        """A model exported with a static batch takes exactly that many inputs a run; a dynamic one any."""
        return self.static_batch if self.is_active else None

    def _deactivate_impl(self):
        self.session = None

    def describe(self):
        return "{} {} ({}{}{})".format(self.name, self.precision, self.entry["file"],
                                       ", {} threads".format(self.threads) if self.threads else "",
                                       "" if self.spinning else ", no spinning")
