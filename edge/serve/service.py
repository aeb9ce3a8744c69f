"""The model behind every front end: a bundle's runner, its dynamic batcher, and what the model
takes and gives as KServe describes it.

The model input is the bundle's, as its manifest says: the tensor name, FP32 [N,3,H,W] (NCHW,
normalised as edge.bundle.preprocess does), or UINT8 [N,H,W,3] (resized BGR frames) for a fused bundle
(edge-export's default), whose graph normalises (a TensorRT 8.2 engine of it takes float32 pixels: its
runner widens the frames). The output is the logits, FP32 [N, classes], or a
regression bundle's outputs, FP32 [N, targets] in the model's normalised units (edge.tasks.points).
Beside it, NAME_image (edge.triton.names) takes what Triton's image clients send: UINT8 [N,H,W,3] RGB pixels
at the model's size, which the service turns into that input as edge-predict does (channels to BGR, then the
bundle's normalisation, or none for a fused graph). Images (/v1/predict, MQTT) go through the bundle's
preprocessing first, as in edge-predict, and their answers are in the project's vocabulary: top-k labels, or
points in pixels of the image.
"""

import time

import numpy as np

from edge.errors import EdgeError
from edge.version import __version__
from edge.bundle.preprocess import finish_input
from edge.bundle.schema import INPUT_UINT8
from edge.runners.registry import runtime_of
from edge.serve import images
from edge.serve.batcher import DynamicBatcher, QueueFull, Stopped
from edge.serve.budget import PixelBudget
from edge.serve.errors import RequestError, busy
from edge.serve.statistics import ModelStatistics
from edge.serve.tensors import TensorSpec
from edge.triton.names import image_name

MODEL_VERSION = "1"
SERVER_NAME = "edge-serve"
EXTENSIONS = ("binary_tensor_data", "classification", "model_configuration", "model_repository", "statistics")
INFER_TIMEOUT_S = 60.0   # a request waiting longer than this for its batch is answered 504
MAX_WAITING = 64         # requests a front end may hold threads for while they wait on inference


def kserve_platform(runner):
    """KServe's "platform" of a model: Triton's name for the runtime that runs it (edge.runners.registry) where it
    has one, else edge-toolkit."""
    runtime = runtime_of(runner)
    return runtime.triton.platform if runtime is not None and runtime.triton is not None else "edge-toolkit"


def waiting_threads(max_batch):
    """Threads a front end needs for requests waiting on inference: two batches (one runs while the next
    fills), at most MAX_WAITING, whatever --max-queue says (a thread is memory; a queue slot is a list entry)."""
    return max(2, min(2 * int(max_batch), MAX_WAITING))


def model_input(bundle):
    """The KServe TensorSpec of the bundle's model input (manifest: name, shape, fused preprocessing)."""
    datatype = "UINT8" if bundle.input_format == INPUT_UINT8 else "FP32"
    return TensorSpec(bundle.input_name, datatype, bundle.manifest["input"]["shape"][1:])


def model_output(bundle):
    return TensorSpec(bundle.output_name, "FP32", (len(bundle.classes),))


def batch_limit(bundle, max_batch):
    """(images per runner call, why it is less than asked or None): --max-batch within the bundle's batch range."""
    high = bundle.batch_range[2]
    if max_batch <= high:
        return max_batch, None
    return high, "--max-batch {} is above the bundle's batch range ({}..{}): batches of at most {}{}".format(
        max_batch, bundle.batch_range[0], high, high,
        " (export with --dynamic-batch N to batch requests)" if high == 1 else "")


class InferenceService(object):
    def __init__(self, bundle, runner, model_name, telemetry, max_batch=8, max_delay_ms=2.0, max_queue=64, top_k=5,
                 log=None, decode_pixels=None):
        from edge.tasks.registry import model_for

        self.bundle = bundle
        self.runner = runner
        self.model_name = model_name
        self.telemetry = telemetry
        self.top_k = top_k
        self.log = log or (lambda text: None)
        self.model = model_for(bundle, runner, k=top_k)   # the task's result model (edge.tasks)
        self.input = model_input(bundle)
        self.image_model_name = image_name(model_name)   # the entry Triton's image clients feed: RGB pixels
        self.image_input = TensorSpec(bundle.input_name, "UINT8", bundle.item_shape(INPUT_UINT8))
        self.output = model_output(bundle)
        self.max_batch, why = batch_limit(bundle, max_batch)
        if why:
            self.log(why)
        self.max_delay_ms = float(max_delay_ms)
        self.statistics = {}   # served model name -> ModelStatistics (Triton's statistics extension)
        self.batcher = self._new_batcher(runner, max_queue)
        telemetry.queue_depth = self.batcher.depth
        telemetry.set_max_batch(self.max_batch)
        self.waiting_threads = waiting_threads(self.max_batch)
        self.decoding = PixelBudget() if decode_pixels is None else PixelBudget(decode_pixels)
        self.ready = False
        self.draining = False

    def _new_batcher(self, runner, max_queue):
        return DynamicBatcher(runner.infer, self.max_batch, self.max_delay_ms / 1000.0, max_queue,
                              observe=self._observe_batch, log=self.log, account=self._account)

    def start(self):
        self.runner.activate()
        self.runner.infer(random_rows(self.input, self.max_batch))   # the first call allocates: not a client's cost
        self.batcher.start()
        self.ready = True
        self.telemetry.model.update({"name": self.model_name, "runtime": self.runner.describe(),
                                     "max_batch": self.max_batch})
        self.telemetry.set_state("ok")
        return self

    @property
    def accepting(self):
        return self.ready and not self.draining

    # ----- requests --------------------------------------------------------------------------------
    def submit(self, rows, wait_s=0.0, model=None):
        """A batcher Pending for input rows sent to `model` (a served name, default model_name; its statistics
        count them); RequestError 503 (with Retry-After) when shutting down, or when the queue is full (after
        waiting up to wait_s for room)."""
        model = model or self.model_name
        started = time.perf_counter()
        try:
            if not self.accepting:
                raise busy("shutting down" if self.draining else "starting")
            try:
                pending = self._submit(self.model_rows(model, rows), wait_s, model)
            except QueueFull:
                raise busy("server busy: {} requests are queued; retry later".format(self.batcher.max_queue))
            except Stopped:
                raise busy("shutting down")
        except RequestError:
            self.request_refused(model, started)
            raise
        self.telemetry.request_started()
        pending.add_done_callback(self.telemetry.request_finished)
        return pending

    def _submit(self, rows, wait_s, model):
        """The batcher's Pending; a batcher closed by a model swap between reading it and submitting hands the
        request to the new one."""
        while True:
            batcher = self.batcher
            try:
                return batcher.submit(rows, wait_s, tag=model)
            except Stopped:
                if self.batcher is batcher:   # stopping, not swapping
                    raise

    # ----- live model swap (edge.daemon.swap, SIGHUP) ---------------------------------------------------
    def switch_model(self, loaded, old=None):
        """Serve edge.daemon.swap's LoadedModel `loaded` from now on: new requests go to a batcher over its runner
        at once; those the old batcher holds are answered by the old runner (it drains them) before this returns.
        Its input, outputs and batch must be the served model's (clients read them once): EdgeError otherwise."""
        bundle = loaded.bundle
        served = (self.input.metadata(), self.output.metadata(), self.max_batch)
        offered = (model_input(bundle).metadata(), model_output(bundle).metadata(),
                   batch_limit(bundle, self.max_batch)[0])
        if offered != served:
            raise EdgeError("the new bundle's input, outputs or batch ({}) differ from the served model's ({}): "
                            "restart edge-serve to serve it".format(offered, served))
        batcher = self._new_batcher(loaded.runner, self.batcher.max_queue).start()
        old_batcher = self.batcher
        self.bundle, self.runner, self.model, self.batcher = bundle, loaded.runner, loaded.model, batcher
        self.telemetry.queue_depth = batcher.depth
        self.telemetry.model.update({"runtime": loaded.runner.describe()})
        failed = old_batcher.close(INFER_TIMEOUT_S)
        if failed:
            self.log("model swap: {} requests held by the old model could not run".format(failed))

    def infer(self, rows, model=None):
        """The logits for input rows sent to `model` (default model_name), waiting for their batch (a
        RequestError when refused or failed)."""
        return self.answer(self.submit(rows, model=model), INFER_TIMEOUT_S)

    # ----- served models ------------------------------------------------------------------------------
    def model_names(self):
        """The model names this server answers for (KServe routes, Triton's repository index): the model and its
        image entry (edge.triton.names)."""
        return [self.model_name, self.image_model_name]

    def model_input_spec(self, model):
        """The TensorSpec of served model `model`'s input."""
        return self.image_input if model == self.image_model_name else self.input

    def model_rows(self, model, rows):
        """The runner's input rows for `rows` sent to `model`: the image entry's RGB pixels (N,H,W,3 uint8) become
        the bundle's input as edge-predict makes it from BGR (normalised NCHW floats, or BGR for a fused graph)."""
        if model != self.image_model_name:
            return rows
        return finish_input(rows[..., ::-1], self.bundle.spec, self.bundle.input_format == INPUT_UINT8)

    # ----- statistics (Triton's statistics extension, edge.serve.statistics) ---------------------------
    def model_statistics(self, model):
        """The ModelStatistics of served model name `model`."""
        return self.statistics.setdefault(model, ModelStatistics())

    def request_refused(self, model, started):
        """Count a request for `model` refused on its way to the batcher (no room, shutting down), which arrived at
        time.perf_counter() `started`. Input the model cannot take is not counted, as in Triton."""
        self.model_statistics(model).request_refused(time.perf_counter() - started)

    def _account(self, pending):
        self.model_statistics(pending.tag or self.model_name).request_finished(pending)

    def _observe_batch(self, batch, images, inference_s):
        self.telemetry.observe_batch(batch, images, inference_s)
        for model in sorted(set(pending.tag or self.model_name for pending in batch)):
            self.model_statistics(model).batch_ran([p for p in batch if (p.tag or self.model_name) == model], images)

    def answer(self, pending, timeout=INFER_TIMEOUT_S):
        """A finished Pending's output, or the RequestError a front end answers for it."""
        try:
            return pending.wait(timeout)
        except TimeoutError:
            raise RequestError(504, "no answer within {:.0f} s".format(timeout))
        except Stopped:
            raise busy("shutting down before this request's turn")
        except Exception as exc:  # the runner failed: this request's answer says so, the service lives on
            raise RequestError(500, "inference failed: {}".format(exc))

    def prepare(self, image):
        """One BGR image as model input rows (1 x ...), through the bundle's preprocessing."""
        return self.model.prepare(image)[None]

    def prepare_image(self, data, wait_s=None):
        """(model input rows 1 x ..., the image's (height, width) as sent) of checked JPEG or PNG bytes: decoded
        only as large as the model needs, within the pixel budget until preprocessed (RequestError 400, 413, 503
        after waiting `wait_s`, default the budget's, for its turn)."""
        plan = images.decode_plan(data, self.model.spec)
        with self.decoding.hold(plan.pixels, "the {}x{} image".format(plan.width, plan.height), wait_s):
            image = images.decode(data, plan.reduce)
            rows = self.prepare(image)
            image_hw = images.full_size(image, plan)
            del image   # the decoded image goes before the budget is given back
        return rows, image_hw

    def result(self, output_row, image_hw, top_k=None, pending=None):
        """The answer for one image of (height, width) `image_hw`: the project's result fields for its row of
        outputs (prediction, confidence, top; a regression bundle's values in pixels of that image),
        latency_ms (from its Pending) and the model's name."""
        fields = self.model.image_fields(output_row, image_hw, k=top_k or self.top_k)
        fields["model"] = self.model_name
        if pending is not None:
            fields["latency_ms"] = {"queue": round(pending.queue_s * 1000.0, 3),
                                    "inference": round(pending.inference_s * 1000.0, 3),
                                    "batch_size": pending.batch_size}
        return fields

    # ----- KServe metadata -------------------------------------------------------------------------
    def server_metadata(self):
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, model=None):
        """KServe's metadata of served model `model` (default model_name)."""
        model = model or self.model_name
        platform = kserve_platform(self.runner)
        return {"name": model, "versions": [MODEL_VERSION], "platform": platform,
                "inputs": [self.model_input_spec(model).metadata()], "outputs": [self.output.metadata()]}

    # ----- stopping ---------------------------------------------------------------------------------
    def drain(self, deadline):
        """Refuse new requests; run what is queued, until `deadline` (time.time()). Returns how many could not run."""
        self.draining = True
        self.telemetry.set_state("stopping", "draining")
        return self.batcher.close(max(0.0, deadline - time.time()))

    def close(self):
        self.ready = False
        self.runner.deactivate()   # the runner serving now (a model swap deactivated the ones before)


def random_rows(spec, count=1, seed=0):
    """`count` rows of random values a model input takes (to warm the runner up)."""
    rng = np.random.RandomState(seed)
    if spec.dtype == np.uint8:
        return rng.randint(0, 256, size=(count,) + spec.item_shape).astype(np.uint8)
    return rng.standard_normal((count,) + spec.item_shape).astype(np.float32)
