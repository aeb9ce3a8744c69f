"""The runner protocol (after Polygraphy's BaseRunner).

Public `activate / infer / deactivate` check state and call the `_impl` methods; a runner is
a context manager and frees only what it built. The daemon, predict and bench see only this.

    with OnnxRuntimeRunner(bundle) as runner:
        logits = runner.infer(batch)      # batch: float32 NCHW (or uint8 NHWC when fused)

`infer` takes a batch (N >= 1) and returns float32 outputs of shape (N, num_classes): logits, or a
regression model's normalised points (edge.tasks.points), one column per target.
`timings` holds the last call's stage split in milliseconds: {"h2d", "compute", "d2h"}
(CPU runners report only "compute").

`activate` also holds the model against its bundle's manifest, in this one place for every
runner: a runner that can say what its loaded model takes and gives (`model_io`) is refused
when the input is not the preprocessing's image or the output width is not the number of
classes (edge.bundle.schema.check_model_io), before anything is inferred.
"""

from edge.errors import EdgeError


class Runner(object):
    """Base class: subclasses implement _activate_impl, _infer_impl, _deactivate_impl."""

    name = "runner"          # e.g. "onnxruntime-cpu", "tensorrt", "pytorch"
    precision = "fp32"       # what actually runs: fp32 | fp16 | int8
    model_path = None        # the file it runs (set on activation), for reports

    def __init__(self):
        self.is_active = False
        self.timings = {}

    def activate(self):
        if self.is_active:
            raise EdgeError("{} is already active".format(self.name))
        self._activate_impl()
        self.is_active = True
        try:
            self._check_model()
        except BaseException:
            self.deactivate()
            raise
        return self

    def _check_model(self):
        io, bundle = self.model_io(), getattr(self, "bundle", None)
        if io is not None and bundle is not None:
            from edge.bundle.schema import check_model_io
            check_model_io(bundle, io[0], io[1], io[2], self.model_path or self.name)

    def infer(self, batch):
        if not self.is_active:
            raise EdgeError("{} must be activated before infer() (use it as a context manager)".format(self.name))
        return self._infer_impl(batch)

    def deactivate(self):
        if not self.is_active:
            return
        try:
            self._deactivate_impl()
        finally:
            self.is_active = False

    def __enter__(self):
        return self.activate()

    def __exit__(self, exc_type, exc, tb):
        self.deactivate()
        return False

    def batch_limit(self):
        """The most inputs one model execution takes (None: any); infer() runs a larger batch in chunks."""
        return None

    def model_io(self):
        """(inputs, outputs, input format) of the active model as it states them: [(name, dims)] with the batch
        axis first, and what the model takes (edge.bundle.bundle.INPUT_FLOAT or INPUT_UINT8); None when unknown."""
        return None

    def gpu_memory_mb(self):
        """Device memory this runner holds, in MiB, where it can be measured; else None."""
        return None

    def describe(self):
        """One line for logs and reports: runtime, precision, provider/device."""
        return "{} {}".format(self.name, self.precision)

    def _activate_impl(self):
        raise NotImplementedError

    def _infer_impl(self, batch):
        raise NotImplementedError

    def _deactivate_impl(self):
        raise NotImplementedError
