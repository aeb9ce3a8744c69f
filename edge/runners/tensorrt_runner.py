"""TensorRT runner: the bundle's engine for this GPU, page-locked buffers and one stream reused.

Both API generations, by capability: 8.2's bindings with execute_async_v2, and 8.5+/10.x's named
tensors with set_tensor_address and execute_async_v3. An engine built for another GPU or
TensorRT version is refused with the command that rebuilds it, or rebuilt once and cached when
build_engine is set. Python 3.6 compatible.
"""

import time

import numpy as np

from edge.errors import EdgeError
from edge.runners.base import Runner


def _device(trt):
    from edge.cuda_memory import device_info
    info = device_info()
    return {"gpu": info["name"], "compute_capability": info["compute_capability"],
            "tensorrt_version": str(getattr(trt, "__version__", "unknown"))}


def unavailable_reason(bundle, precision):
    """Why `precision` cannot run with TensorRT here (None when it can): for edge-bench's rows."""
    from edge.lazy import require
    from export.device import find_engine, platform_capabilities

    trt = require("tensorrt", "TensorRT")
    try:
        device = _device(trt)
    except EdgeError as exc:
        return str(exc)
    capabilities = platform_capabilities(trt)
    if precision in ("int8", "fp16") and not capabilities[precision]:
        return "{}: no fast {} on this GPU ({})".format(precision.upper(), precision.upper(), device["gpu"])
    entry, why = find_engine(bundle, precision, device)
    if entry is not None and entry.get("precision") != precision:
        return "{} engine was built as {} here".format(precision, entry.get("precision"))
    return why


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

    def _find_or_build(self, trt):
        from export.device import add_engines, find_engine

        device = _device(trt)
        entry, why = find_engine(self.bundle, self.requested, device)
        if entry is None and self.build_engine:
            precision = "fp16" if self.requested == "auto" else self.requested
            self.log("no {} engine for this device yet: building it (cached for the next run)".format(precision))
            add_engines(self.bundle.path, [precision], log=self.log)
            from edge.bundle import Bundle
            self.bundle = Bundle.load(self.bundle.path)
            entry, why = find_engine(self.bundle, self.requested, device)
        if entry is None:
            raise EdgeError(why + " (or run with --build-engine)")
        return entry

    def _activate_impl(self):
        from edge.cuda_memory import backend
        from edge.lazy import require
        from export import trt_compat

        trt = require("tensorrt", "the TensorRT runner")
        self.trt = trt
        self.entry = self._find_or_build(trt)
        self.precision = self.entry["precision"]
        self.model_path = self.bundle.check(self.entry)
        with open(self.model_path, "rb") as handle:
            plan = handle.read()
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise EdgeError("TensorRT could not load {}; rebuild it: edge-export {} --engine {}".format(
                self.model_path, self.bundle.path, self.precision))
        self.context = self.engine.create_execution_context()
        self.named = hasattr(self.engine, "num_io_tensors")  # 8.5+/10.x named tensors, else 8.2 bindings
        self.tensors = trt_compat.io_tensors(trt, self.engine)
        self.memory = backend()
        self.stream = self.memory.stream()
        self.max_batch = int(self.entry.get("batch", {}).get("max", 1))
        self.buffers = {}
        for name, is_input, shape, dtype in self.tensors:
            item = [d for d in shape[1:]]
            size = self.max_batch * int(np.prod(item))
            host = self.memory.pagelocked(size, dtype)
            device = self.memory.alloc(host.nbytes)
            self.buffers[name] = (is_input, item, dtype, host, device)
        self.input_name = [n for n, (inp, _, _, _, _) in self.buffers.items() if inp][0]
        self.output_name = [n for n, (inp, _, _, _, _) in self.buffers.items() if not inp][0]
        self.gpu_bytes = sum(host.nbytes for _, _, _, host, _ in self.buffers.values())

    def _infer_impl(self, batch):
        outputs = []
        for start in range(0, batch.shape[0], self.max_batch):
            outputs.append(self._infer_chunk(batch[start:start + self.max_batch]))
        return np.concatenate(outputs)

    def _infer_chunk(self, batch):
        memory, stream = self.memory, self.stream
        _, in_item, in_dtype, in_host, in_device = self.buffers[self.input_name]
        _, out_item, out_dtype, out_host, out_device = self.buffers[self.output_name]
        count = batch.shape[0]
        shape = [count] + in_item
        started = time.perf_counter()
        flat = np.ascontiguousarray(batch, dtype=in_dtype).ravel()
        in_host[:flat.size] = flat
        memory.htod(in_device, in_host, stream)
        memory.synchronize(stream)
        copied = time.perf_counter()
        if self.named:
            self.context.set_input_shape(self.input_name, shape)
            for name, (_, _, _, _, device) in self.buffers.items():
                self.context.set_tensor_address(name, memory.pointer(device))
            ok = self.context.execute_async_v3(memory.stream_handle(stream))
        else:
            index = self.engine.get_binding_index(self.input_name)
            self.context.set_binding_shape(index, shape)
            bindings = [0] * self.engine.num_bindings
            for name, (_, _, _, _, device) in self.buffers.items():
                bindings[self.engine.get_binding_index(name)] = memory.pointer(device)
            ok = self.context.execute_async_v2(bindings, memory.stream_handle(stream))
        if not ok:
            raise EdgeError("TensorRT execution failed")
        memory.synchronize(stream)
        computed = time.perf_counter()
        memory.dtoh(out_host, out_device, stream)
        memory.synchronize(stream)
        done = time.perf_counter()
        self.timings = {"h2d": (copied - started) * 1000.0, "compute": (computed - copied) * 1000.0,
                        "d2h": (done - computed) * 1000.0}
        size = count * int(np.prod(out_item))
        return np.array(out_host[:size], dtype=np.float32).reshape([count] + out_item)

    def gpu_memory_mb(self):
        return getattr(self, "gpu_bytes", 0) / 2.0 ** 20 if self.is_active else None

    def _deactivate_impl(self):
        # Free only what activate() allocated: device buffers, pinned host buffers, the stream.
        for _, _, _, host, device in getattr(self, "buffers", {}).values():
            self.memory.free(device)
            self.memory.free_host(host)
        self.buffers = {}
        if getattr(self, "stream", None) is not None:
            self.memory.free_stream(self.stream)
            self.stream = None
        self.context = self.engine = self.runtime = None

    def describe(self):
        if self.entry is None:
            return "tensorrt {}".format(self.precision)
        return "tensorrt {} ({}, TensorRT {})".format(self.precision, self.entry["file"],
                                                       self.entry.get("tensorrt_version"))
