"""TensorRT runner: the bundle's engine for this GPU (edge.runners.tensorrt.loader finds and loads it),
page-locked buffers and one stream reused.

Both API generations, by capability: 8.2's bindings with execute_async_v2, and 8.5+/10.x's named
tensors with set_tensor_address and execute_async_v3. An engine built for another GPU or
TensorRT version is refused with the command that rebuilds it, or rebuilt once and cached when
build_engine is set. Every call TensorRT answers with None or False is checked: a 4 GB Nano that
cannot fit an execution context gets one line, not an AttributeError later. Python 3.6 compatible.

A batch larger than the engine's maximum runs in chunks; a chunk smaller than the engine takes
(a static batch, or a profile minimum above 1) is padded and the padding's outputs dropped. An
engine built for TensorRT 8.2 (no uint8 inputs) from a fused bundle still takes the bundle's uint8
frames: from its float-pixel model (float32 NHWC BGR, normalised in the engine) the runner only
widens them to float32, straight into the page-locked input buffer; from an older bundle's
float-input model (normalised NCHW) it normalises them on the host first (host_normalises).

The runner owns its CUDA context (edge.cuda.memory's, the device's primary context) and makes it
current around everything that touches CUDA or TensorRT objects (loading, each infer, release), on
whichever thread calls: edge-serve activates on its main thread and infers on its batcher's. One
infer runs at a time (the buffers are shared); concurrent callers wait their turn.
"""

import threading
import time

import numpy as np

from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8
from edge.bundle.preprocess import normalize_batch
from edge.errors import EdgeError
from edge.runners.base import Runner
from edge.runners.tensorrt.loader import activation_bytes, create_context, deserialize_engine, find_or_build_engine
from edge.tensorrt import compat
from edge.util.lazy import require


class _Tensor(object):
    """One engine input or output: its shape without the batch axis, dtype and the two buffers."""

    def __init__(self, name, is_input, shape, dtype):
        self.name, self.is_input, self.dtype = name, is_input, dtype
        self.batch_dim = shape[0]                  # -1 when the batch axis is dynamic
        self.item = [int(d) for d in shape[1:]]
        self.host = self.device = None


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, bundle, precision="auto", build_engine=False, log=None):
        super(TensorRTRunner, self).__init__()
        self.bundle = bundle
        self.requested = precision
        self.precision = precision
        self.build_engine = build_engine
        self.log = log or (lambda text: None)
        self.entry = None
        self.memory = None
        self.stream = None
        self.tensors = []
        self.context = self.engine = self.runtime = None
        self._lock = threading.Lock()   # one run at a time through the shared buffers

    def _activate_impl(self):
        from edge.cuda.memory import backend

        trt = require("tensorrt", "the TensorRT runner")
        self.bundle, self.entry = find_or_build_engine(trt, self.bundle, self.requested, self.build_engine, self.log)
        self.precision = self.entry["precision"]
        self.model_path = self.bundle.check(self.entry)
        self.memory = backend()
        with self.memory.current():   # the engine, its context and buffers all belong to this context
            try:
                self._load(trt)
            except BaseException:
                self._release()   # whatever was allocated before the failure
                raise

    def _load(self, trt):
        self.logger, self.runtime, self.engine = deserialize_engine(trt, self.model_path, self.bundle, self.precision)
        self.context = create_context(self.engine, self.entry)
        self.named = hasattr(self.engine, "num_io_tensors")  # 8.5+/10.x named tensors, else 8.2 bindings
        self.tensors = [_Tensor(*io) for io in compat.io_tensors(trt, self.engine)]
        self.input = [t for t in self.tensors if t.is_input][0]
        self.output = [t for t in self.tensors if not t.is_input][0]
        batch = self.entry.get("batch") or {}
        if self.input.batch_dim > 0:   # a static batch: the engine always computes exactly that many
            self.min_batch = self.max_batch = self.input.batch_dim
        else:
            self.min_batch, self.max_batch = int(batch.get("min", 1)), int(batch.get("max", 1))
        takes = self.bundle.model_input_format(self.entry)
        self.host_normalises = self.bundle.input_format == INPUT_UINT8 and takes == INPUT_FLOAT
        self.host_widens = self.bundle.input_format == INPUT_UINT8 and takes == INPUT_PIXELS
        self.stream = self.memory.stream()
        for tensor in self.tensors:
            tensor.host = self.memory.pagelocked(self.max_batch * int(np.prod(tensor.item)), tensor.dtype)
            tensor.device = self.memory.alloc(tensor.host.nbytes)
        if self.named:
            for tensor in self.tensors:
                if not self.context.set_tensor_address(tensor.name, self.memory.pointer(tensor.device)):
                    raise EdgeError("TensorRT refused the address of tensor {!r}".format(tensor.name))
        else:
            self.bindings = [0] * self.engine.num_bindings
            for tensor in self.tensors:
                self.bindings[self.engine.get_binding_index(tensor.name)] = self.memory.pointer(tensor.device)
        self.shape_set = None

    def _infer_impl(self, batch):
        if self.host_normalises:
            batch = normalize_batch(batch, self.bundle.spec)
        outputs, timings = [], {"h2d": 0.0, "compute": 0.0, "d2h": 0.0}
        with self._lock, self.memory.current():
            for start in range(0, batch.shape[0], self.max_batch):
                outputs.append(self._infer_chunk(batch[start:start + self.max_batch]))
                for stage, value in self.timings.items():
                    timings[stage] += value
            self.timings = timings
        return np.concatenate(outputs)

    def _set_batch(self, count):
        """Tell TensorRT the batch of this run (dynamic engines only); EdgeError when it refuses."""
        shape = [count] + self.input.item
        if self.input.batch_dim > 0 or self.shape_set == shape:
            return
        if self.named:
            accepted = self.context.set_input_shape(self.input.name, shape)
        else:
            index = self.engine.get_binding_index(self.input.name)
            accepted = self.context.set_binding_shape(index, shape) and self.context.all_binding_shapes_specified
        if not accepted:
            raise EdgeError("TensorRT refused input shape {} for {}: the engine's profile takes batch {}..{}".format(
                shape, self.entry["file"], self.min_batch, self.max_batch))
        self.shape_set = shape

    def _infer_chunk(self, batch):
        memory, stream = self.memory, self.stream
        count = batch.shape[0]
        run = max(count, self.min_batch)
        started = time.perf_counter()
        size = batch.size
        # Straight into the page-locked buffer, converted on the way (uint8 frames widen to a
        # float-pixel engine's float32 there): no intermediate array.
        np.copyto(self.input.host[:size].reshape(batch.shape), batch, casting="unsafe")
        self.input.host[size:run * int(np.prod(self.input.item))] = 0   # padding rows, if any
        memory.htod(self.input.device, self.input.host, stream)
        memory.synchronize(stream)
        copied = time.perf_counter()
        self._set_batch(run)
        handle = memory.stream_handle(stream)
        if self.named:
            ok = self.context.execute_async_v3(handle)
        else:
            ok = self.context.execute_async_v2(self.bindings, handle)
        if not ok:
            raise EdgeError("TensorRT execution failed on {} (see its messages above)".format(self.entry["file"]))
        memory.synchronize(stream)
        computed = time.perf_counter()
        memory.dtoh(self.output.host, self.output.device, stream)
        memory.synchronize(stream)
        done = time.perf_counter()
        self.timings = {"h2d": (copied - started) * 1000.0, "compute": (computed - copied) * 1000.0,
                        "d2h": (done - computed) * 1000.0}
        size = count * int(np.prod(self.output.item))
        return np.array(self.output.host[:size], dtype=np.float32).reshape([count] + self.output.item)

    def model_io(self):
        """The engine's inputs and outputs (batch axis -1 when dynamic), and what it takes (base.Runner)."""
        io = [(tensor.is_input, (tensor.name, [tensor.batch_dim] + tensor.item)) for tensor in self.tensors]
        return ([pair for is_input, pair in io if is_input], [pair for is_input, pair in io if not is_input],
                self.bundle.model_input_format(self.entry))

    def batch_limit(self):
        """The engine's largest batch (a static engine's only one), once active."""
        return self.max_batch if self.is_active else None

    def gpu_memory_mb(self):
        """The engine's activation memory plus the device I/O buffers (pinned host memory is not GPU memory)."""
        if not self.is_active:
            return None
        io_bytes = sum(t.host.nbytes for t in self.tensors)
        return (activation_bytes(self.engine) + io_bytes) / 2.0 ** 20

    def _deactivate_impl(self):
        with self._lock, self.memory.current():   # TensorRT's destructors and the frees need the context
            self._release()

    def _release(self):
        # Free only what activation allocated, the context before the memory it points into.
        self.context = self.engine = self.runtime = None
        for tensor in self.tensors:
            if tensor.device is not None:
                self.memory.free(tensor.device)
            if tensor.host is not None:
                self.memory.free_host(tensor.host)
            tensor.host = tensor.device = None
        self.tensors = []
        if self.stream is not None:
            self.memory.free_stream(self.stream)
            self.stream = None

    def describe(self):
        if self.entry is None:
            return "tensorrt {}".format(self.precision)
        return "tensorrt {} ({}, TensorRT {}{})".format(
            self.precision, self.entry["file"], self.entry.get("tensorrt_version"),
            ", normalised on the host" if getattr(self, "host_normalises", False) else
            ", widened to float32 on the host" if getattr(self, "host_widens", False) else "")
