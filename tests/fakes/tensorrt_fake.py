"""Fakes of the TensorRT Python module, one per API generation (8.2, 8.6, 10.3), and of CUDA memory.

Each fake has exactly the surface /work/shared/TENSORRT_API.md lists for its generation: a name
marked absent raises AttributeError (classes use __slots__, so even *setting* `max_workspace_size`
on a 10.3 config fails); a name marked D emits DeprecationWarning, as the real bindings do.

What the fakes do, so tests can check behaviour and not just calls:
- OnnxParser reads the ONNX file with the `onnx` package: network inputs/outputs with the file's
  names, shapes (-1 for dynamic axes) and types; malformed files, opsets above the generation's
  parser, unsupported operators, asymmetric (uint8 / non-zero zero point) QDQ and, on 8.x, a
  network without EXPLICIT_BATCH make `parse` return False with ParserErrors.
- Builder.build_serialized_network checks profiles against dynamic inputs, runs an INT8
  calibrator (reads its cache; else pulls batches through the fake device memory and computes
  the real max |value|), uses and extends the timing cache, and returns a JSON "plan" describing
  what was built. `trt.builds` lists every build's record; `trt.log_messages` what it logged.
- Runtime.deserialize_cuda_engine refuses plans from another TensorRT version or GPU; execution
  contexts run the ONNX file with ONNX Runtime through the fake device memory (real logits).
"""

import json
import sys
import types
import warnings

import numpy as np

GENERATIONS = ("8.2", "8.6", "10.3")
VERSIONS = {"8.2": "8.2.1.8", "8.6": "8.6.1.6", "10.3": "10.3.0.26"}
MAX_OPSET = {"8.2": 13, "8.6": 17, "10.3": 20}

# Devices by name: (CUDA name, compute capability, fast fp16, fast int8).
DEVICES = {
    "nano": ("NVIDIA Tegra X1", "5.3", True, False),
    "tx2": ("NVIDIA Tegra X2", "6.2", True, False),
    "xavier": ("Xavier", "7.2", True, True),
    "orin": ("Orin", "8.7", True, True),
    "gtx1080": ("NVIDIA GeForce GTX 1080", "6.1", False, True),
}

SUPPORTED_OPS = {"Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div",
                 "BatchNormalization", "MaxPool", "AveragePool", "Reshape", "Transpose", "Identity", "Cast",
                 "Constant", "QuantizeLinear", "DequantizeLinear", "Softmax", "Clip", "Concat"}

BUILDER_FLAGS_COMMON = ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32",
                        "SPARSE_WEIGHTS", "SAFETY_SCOPE", "OBEY_PRECISION_CONSTRAINTS",
                        "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO", "REJECT_EMPTY_ALGORITHMS"]


def _deprecated(what, instead):
    warnings.warn("{} is deprecated. Use {} instead.".format(what, instead), DeprecationWarning, stacklevel=3)


class _Member(object):
    """An enum member: int() gives its value, == compares name and value, .name as pybind's."""

    __slots__ = ("name", "value", "enum")

    def __init__(self, enum, name, value):
        self.enum, self.name, self.value = enum, name, value

    def __int__(self):
        return self.value

    def __index__(self):
        return self.value

    def __eq__(self, other):
        return isinstance(other, _Member) and (self.enum, self.name) == (other.enum, other.name)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.enum, self.name))

    def __repr__(self):
        return "<{}.{}: {}>".format(self.enum, self.name, self.value)

    __str__ = __repr__


def _enum(enum_name, names, start=0):
    """A class with one _Member per name (values in order, or from a dict); unknown names: AttributeError."""
    items = names.items() if isinstance(names, dict) else [(n, start + i) for i, n in enumerate(names)]
    members = dict((name, _Member(enum_name, name, value)) for name, value in items)
    members["__slots__"] = ()
    members["__members__"] = dict(members)
    del members["__members__"]["__slots__"]
    return type(enum_name, (object,), members)


class HostMemory(bytes):
    """IHostMemory: a buffer (bytes(), memoryview()) with .nbytes."""

    @property
    def nbytes(self):
        return len(self)


class FakeCudaMemory(object):
    """edge.cuda_memory's backend interface over numpy: device memory is bytearrays keyed by fake pointers."""

    name = "fake"

    def __init__(self, gpu="NVIDIA Tegra X1", compute_capability="5.3"):
        self.gpu, self.compute_capability = gpu, compute_capability
        self.buffers = {}
        self.next_pointer = 0x10000
        self.calls = []

    def stream(self):
        return types.SimpleNamespace(handle=0x5000 + len(self.calls))

    def stream_handle(self, stream):
        return stream.handle

    def synchronize(self, stream):
        self.calls.append("synchronize")

    def free_stream(self, stream):
        self.calls.append("free_stream")

    def pagelocked(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def free_host(self, array):
        self.calls.append("free_host")

    def alloc(self, nbytes):
        pointer = self.next_pointer
        self.next_pointer += max(1, int(nbytes)) + 256
        self.buffers[pointer] = bytearray(max(1, int(nbytes)))
        return pointer

    def pointer(self, buffer):
        return int(buffer)

    def free(self, buffer):
        del self.buffers[int(buffer)]
        self.calls.append("free")

    def htod(self, buffer, host, stream=None):
        data = np.ascontiguousarray(host).tobytes()
        self.buffers[int(buffer)][:len(data)] = data
        self.calls.append("htod")

    def dtoh(self, host, buffer, stream=None):
        raw = bytes(self.buffers[int(buffer)][:host.nbytes])
        host.view(np.uint8).reshape(-1)[:] = np.frombuffer(raw, dtype=np.uint8)
        self.calls.append("dtoh")

    def read(self, pointer, nbytes, dtype):
        return np.frombuffer(bytes(self.buffers[int(pointer)][:nbytes]), dtype=dtype)

    def device_info(self):
        return {"name": self.gpu, "compute_capability": self.compute_capability, "memory_mb": 3964}


def make_fake_tensorrt(generation, fast_fp16=True, fast_int8=True, gpu=("NVIDIA Tegra X1", "5.3"), memory=None,
                       max_opset=None):
    """A module object standing in for `import tensorrt` of `generation` ("8.2", "8.6" or "10.3").

    gpu: (name, compute capability) the fake "runs on" (stamped into plans and timing caches).
    memory: the FakeCudaMemory calibrators and execution contexts read and write.
    """
    if generation not in GENERATIONS:
        raise ValueError("generation must be one of {}".format(GENERATIONS))
    g82, g86, g10 = generation == "8.2", generation == "8.6", generation == "10.3"
    v8 = not g10
    trt = types.ModuleType("tensorrt")
    trt.__version__ = VERSIONS[generation]
    trt.__file__ = "<fake tensorrt {}>".format(generation)
    trt.builds = []
    trt.log_messages = []
    trt.fake_generation = generation
    trt.fake_memory = memory = memory or FakeCudaMemory(gpu[0], gpu[1])
    gpu_name, gpu_cc = gpu
    max_opset = max_opset or MAX_OPSET[generation]

    # ------------------------------------------------------------------ module level
    class Logger(object):
        __slots__ = ("min_severity",)
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = 0, 1, 2, 3, 4

        def __init__(self, min_severity=2):
            self.min_severity = min_severity

        def log(self, severity, msg):
            trt.log_messages.append((int(severity), msg))

    Logger.Severity = types.SimpleNamespace(INTERNAL_ERROR=0, ERROR=1, WARNING=2, INFO=3, VERBOSE=4)
    trt.Logger = trt.ILogger = Logger

    def _log(logger, severity, msg):
        trt.log_messages.append((severity, msg))

    data_types = ["FLOAT", "HALF", "INT8", "INT32", "BOOL"]
    if not g82:
        data_types += ["UINT8", "FP8"]
    if g10:
        data_types += ["BF16", "INT64", "INT4"]
    trt.DataType = _enum("DataType", data_types)

    def volume(iterable):
        result = 1
        for value in iterable:
            result *= value
        return result

    def nptype(data_type):
        if g82:
            # 8.2 builds its mapping per call with np.bool, gone in NumPy 1.24: every call fails there.
            mapping = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT8: np.int8,
                       trt.DataType.INT32: np.int32, trt.DataType.BOOL: getattr(np, "bool")}
        else:
            mapping = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT8: np.int8,
                       trt.DataType.INT32: np.int32, trt.DataType.BOOL: np.bool_, trt.DataType.UINT8: np.uint8}
            if g10:
                mapping[trt.DataType.INT64] = np.int64
        if data_type not in mapping:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return mapping[data_type]

    trt.volume, trt.nptype = volume, nptype

    creation = ["EXPLICIT_BATCH"] + (["EXPLICIT_PRECISION"] if v8 else ["STRONGLY_TYPED"])
    trt.NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", creation)
    flags = list(BUILDER_FLAGS_COMMON)
    if v8:
        flags.insert(4, "STRICT_TYPES")
    if not g82:
        flags += ["VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8"]
    if g86:
        flags += ["ENABLE_TACTIC_HEURISTIC"]
    if g10:
        flags += ["ERROR_ON_TIMING_CACHE_MISS", "BF16", "DISABLE_COMPILATION_CACHE", "WEIGHTLESS", "STRIP_PLAN",
                  "REFIT_IDENTICAL", "WEIGHT_STREAMING", "INT4", "REFIT_INDIVIDUAL"]
    trt.BuilderFlag = _enum("BuilderFlag", flags)
    verbosity = ["LAYER_NAMES_ONLY", "NONE", "DETAILED"] + (["DEFAULT", "VERBOSE"] if v8 else [])
    trt.ProfilingVerbosity = _enum("ProfilingVerbosity", verbosity)
    if not g82:
        trt.MemoryPoolType = _enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM",
                                                      "DLA_GLOBAL_DRAM", "TACTIC_DRAM"])
        trt.TensorIOMode = _enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
        trt.OnnxParserFlag = _enum("OnnxParserFlag", ["NATIVE_INSTANCENORM"])
    trt.ErrorCode = _enum("ErrorCode", ["SUCCESS", "INTERNAL_ERROR", "MEM_ALLOC_FAILED", "MODEL_DESERIALIZE_FAILED",
                                        "INVALID_VALUE", "INVALID_GRAPH", "INVALID_NODE", "UNSUPPORTED_GRAPH",
                                        "UNSUPPORTED_NODE"])
    trt.CalibrationAlgoType = _enum("CalibrationAlgoType", ["LEGACY_CALIBRATION", "ENTROPY_CALIBRATION",
                                                            "ENTROPY_CALIBRATION_2", "MINMAX_CALIBRATION"])

    # ------------------------------------------------------------------ network and parser
    class Tensor(object):
        __slots__ = ("name", "shape", "dtype")

        def __init__(self, name, shape, dtype):
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

    class Network(object):
        __slots__ = ("flags", "_inputs", "_outputs", "_onnx", "name")

        def __init__(self, flags):
            self.flags, self._inputs, self._outputs, self._onnx, self.name = flags, [], [], None, "network"

        num_inputs = property(lambda self: len(self._inputs))
        num_outputs = property(lambda self: len(self._outputs))
        num_layers = property(lambda self: len(self._onnx["ops"]) if self._onnx else 0)

        def get_input(self, index):
            return self._inputs[index]

        def get_output(self, index):
            return self._outputs[index]

    error_methods = ["code", "desc", "file", "line", "func", "node"] + (["node_name", "node_operator"] if g10 else [])

    class ParserError(object):
        __slots__ = ("_fields",)

        def __init__(self, code, desc, node=-1, node_name="", node_operator=""):
            self._fields = {"code": getattr(trt.ErrorCode, code), "desc": desc, "file": "ModelImporter.cpp",
                            "line": 700, "func": "parseGraph", "node": node, "node_name": node_name,
                            "node_operator": node_operator}

        def __str__(self):
            f = self._fields
            return "In node {} ({}): {}: {}".format(f["node"], f["func"], f["code"].name, f["desc"])

    for _method in error_methods:
        setattr(ParserError, _method, (lambda key: lambda self: self._fields[key])(_method))

    parser_slots = ("network", "errors") + (("flags",) if not g82 else ())

    class OnnxParser(object):
        __slots__ = parser_slots

        def __init__(self, network, logger):
            self.network, self.errors = network, []
            if not g82:
                self.flags = 0

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, index):
            return self.errors[index]

        def clear_errors(self):
            self.errors = []

        def parse(self, model, path=None):
            return self._parse(bytes(model), path)

        def parse_from_file(self, model):
            try:
                with open(model, "rb") as handle:
                    data = handle.read()
            except (IOError, OSError) as exc:
                self.errors.append(ParserError("MODEL_DESERIALIZE_FAILED", "Failed to open file: {}".format(exc)))
                return False
            return self._parse(data, model)

        def _fail(self, code, desc, node=-1, node_name="", node_operator=""):
            self.errors.append(ParserError(code, desc, node, node_name, node_operator))
            return False

        def _parse(self, data, path):
            import onnx
            from onnx import numpy_helper

            if v8 and not self.network.flags & (1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
                return self._fail("INVALID_VALUE", "Assertion failed: !mImporterCtx.network()->hasImplicitBatch"
                                  "Dimension() && \"This version of the ONNX parser only supports TensorRT "
                                  "INetworkDefinitions with an explicit batch dimension.\"")
            try:
                model = onnx.load_from_string(data)
                onnx.checker.check_model(model)
            except Exception as exc:   # DecodeError, ValidationError: whatever onnx says
                return self._fail("MODEL_DESERIALIZE_FAILED", "Failed to parse ONNX model: {}".format(
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [0])
            if opset > max_opset:
                return self._fail("UNSUPPORTED_GRAPH", "This version of the ONNX parser supports opsets up to {}; "
                                  "the model uses opset {}".format(max_opset, opset))
            initializers = dict((t.name, t) for t in model.graph.initializer)
            for index, node in enumerate(model.graph.node):
                if node.op_type not in SUPPORTED_OPS or node.domain not in ("", "ai.onnx"):
                    return self._fail("UNSUPPORTED_NODE", "No importer registered for op: {}".format(node.op_type),
                                      index, node.name, node.op_type)
                if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
                    zero = initializers.get(node.input[2])
                    values = numpy_helper.to_array(zero) if zero is not None else None
                    if values is None or values.dtype != np.int8 or values.any():
                        return self._fail("INVALID_NODE", "Assertion failed: TRT only supports symmetric INT8 "
                                          "quantization - zero point must be all zeros of type int8",
                                          index, node.name, node.op_type)
            types_by_onnx = {1: "FLOAT", 10: "HALF", 3: "INT8", 6: "INT32", 9: "BOOL", 2: "UINT8"}
            for values, target in ((model.graph.input, self.network._inputs),
                                   (model.graph.output, self.network._outputs)):
                for info in values:
                    if info.name in initializers:
                        continue
                    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in info.type.tensor_type.shape.dim]
                    type_name = types_by_onnx.get(info.type.tensor_type.elem_type)
                    if type_name is None or not hasattr(trt.DataType, type_name):
                        return self._fail("UNSUPPORTED_GRAPH", "tensor {} has a data type this TensorRT does not "
                                          "support".format(info.name))
                    target.append(Tensor(info.name, dims, getattr(trt.DataType, type_name)))
            import hashlib
            self.network._onnx = {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "opset": opset,
                                  "ops": [n.op_type for n in model.graph.node],
                                  "qdq": any(n.op_type == "QuantizeLinear" for n in model.graph.node)}
            return True

    if not g82:
        def _parser_set_flag(self, flag):
            self.flags |= 1 << int(flag)

        def _parser_clear_flag(self, flag):
            self.flags &= ~(1 << int(flag))

        def _parser_get_flag(self, flag):
            return bool(self.flags & (1 << int(flag)))

        OnnxParser.set_flag, OnnxParser.clear_flag, OnnxParser.get_flag = (
            _parser_set_flag, _parser_clear_flag, _parser_get_flag)

    # ------------------------------------------------------------------ builder side
    class OptimizationProfile(object):
        __slots__ = ("shapes",)

        def __init__(self):
            self.shapes = {}

        def set_shape(self, input, min, opt, max):   # noqa: A002 (the binding's argument names)
            shapes = [list(min), list(opt), list(max)]
            if len(set(len(s) for s in shapes)) != 1 or any(
                    not (a <= b <= c) for a, b, c in zip(*shapes)) or any(d < 1 for s in shapes for d in s):
                raise RuntimeError("inconsistent optimization profile shapes for {}: {}".format(input, shapes))
            self.shapes[input] = shapes

        def get_shape(self, input):   # noqa: A002
            return self.shapes[input]

    class TimingCache(object):
        __slots__ = ("data",)

        def __init__(self, data):
            self.data = data

        def serialize(self):
            return HostMemory(json.dumps(self.data).encode("utf-8"))

        def combine(self, input_cache, ignore_mismatch):
            self.data["entries"] = sorted(set(self.data["entries"]) | set(input_cache.data["entries"]))
            return True

        def reset(self):
            self.data["entries"] = []
            return True

    config_slots = ["_flags", "profiles", "calibration_profile", "_calibrator", "_timing_cache", "pools",
                    "profiling_verbosity", "_workspace"]

    class BuilderConfig(object):
        __slots__ = tuple(config_slots)

        def __init__(self):
            self._flags = {"TF32"}  # as the real builder: TF32 is on unless cleared
            self.profiles, self.calibration_profile, self._calibrator, self._timing_cache = [], None, None, None
            self.pools, self._workspace = {}, None
            self.profiling_verbosity = trt.ProfilingVerbosity.LAYER_NAMES_ONLY

        def set_flag(self, flag):
            self._flags.add(flag.name)

        def clear_flag(self, flag):
            self._flags.discard(flag.name)

        def get_flag(self, flag):
            return flag.name in self._flags

        @property
        def flags(self):
            return sum(1 << int(getattr(trt.BuilderFlag, name)) for name in self._flags)

        @property
        def num_optimization_profiles(self):
            return len(self.profiles)

        def add_optimization_profile(self, profile):
            if not isinstance(profile, OptimizationProfile):
                raise TypeError("add_optimization_profile(): incompatible function arguments")
            self.profiles.append(dict(profile.shapes))
            return len(self.profiles) - 1

        def set_calibration_profile(self, profile):
            self.calibration_profile = dict(profile.shapes)
            return True

        def get_calibration_profile(self):
            return self.calibration_profile

        def create_timing_cache(self, serialized_timing_cache):
            data = bytes(serialized_timing_cache)
            if not data:
                return TimingCache({"fake_timing_cache": 1, "device": [gpu_name, gpu_cc, trt.__version__],
                                    "entries": []})
            try:
                parsed = json.loads(data.decode("utf-8"))
                assert parsed["fake_timing_cache"] == 1
            except Exception:
                _log(None, 1, "Corrupt timing cache")
                return None
            return TimingCache(parsed)

        def set_timing_cache(self, cache, ignore_mismatch):
            if cache.data["device"] != [gpu_name, gpu_cc, trt.__version__] and not ignore_mismatch:
                _log(None, 1, "Timing cache was created on a different device or TensorRT version")
                return False
            self._timing_cache = cache
            return True

        def get_timing_cache(self):
            return self._timing_cache

        def _workspace_limit(self):
            return self._workspace

    def _get_calibrator(self):
        if g10:
            _deprecated("int8_calibrator", "explicit quantization")
        return self._calibrator

    def _set_calibrator(self, calibrator):
        if g10:
            _deprecated("int8_calibrator", "explicit quantization")
        self._calibrator = calibrator

    BuilderConfig.int8_calibrator = property(_get_calibrator, _set_calibrator)
    if v8:
        def _get_workspace(self):
            if g86:
                _deprecated("max_workspace_size", "get_memory_pool_limit")
            return self._workspace or 0

        def _set_workspace(self, size):
            if g86:
                _deprecated("max_workspace_size", "set_memory_pool_limit")
            self._workspace = ("max_workspace_size", int(size))

        BuilderConfig.max_workspace_size = property(_get_workspace, _set_workspace)
    if not g82:
        def set_memory_pool_limit(self, pool, pool_size):
            self.pools[pool.name] = int(pool_size)
            if pool.name == "WORKSPACE":
                self._workspace = ("memory_pool_limit", int(pool_size))

        def get_memory_pool_limit(self, pool):
            return self.pools.get(pool.name, 0)

        BuilderConfig.set_memory_pool_limit = set_memory_pool_limit
        BuilderConfig.get_memory_pool_limit = get_memory_pool_limit

    def _calibrate(config, network, calibrator, record):
        """What TensorRT does with an implicit-INT8 calibrator: read its cache, else pull batches."""
        if not getattr(calibrator, "_fake_base_init", False):
            raise TypeError("{}.__init__() must be called when overriding __init__".format(
                type(calibrator).__bases__[0].__name__))
        algorithm = calibrator.get_algorithm()
        header = "TRT-{}-{}".format(trt.__version__.replace(".", "")[:6], {
            "ENTROPY_CALIBRATION_2": "EntropyCalibration2", "MINMAX_CALIBRATION": "MinMaxCalibration"}.get(
                algorithm.name, algorithm.name))
        cache = calibrator.read_calibration_cache()
        if cache:
            text = bytes(memoryview(cache)).decode("utf-8", "replace")
            if text.splitlines()[0] == header:
                record["calibration"] = {"from": "cache", "algorithm": algorithm.name}
                return True
            _log(None, 2, "Calibration cache header mismatch; recalibrating")
        names = [t.name for t in network._inputs]
        shapes = config.calibration_profile or (config.profiles[0] if config.profiles else None)
        batch_size = calibrator.get_batch_size()
        amax, images = {}, 0
        while True:
            pointers = calibrator.get_batch(names)
            if not pointers:
                break
            for name, pointer in zip(names, pointers):
                tensor = [t for t in network._inputs if t.name == name][0]
                shape = shapes[name][1] if shapes and name in shapes else list(tensor.shape)
                shape = [batch_size if d < 0 else d for d in shape]
                values = memory.read(pointer, int(np.prod(shape)) * 4, np.float32)
                amax[name] = max(amax.get(name, 0.0), float(np.abs(values).max()))
            images += batch_size
        if not images:
            _log(None, 1, "Calibration failure occurred with no scaling factors detected.")
            return False
        lines = [header] + ["{}: {}".format(name, np.float32(value / 127.0).tobytes()[::-1].hex())
                            for name, value in sorted(amax.items())]
        calibrator.write_calibration_cache(memoryview(("\n".join(lines) + "\n").encode("ascii")))
        record["calibration"] = {"from": "batches", "algorithm": algorithm.name, "images": images,
                                 "amax": amax, "batch_size": batch_size}
        return True

    class Builder(object):
        __slots__ = ("logger", "_max_batch_size")

        def __init__(self, logger):
            self.logger, self._max_batch_size = logger, 1

        platform_has_fast_fp16 = property(lambda self: fast_fp16)
        platform_has_fast_int8 = property(lambda self: fast_int8)

        def create_network(self, flags=0):
            return Network(int(flags))

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            record = self._build(network, config)
            return None if record is None else HostMemory(json.dumps(record, sort_keys=True).encode("utf-8"))

        def _build(self, network, config):
            if network._onnx is None:
                _log(self.logger, 1, "Network must have at least one output")
                return None
            record = {"fake_engine": 1, "version": trt.__version__, "gpu": [gpu_name, gpu_cc],
                      "network_flags": network.flags, "onnx": network._onnx,
                      "flags": sorted(config._flags), "workspace": config._workspace,
                      "profiles": config.profiles, "calibration_profile": config.calibration_profile,
                      "inputs": [[t.name, list(t.shape), t.dtype.name] for t in network._inputs],
                      "outputs": [[t.name, list(t.shape), t.dtype.name] for t in network._outputs],
                      "calibration": None, "timing_cache_hit": None}
            trt.builds.append(record)
            for tensor in network._inputs:
                if -1 in tensor.shape:
                    covered = [p for p in config.profiles if tensor.name in p]
                    if len(covered) != len(config.profiles) or not config.profiles:
                        _log(self.logger, 1, "Network has dynamic or shape inputs, but no optimization profile "
                                             "has been defined.")
                        return None
                    for profile in covered:
                        for shape in profile[tensor.name]:
                            if len(shape) != len(tensor.shape) or any(
                                    d != s for d, s in zip(tensor.shape, shape) if d >= 0):
                                _log(self.logger, 1, "profile shape {} does not fit {}".format(shape, tensor.shape))
                                return None
            if "INT8" in config._flags and not network._onnx["qdq"]:
                calibrator = config._calibrator
                if calibrator is None:
                    _log(self.logger, 1, "Calibration failure occurred with no scaling factors detected. This "
                                         "could be due to no int8 calibrator or insufficient custom scales.")
                    return None
                if not _calibrate(config, network, calibrator, record):
                    return None
            cache = config._timing_cache
            if cache is None:   # TensorRT makes a private one when none is set
                cache = config.create_timing_cache(b"")
                config._timing_cache = cache
            entry = "{}:{}".format(network._onnx["sha256"], ",".join(sorted(config._flags)))
            record["timing_cache_hit"] = entry in cache.data["entries"]
            if not record["timing_cache_hit"]:
                cache.data["entries"] = sorted(cache.data["entries"] + [entry])
            return record

    if v8:
        def build_engine(self, network, config):
            _deprecated("build_engine", "build_serialized_network")
            record = self._build(network, config)
            return None if record is None else Engine(record)

        def _get_max_batch(self):
            if g86:
                _deprecated("max_batch_size", "explicit batch")
            return self._max_batch_size

        def _set_max_batch(self, value):
            if g86:
                _deprecated("max_batch_size", "explicit batch")
            self._max_batch_size = value

        Builder.build_engine = build_engine
        Builder.max_batch_size = property(_get_max_batch, _set_max_batch)

    # ------------------------------------------------------------------ runtime side
    class Engine(object):
        __slots__ = ("record", "io")

        def __init__(self, record):
            self.record = record
            self.io = [(n, True, d, t) for n, d, t in record["inputs"]] + \
                      [(n, False, d, t) for n, d, t in record["outputs"]]

        def _names(self):
            return [io[0] for io in self.io]

        def _io(self, key):
            index = key if isinstance(key, int) else self._names().index(key)
            return self.io[index]

        def _shape(self, key):
            return tuple(self._io(key)[2])

        def _dtype(self, key):
            return getattr(trt.DataType, self._io(key)[3])

        def _profile(self, name, profile_index):
            profiles = self.record["profiles"]
            if profiles and name in profiles[profile_index]:
                return [tuple(s) for s in profiles[profile_index][name]]
            return [self._shape(name)] * 3

        num_optimization_profiles = property(lambda self: max(1, len(self.record["profiles"])))

        def create_execution_context(self, *args, **kwargs):
            return Context(self)

        def serialize(self):
            return HostMemory(json.dumps(self.record, sort_keys=True).encode("utf-8"))

        def __getitem__(self, key):
            if isinstance(key, int):
                if not 0 <= key < len(self.io):
                    raise IndexError(key)
                return self.io[key][0]
            if g10:
                raise TypeError("__getitem__(): incompatible function arguments")
            return self._names().index(key)

    def _maybe_deprecated(function, instead):
        if not g86:
            return function

        def wrapper(*args, **kwargs):
            _deprecated(function.__name__, instead)
            return function(*args, **kwargs)
        wrapper.__name__ = function.__name__
        return wrapper

    if v8:
        def num_bindings(self):
            return len(self.io)

        def get_binding_index(self, name):
            return self._names().index(name) if name in self._names() else -1

        def get_binding_name(self, index):
            return self.io[index][0]

        def binding_is_input(self, index):
            return self._io(index)[1]

        def get_binding_shape(self, index):
            return self._shape(index)

        def get_binding_dtype(self, index):
            return self._dtype(index)

        def get_profile_shape(self, profile_index, binding):
            return self._profile(self._io(binding)[0], profile_index)

        Engine.num_bindings = property(num_bindings)
        Engine.__len__ = num_bindings
        Engine.__iter__ = lambda self: iter(self._names())
        for _function, _instead in ((get_binding_index, "name-based methods"), (get_binding_name, "get_tensor_name"),
                                    (binding_is_input, "get_tensor_mode"), (get_binding_shape, "get_tensor_shape"),
                                    (get_binding_dtype, "get_tensor_dtype"),
                                    (get_profile_shape, "get_tensor_profile_shape")):
            setattr(Engine, _function.__name__, _maybe_deprecated(_function, _instead))
        Engine.max_batch_size = property(_maybe_deprecated(lambda self: 1, "explicit batch"))
    if not g82:
        Engine.num_io_tensors = property(lambda self: len(self.io))
        Engine.get_tensor_name = lambda self, index: self.io[index][0]
        Engine.get_tensor_mode = lambda self, name: (trt.TensorIOMode.INPUT if self._io(name)[1]
                                                     else trt.TensorIOMode.OUTPUT)
        Engine.get_tensor_shape = lambda self, name: self._shape(name)
        Engine.get_tensor_dtype = lambda self, name: self._dtype(name)
        Engine.get_tensor_profile_shape = lambda self, name, profile_index: self._profile(name, profile_index)

    class Context(object):
        __slots__ = ("engine", "shapes", "addresses", "profile", "executions")

        def __init__(self, engine):
            self.engine, self.shapes, self.addresses, self.profile, self.executions = engine, {}, {}, 0, []

        @property
        def all_binding_shapes_specified(self):
            return all(-1 not in self.shapes.get(n, d) for n, inp, d, _ in self.engine.io if inp)

        all_shape_inputs_specified = property(lambda self: True)

        def set_optimization_profile_async(self, profile_index, stream_handle):
            self.profile = profile_index
            return True

        def execute_v2(self, bindings):
            return self._run(dict(zip(self.engine._names(), [int(b) for b in bindings])), "execute_v2")

        def _input_shape(self, name, dims):
            shape = list(self.shapes.get(name, dims))
            if -1 in shape:
                raise RuntimeError("input shape of {} not set".format(name))
            return shape

        def _run(self, addresses, how):
            import onnxruntime as ort

            onnx_path = self.engine.record["onnx"]["path"]
            session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            feeds = {}
            for name, is_input, dims, type_name in self.engine.io:
                if is_input:
                    shape = self._input_shape(name, dims)
                    dtype = np.dtype(np.uint8 if type_name == "UINT8" else np.float32)
                    feeds[name] = memory.read(addresses[name], int(np.prod(shape)) * dtype.itemsize,
                                              dtype).reshape(shape)
            results = session.run(None, feeds)
            outputs = [io for io in self.engine.io if not io[1]]
            for (name, _, _, _), value in zip(outputs, results):
                data = np.ascontiguousarray(value, dtype=np.float32).tobytes()
                memory.buffers[addresses[name]][:len(data)] = data
            self.executions.append(how)
            return True

    def _get_profile(self):
        return self.profile

    if v8:
        def _set_profile(self, index):
            _deprecated("active_optimization_profile setter", "set_optimization_profile_async")
            self.profile = index
        Context.active_optimization_profile = property(_get_profile, _set_profile)

        def execute(self, batch_size=1, bindings=None):
            _log(None, 1, "execute: implicit batch is not supported by this explicit-batch engine")
            return False

        def execute_async(self, batch_size=1, bindings=None, stream_handle=0, input_consumed=None):
            _log(None, 1, "execute_async: implicit batch is not supported by this explicit-batch engine")
            return False

        def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
            return self._run(dict(zip(self.engine._names(), [int(b) for b in bindings])), "execute_async_v2")

        def set_binding_shape(self, binding, shape):
            self.shapes[self.engine.io[binding][0]] = list(shape)
            return True

        def get_binding_shape(self, binding):
            name = self.engine.io[binding][0]
            return tuple(self.shapes.get(name, self.engine.io[binding][2]))

        Context.execute = _maybe_deprecated(execute, "execute_v2")
        Context.execute_async = _maybe_deprecated(execute_async, "execute_async_v3")
        Context.execute_async_v2 = execute_async_v2
        Context.set_binding_shape = _maybe_deprecated(set_binding_shape, "set_input_shape")
        Context.get_binding_shape = _maybe_deprecated(get_binding_shape, "get_tensor_shape")
    else:
        Context.active_optimization_profile = property(_get_profile)
    if not g82:
        def set_input_shape(self, name, shape):
            self.shapes[name] = list(shape)
            return True

        def get_tensor_shape(self, name):
            return tuple(self.shapes.get(name, self.engine._shape(name)))

        def set_tensor_address(self, name, memory_pointer):
            self.addresses[name] = int(memory_pointer)
            return True

        def execute_async_v3(self, stream_handle):
            missing = [n for n in self.engine._names() if n not in self.addresses]
            if missing:
                _log(None, 1, "address of tensors {} not set".format(missing))
                return False
            return self._run(self.addresses, "execute_async_v3")

        Context.set_input_shape = set_input_shape
        Context.get_tensor_shape = get_tensor_shape
        Context.set_tensor_address = set_tensor_address
        Context.execute_async_v3 = execute_async_v3

    class Runtime(object):
        __slots__ = ("logger",)

        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, serialized_engine):
            try:
                record = json.loads(bytes(memoryview(serialized_engine)).decode("utf-8"))
                assert record["fake_engine"] == 1
            except Exception:
                _log(self.logger, 1, "Serialization assertion failed: magicTagRead == kMAGIC_TAG")
                return None
            if record["version"] != trt.__version__:
                _log(self.logger, 1, "The engine plan file is not compatible with this version of TensorRT")
                return None
            if record["gpu"] != [gpu_name, gpu_cc]:
                _log(self.logger, 1, "The engine plan file is generated on an incompatible device")
                return None
            return Engine(record)

    # ------------------------------------------------------------------ calibrators
    def _calibrator_base(class_name, algorithm):
        def __init__(self):
            self._fake_base_init = True

        members = {"__init__": __init__, "get_algorithm": lambda self: getattr(trt.CalibrationAlgoType, algorithm)}
        if g10:
            def get_batch_size(self):
                _deprecated("get_batch_size", "explicit quantization")
                return 1
            members["get_batch_size"] = get_batch_size
        return type(class_name, (object,), members)

    trt.IInt8Calibrator = type("IInt8Calibrator", (object,), {"__init__": lambda self: setattr(
        self, "_fake_base_init", True)})
    trt.IInt8LegacyCalibrator = _calibrator_base("IInt8LegacyCalibrator", "LEGACY_CALIBRATION")
    trt.IInt8EntropyCalibrator = _calibrator_base("IInt8EntropyCalibrator", "ENTROPY_CALIBRATION")
    trt.IInt8EntropyCalibrator2 = _calibrator_base("IInt8EntropyCalibrator2", "ENTROPY_CALIBRATION_2")
    trt.IInt8MinMaxCalibrator = _calibrator_base("IInt8MinMaxCalibrator", "MINMAX_CALIBRATION")

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    trt.ParserError = ParserError
    trt.IBuilderConfig, trt.INetworkDefinition, trt.ICudaEngine = BuilderConfig, Network, Engine
    trt.IExecutionContext, trt.IOptimizationProfile, trt.ITimingCache = Context, OptimizationProfile, TimingCache
    trt.IHostMemory = HostMemory
    return trt


def install(monkeypatch, generation, device="nano", gpu=None, compute_capability=None, **kwargs):
    """Put a fake TensorRT of `generation` and fake CUDA memory for `device` in place for one test.

    device: a DEVICES name (GPU name, compute capability and fast precisions); gpu,
    compute_capability, fast_fp16 and fast_int8 override it. Returns the fake module.
    """
    import edge.cuda_memory

    name, capability, fp16, int8 = DEVICES[device]
    name, capability = gpu or name, compute_capability or capability
    kwargs.setdefault("fast_fp16", fp16)
    kwargs.setdefault("fast_int8", int8)
    memory = FakeCudaMemory(name, capability)
    trt = make_fake_tensorrt(generation, gpu=(name, capability), memory=memory, **kwargs)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(edge.cuda_memory, "_BACKEND", memory)
    return trt
