"""Fakes of the TensorRT Python module, one per API generation, and of CUDA memory.

Each fake has exactly the surface its generation has (shared/TENSORRT_API.md): classes use
__slots__, so setting `max_workspace_size` on the 10.3 config, or calling `execute_async_v3` on
an 8.2 context, fails as it would on the device. The fake parser reads the real ONNX file; the
fake engine runs it with ONNX Runtime, reading and writing the fake device memory, so a runner
on the fake computes real logits.
"""

import json
import types

import numpy as np

GENERATIONS = ("8.2", "10.3")


class _Enum(object):
    def __init__(self, **members):
        for name, value in members.items():
            setattr(self, name, _Member(name, value))


class _Member(object):
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __int__(self):
        return self.value

    def __eq__(self, other):
        return isinstance(other, _Member) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self):
        return hash((self.name, self.value))

    def __repr__(self):
        return self.name


class FakeCudaMemory(object):
    """Device memory as numpy buffers keyed by fake pointers."""

    name = "fake"

    def __init__(self, gpu="NVIDIA Tegra X1", compute_capability="5.3"):
        self.gpu, self.compute_capability = gpu, compute_capability
        self.buffers = {}
        self.next_pointer = 0x10000

    def stream(self):
        return object()

    def stream_handle(self, stream):
        return id(stream)

    def pagelocked(self, size, dtype):
        return np.zeros(int(size), dtype=dtype)

    def alloc(self, nbytes):
        pointer = self.next_pointer
        self.next_pointer += max(1, nbytes) + 256
        self.buffers[pointer] = bytearray(max(1, nbytes))
        return pointer

    def pointer(self, buffer):
        return int(buffer)

    def htod(self, device, host, stream):
        data = np.ascontiguousarray(host).tobytes()
        self.buffers[device][:len(data)] = data

    def dtoh(self, host, device, stream):
        host.view(np.uint8)[:] = np.frombuffer(bytes(self.buffers[device][:host.nbytes]), dtype=np.uint8)

    def synchronize(self, stream):
        pass

    def free(self, buffer):
        del self.buffers[buffer]

    def device_info(self):
        return {"name": self.gpu, "compute_capability": self.compute_capability, "memory_mb": 3964}


def make_fake_tensorrt(generation, fast_fp16=True, fast_int8=True, memory=None, max_opset=None):
    """A module object standing in for `import tensorrt` of `generation` ("8.2" or "10.3")."""
    if generation not in GENERATIONS:
        raise ValueError(generation)
    v8 = generation == "8.2"
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "8.2.1.8" if v8 else "10.3.0.26"
    trt.builds = []           # every build: a dict of what the builder was asked
    max_opset = max_opset or (13 if v8 else 20)

    class Logger(object):
        __slots__ = ("min_severity",)
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = 0, 1, 2, 3, 4

        def __init__(self, min_severity=2):
            self.min_severity = min_severity

    trt.Logger = Logger
    data_types = dict(FLOAT=0, HALF=1, INT8=2, INT32=3, BOOL=4)
    if not v8:
        data_types.update(UINT8=5, FP8=6, BF16=7, INT64=8, INT4=9)
    trt.DataType = _Enum(**data_types)
    trt.NetworkDefinitionCreationFlag = _Enum(EXPLICIT_BATCH=0, **({"EXPLICIT_PRECISION": 1} if v8 else
                                                                   {"STRONGLY_TYPED": 1}))
    flags = ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS",
             "SAFETY_SCOPE", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO",
             "REJECT_EMPTY_ALGORITHMS"] + (["STRICT_TYPES"] if v8 else ["VERSION_COMPATIBLE", "BF16", "INT4"])
    trt.BuilderFlag = _Enum(**dict((name, index) for index, name in enumerate(flags)))
    if not v8:
        trt.MemoryPoolType = _Enum(WORKSPACE=0, DLA_MANAGED_SRAM=1)
        trt.TensorIOMode = _Enum(NONE=0, INPUT=1, OUTPUT=2)

    def dtype_of(elem_type):
        return {1: trt.DataType.FLOAT, 2: getattr(trt.DataType, "UINT8", None), 10: trt.DataType.HALF}.get(elem_type)

    class Network(object):
        __slots__ = ("flags", "onnx_path", "inputs", "outputs", "opset")

        def __init__(self, flags):
            self.flags, self.onnx_path, self.inputs, self.outputs, self.opset = flags, None, [], [], None

    class ParserError(object):
        __slots__ = ("_desc",)

        def __init__(self, desc):
            self._desc = desc

        def desc(self):
            return self._desc

        def code(self):
            return 1

        def __str__(self):
            return self._desc

    class OnnxParser(object):
        __slots__ = ("network", "errors")

        def __init__(self, network, logger):
            self.network, self.errors = network, []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

        def clear_errors(self):
            self.errors = []

        def parse_from_file(self, path):
            import onnx
            if v8 and not self.network.flags & (1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
                self.errors.append(ParserError("INVALID_VALUE: the network must be created with EXPLICIT_BATCH"))
                return False
            try:
                model = onnx.load(path)
            except Exception as exc:
                self.errors.append(ParserError("Failed to parse ONNX model: {}".format(exc)))
                return False
            opset = max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
            if opset > max_opset:
                self.errors.append(ParserError("Unsupported ONNX opset {} (this parser reads up to {})".format(
                    opset, max_opset)))
                return False
            for value_info, target in ((model.graph.input, self.network.inputs),
                                       (model.graph.output, self.network.outputs)):
                for tensor in value_info:
                    dims = [d.dim_value if d.dim_value else -1 for d in tensor.type.tensor_type.shape.dim]
                    data_type = dtype_of(tensor.type.tensor_type.elem_type)
                    if data_type is None:
                        self.errors.append(ParserError("unsupported input type of {}".format(tensor.name)))
                        return False
                    target.append((tensor.name, dims, data_type.name))
            self.network.onnx_path, self.network.opset = path, opset
            return True

        def parse(self, model, path=None):
            raise AssertionError("the project parses from file")

    class Profile(object):
        __slots__ = ("shapes",)

        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, minimum, opt, maximum):
            if not (list(minimum) <= list(opt) <= list(maximum)):
                raise RuntimeError("inconsistent profile")
            self.shapes[name] = [list(minimum), list(opt), list(maximum)]

    class TimingCache(object):
        __slots__ = ("data",)

        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return self.data

    config_slots = ["flags", "profiles", "timing_cache", "int8_calibrator", "pool"]
    if v8:
        config_slots.append("max_workspace_size")

    class Config(object):
        __slots__ = tuple(config_slots)

        def __init__(self):
            self.flags, self.profiles, self.timing_cache, self.int8_calibrator = set(), [], None, None
            self.pool = {}
            if v8:
                self.max_workspace_size = 0

        def set_flag(self, flag):
            self.flags.add(flag.name)

        def clear_flag(self, flag):
            self.flags.discard(flag.name)

        def get_flag(self, flag):
            return flag.name in self.flags

        def add_optimization_profile(self, profile):
            self.profiles.append(profile.shapes)
            return len(self.profiles) - 1

        def create_timing_cache(self, serialized):
            return TimingCache(serialized)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.timing_cache = cache
            return True

        def get_timing_cache(self):
            return self.timing_cache

    if not v8:
        def set_memory_pool_limit(self, pool, size):
            self.pool[pool.name] = size

        def get_memory_pool_limit(self, pool):
            return self.pool.get(pool.name, 0)

        Config.set_memory_pool_limit = set_memory_pool_limit
        Config.get_memory_pool_limit = get_memory_pool_limit

    class Builder(object):
        __slots__ = ("logger",)
        platform_has_fast_fp16 = fast_fp16
        platform_has_fast_int8 = fast_int8

        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            workspace = config.max_workspace_size if v8 else config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)
            record = {"onnx": network.onnx_path, "flags": sorted(config.flags), "workspace": workspace,
                      "profiles": config.profiles, "calibrator": config.int8_calibrator is not None,
                      "timing_cache_in": len(config.timing_cache.data) if config.timing_cache else None,
                      "inputs": network.inputs, "outputs": network.outputs, "version": trt.__version__}
            trt.builds.append(record)
            if "INT8" in config.flags:
                calibrator = config.int8_calibrator
                if calibrator is not None:
                    cache = calibrator.read_calibration_cache()
                    if not cache:
                        names = [name for name, _, _ in network.inputs]
                        batches = 0
                        while calibrator.get_batch(names):
                            batches += 1
                        calibrator.write_calibration_cache(memoryview(b"fake-trt-calibration:%d" % batches))
                elif not _has_qdq(network.onnx_path):
                    return None  # real TensorRT: no scales, no calibrator -> build failure
            if config.timing_cache is not None:
                config.timing_cache.data += b"+"
            return json.dumps(record).encode("utf-8")

    if v8:
        def build_engine(self, network, config):
            raise AssertionError("build_engine is deprecated in 8.x; the project must not use it")
        Builder.build_engine = build_engine
        Builder.max_batch_size = 1

    class Context(object):
        __slots__ = ("engine", "shapes", "addresses")

        def __init__(self, engine):
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def _run(self, addresses):
            import onnxruntime as ort
            session = ort.InferenceSession(self.engine.record["onnx"], providers=["CPUExecutionProvider"])
            (in_name, in_dims, in_type), = self.engine.record["inputs"]
            out_name = self.engine.record["outputs"][0][0]
            shape = self.shapes.get(in_name) or [1] + in_dims[1:]
            dtype = np.uint8 if in_type == "UINT8" else np.float32
            count = int(np.prod(shape))
            raw = bytes(memory.buffers[addresses[in_name]][:count * np.dtype(dtype).itemsize])
            batch = np.frombuffer(raw, dtype=dtype).reshape(shape)
            outputs = [session.run(None, {in_name: batch[i:i + 1]})[0] for i in range(shape[0])]
            result = np.concatenate(outputs).astype(np.float32).tobytes()
            memory.buffers[addresses[out_name]][:len(result)] = result
            return True

    if v8:
        def set_binding_shape(self, binding, shape):
            self.shapes[self.engine.get_binding_name(binding)] = list(shape)
            return True

        def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
            names = [self.engine.get_binding_name(i) for i in range(self.engine.num_bindings)]
            return self._run(dict(zip(names, bindings)))

        Context.set_binding_shape = set_binding_shape
        Context.execute_async_v2 = execute_async_v2
    else:
        def set_input_shape(self, name, shape):
            self.shapes[name] = list(shape)
            return True

        def set_tensor_address(self, name, pointer):
            self.addresses[name] = int(pointer)
            return True

        def execute_async_v3(self, stream_handle):
            return self._run(self.addresses)

        Context.set_input_shape = set_input_shape
        Context.set_tensor_address = set_tensor_address
        Context.execute_async_v3 = execute_async_v3

    class Engine(object):
        __slots__ = ("record", "io")

        def __init__(self, record):
            self.record = record
            self.io = [(n, True, d, t) for n, d, t in record["inputs"]] + \
                      [(n, False, d, t) for n, d, t in record["outputs"]]

        def create_execution_context(self):
            return Context(self)

    def shape_of(self, name):
        dims = [d for n, _, d, _ in self.io if n == name][0]
        profile = self.record["profiles"][0][name][2] if self.record["profiles"] and name in \
            self.record["profiles"][0] else None
        return tuple(profile[:1] + dims[1:]) if profile else tuple(d if d > 0 else 1 for d in dims)

    def dtype_named(self, name):
        return getattr(trt.DataType, [t for n, _, _, t in self.io if n == name][0])

    if v8:
        Engine.num_bindings = property(lambda self: len(self.io))
        Engine.get_binding_name = lambda self, i: self.io[i][0]
        Engine.get_binding_index = lambda self, name: [n for n, _, _, _ in self.io].index(name)
        Engine.binding_is_input = lambda self, i: self.io[i][1]
        Engine.get_binding_shape = lambda self, i: shape_of(self, self.io[i][0])
        Engine.get_binding_dtype = lambda self, i: dtype_named(self, self.io[i][0])
        Engine.max_batch_size = 1
    else:
        Engine.num_io_tensors = property(lambda self: len(self.io))
        Engine.get_tensor_name = lambda self, i: self.io[i][0]
        Engine.get_tensor_mode = lambda self, name: trt.TensorIOMode.INPUT if [
            io for io in self.io if io[0] == name][0][1] else trt.TensorIOMode.OUTPUT
        Engine.get_tensor_shape = shape_of
        Engine.get_tensor_dtype = dtype_named

    class Runtime(object):
        __slots__ = ("logger",)

        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, plan):
            try:
                record = json.loads(bytes(plan).decode("utf-8"))
            except ValueError:
                return None
            if record.get("version") != trt.__version__:
                return None  # a plan from another TensorRT version does not load
            return Engine(record)

    class _Calibrator(object):
        def __init__(self):
            pass

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (_Calibrator,), {})
    trt.IInt8MinMaxCalibrator = type("IInt8MinMaxCalibrator", (_Calibrator,), {})
    trt.IInt8Calibrator = _Calibrator
    memory = memory or FakeCudaMemory()
    trt.fake_memory = memory
    return trt


def _has_qdq(path):
    import onnx
    return any(node.op_type == "QuantizeLinear" for node in onnx.load(path).graph.node)


def install(monkeypatch, generation, gpu="NVIDIA Tegra X1", compute_capability="5.3", **kwargs):
    """Put a fake TensorRT of `generation` and fake CUDA memory in place for one test."""
    import sys

    import edge.cuda_memory

    memory = FakeCudaMemory(gpu, compute_capability)
    trt = make_fake_tensorrt(generation, memory=memory, **kwargs)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(edge.cuda_memory, "_BACKEND", memory)
    return trt
