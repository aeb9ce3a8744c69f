"""ONNX Runtime runner: the bundle's fp32 or INT8 ONNX model on TensorRT, CUDA or CPU providers
(edge.runners.onnxruntime.loader opens the session)."""

import time

import numpy as np

from edge.bundle.finite import refuse_non_finite_onnx
from edge.runners.base import Runner
from edge.runners.onnxruntime.loader import load_session, onnx_artifact
from edge.runners.onnxruntime.threads import fit_threads, time_session


class OnnxRuntimeRunner(Runner):
    """infer(batch) -> logits. A model exported with a static batch of 1 is run image by image.

    spinning: ONNX Runtime's worker threads busy-wait between calls unless told not to. That buys
    a fraction of a millisecond per call, and at a camera's 30 fps it burns a core doing nothing
    (114% of a core against 17% measured on this project's CPU): the daemon runs without it,
    edge-bench's peak-latency rows with it.

    frame_rate: the model inputs a second of the loop it serves (a camera's frames, times its TTA views).
    With threads None, activation then fits the thread count to it (edge.runners.onnxruntime.threads): 1
    when that keeps up, else the runtime's default; `probe(session)` gives the one-thread latencies in ms
    (tests give their own); log: where the choice is said.
    """

    def __init__(self, bundle, precision="fp32", providers=None, threads=None, spinning=True, frame_rate=None,
                 log=None, probe=None):
        super(OnnxRuntimeRunner, self).__init__()
        self.bundle = bundle
        self.precision = precision
        self.entry = onnx_artifact(bundle, precision)
        self.requested_providers = providers
        self.threads = threads
        self.spinning = spinning
        self.frame_rate = frame_rate
        self.log = log or (lambda text: None)
        self.probe = probe or time_session
        self.fitted_threads = None          # what the fit chose: 1, or None for the runtime's default
        self.session = None
        self.providers = []
        self.static_batch = None
        self.name = "onnxruntime"

    def _activate_impl(self):
        path = self.model_path = self.bundle.check(self.entry)
        if self.threads is None and self.frame_rate:
            session = self._fitted_session(path)
        else:
            session = load_session(path, self.threads, self.spinning, self.requested_providers)
        refuse_non_finite_onnx(path)  # NaN or Inf weights give NaN outputs: refused, exit 3 (~60 ms for ResNet-18)
        self.session = session
        self.providers = self.session.get_providers()
        self.name = "onnxruntime-" + self.providers[0].replace("ExecutionProvider", "").lower()
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        batch_dim = inputs[0].shape[0]
        self.static_batch = batch_dim if isinstance(batch_dim, int) else None

    def _fitted_session(self, path):
        """A one-thread session when it keeps up with the frame rate, else one with the runtime's default."""
        session = load_session(path, 1, self.spinning, self.requested_providers)
        self.fitted_threads, line = fit_threads(self.probe(session), self.frame_rate)
        self.log(line)
        if self.fitted_threads is None:
            session = load_session(path, None, self.spinning, self.requested_providers)
        return session

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
        threads = self.threads or self.fitted_threads
        if threads:
            threads = ", {} thread{}".format(threads, "" if threads == 1 else "s")
        elif self.threads is None and self.frame_rate and self.is_active:
            threads = ", default threads"
        return "{} {} ({}{}{})".format(self.name, self.precision, self.entry["file"], threads or "",
                                       "" if self.spinning else ", no spinning")
