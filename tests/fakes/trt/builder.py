"""Builder, IBuilderConfig, IOptimizationProfile, ITimingCache: build_serialized_network makes a JSON "plan".

What a build checks (TensorRT's documented behaviour, TENSORRT_API.md "Build from ONNX" and "Rules"):
- a network with dynamic inputs needs optimization profiles covering every dynamic input, each
  shape of the input's rank and equal to its static dims; `set_shape` refuses min > opt > max;
- INT8 without a QDQ network needs a calibrator (calibration.py), else "no scaling factors";
- the timing cache is the config's (a private one when none is set) and remembers what was timed;
- the plan records the GPU and TensorRT version; Runtime refuses it elsewhere;
- the build runs in the calling thread's CUDA context (the runtime API's rule: the primary
  context when none is current); a calibrator's device pointers must belong to it.
Every build's record is appended to `trt.builds`; a failed build returns None, never raises.
"""

import json

from tests.fakes.trt import compute
from tests.fakes.trt.calibration import calibrate
from tests.fakes.trt.onnx_rules import activation_bytes


class HostMemory(bytes):
    """IHostMemory: a buffer (bytes(), memoryview()) with .nbytes."""

    @property
    def nbytes(self):
        return len(self)


class OptimizationProfileImpl(object):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, input, min, opt, max):   # noqa: A002 (the binding's argument names)
        shapes = [list(min), list(opt), list(max)]
        if len(set(len(s) for s in shapes)) != 1 or any(not (a <= b <= c) for a, b, c in zip(*shapes)) or any(
                d < 0 for s in shapes for d in s):
            raise RuntimeError("inconsistent optimization profile shapes for {}: {}".format(input, shapes))
        self._shapes[input] = shapes

    def get_shape(self, input):   # noqa: A002
        return [self._state.Dims(s) for s in self._shapes.get(input, [])]


class TimingCacheImpl(object):
    def __init__(self, data):
        self._data = data

    def serialize(self):
        return HostMemory(json.dumps(self._data).encode("utf-8"))

    def combine(self, input_cache, ignore_mismatch):
        if input_cache._data["device"] != self._data["device"] and not ignore_mismatch:
            return False
        self._data["entries"] = sorted(set(self._data["entries"]) | set(input_cache._data["entries"]))
        return True

    def reset(self):
        self._data["entries"] = []
        return True


class BuilderConfigImpl(object):
    def __init__(self):
        self._flags = {"TF32"}   # as the real builder: TF32 is on unless cleared
        self._profiles, self._calibration_profile, self._calibrator, self._timing_cache = [], None, None, None
        self._pools, self._workspace = {}, None
        self.profiling_verbosity = self._state.trt.ProfilingVerbosity.LAYER_NAMES_ONLY

    profiling_verbosity = None   # a plain attribute on the real config too

    def set_flag(self, flag):
        self._flags.add(self._flag_name(flag))

    def clear_flag(self, flag):
        self._flags.discard(self._flag_name(flag))

    def get_flag(self, flag):
        return self._flag_name(flag) in self._flags

    def _flag_name(self, flag):
        member = getattr(self._state.trt.BuilderFlag, getattr(flag, "name", ""), None)
        if member is None or member != flag:
            raise TypeError("set_flag(): incompatible function arguments: {!r} is not a BuilderFlag".format(flag))
        return flag.name

    @property
    def flags(self):
        return sum(1 << int(getattr(self._state.trt.BuilderFlag, name)) for name in self._flags)

    @flags.setter
    def flags(self, bits):
        members = self._state.trt.BuilderFlag.__members__
        self._flags = set(name for name, member in members.items()
                          if member.name == name and int(bits) & (1 << int(member)))   # no aliases

    num_optimization_profiles = property(lambda self: len(self._profiles))

    def add_optimization_profile(self, profile):
        if not isinstance(profile, self._state.trt.IOptimizationProfile):
            raise TypeError("add_optimization_profile(): incompatible function arguments")
        self._profiles.append(dict(profile._shapes))
        return len(self._profiles) - 1

    def set_calibration_profile(self, profile):
        self._calibration_profile = dict(profile._shapes)
        return True

    def get_calibration_profile(self):
        return self._calibration_profile

    def create_timing_cache(self, serialized_timing_cache):
        data = bytes(memoryview(serialized_timing_cache))
        if not data:
            return self._state.trt.ITimingCache({"fake_timing_cache": 1, "device": self._state.identity(),
                                                 "entries": []})
        try:
            parsed = json.loads(data.decode("utf-8"))
            assert parsed["fake_timing_cache"] == 1
        except Exception:
            self._state.log(None, 1, "Corrupt timing cache")
            return None
        return self._state.trt.ITimingCache(parsed)

    def set_timing_cache(self, cache, ignore_mismatch):
        if cache._data["device"] != self._state.identity() and not ignore_mismatch:
            self._state.log(None, 1, "Timing cache was created on a different device or TensorRT version")
            return False
        self._timing_cache = cache
        return True

    def get_timing_cache(self):
        return self._timing_cache

    @property
    def int8_calibrator(self):
        return self._calibrator

    @int8_calibrator.setter
    def int8_calibrator(self, calibrator):
        if calibrator is not None and not getattr(calibrator, "_fake_base_init", False):
            # pybind11: a subclass whose __init__ skipped the base's has no C++ object behind it
            raise TypeError("{}.__init__() must be called when overriding __init__".format(
                type(calibrator).__mro__[1].__name__))
        self._calibrator = calibrator

    @property
    def max_workspace_size(self):
        return self._workspace[1] if self._workspace else 0

    @max_workspace_size.setter
    def max_workspace_size(self, size):
        self._workspace = ("max_workspace_size", int(size))

    def set_memory_pool_limit(self, pool, pool_size):
        self._pools[pool.name] = int(pool_size)
        if pool.name == "WORKSPACE":
            self._workspace = ("memory_pool_limit", int(pool_size))

    def get_memory_pool_limit(self, pool):
        return self._pools.get(pool.name, 0)


class BuilderImpl(object):
    def __init__(self, logger):
        self._logger, self._max_batch_size = logger, 1

    platform_has_fast_fp16 = property(lambda self: self._state.fast_fp16)
    platform_has_fast_int8 = property(lambda self: self._state.fast_int8)

    @property
    def max_batch_size(self):
        return self._max_batch_size

    @max_batch_size.setter
    def max_batch_size(self, value):
        self._max_batch_size = int(value)

    def create_network(self, flags=0):
        return self._state.trt.INetworkDefinition(int(flags))

    def create_builder_config(self):
        return self._state.trt.IBuilderConfig()

    def create_optimization_profile(self):
        return self._state.trt.IOptimizationProfile()

    def build_serialized_network(self, network, config):
        record = self._build(network, config)
        return None if record is None else HostMemory(json.dumps(record, sort_keys=True).encode("utf-8"))

    def build_engine(self, network, config):
        record = self._build(network, config)
        return None if record is None else self._state.trt.ICudaEngine(record)

    def _error(self, message):
        self._state.log(self._logger, 1, message)
        return None

    def _build(self, network, config):
        state = self._state
        state.cuda_context()   # the builder works in the thread's context (the primary one if none is current)
        if network._onnx is None:
            return self._error("Network must have at least one output")
        record = {"fake_engine": 1, "version": state.trt.__version__, "gpu": list(state.identity()[:2]),
                  "network_flags": network.flags, "onnx": network._onnx, "flags": sorted(config._flags),
                  "workspace": config._workspace, "profiles": config._profiles,
                  "calibration_profile": config._calibration_profile,
                  "inputs": [[t.name, list(t._shape), t.dtype.name] for t in network._inputs],
                  "outputs": [[t.name, list(t._shape), t.dtype.name] for t in network._outputs],
                  "calibration": None, "timing_cache_hit": None}
        state.trt.builds.append(record)
        if not self._profiles_fit(network, config):
            return None
        if "INT8" in config._flags and not network._onnx["qdq"]:
            if config._calibrator is None:
                return self._error("Calibration failure occurred with no scaling factors detected. This could be due "
                                   "to no int8 calibrator or insufficient custom scales for network layers.")
            if not calibrate(state, config, network, config._calibrator, record):
                return None
        compute.remember(network._onnx["sha256"], network._data)
        record["device_memory_size"] = self._device_memory(network, config)
        cache = config._timing_cache
        if cache is None:   # TensorRT makes a private one when none is set
            cache = config._timing_cache = config.create_timing_cache(b"")
        entry = "{}:{}".format(network._onnx["sha256"], ",".join(sorted(config._flags)))
        record["timing_cache_hit"] = entry in cache._data["entries"]
        if not record["timing_cache_hit"]:
            cache._data["entries"] = sorted(cache._data["entries"] + [entry])
        return record

    def _profiles_fit(self, network, config):
        for tensor in network._inputs:
            if -1 not in tensor._shape:
                continue
            covered = [p for p in config._profiles if tensor.name in p]
            if not config._profiles or len(covered) != len(config._profiles):
                self._error("Network has dynamic or shape inputs, but no optimization profile has been defined.")
                return False
            for profile in covered:
                for shape in profile[tensor.name]:
                    if len(shape) != len(tensor._shape) or any(d != s for d, s in zip(tensor._shape, shape) if d >= 0):
                        self._error("profile shape {} does not fit {} {}".format(shape, tensor.name, tensor._shape))
                        return False
        return True

    def _device_memory(self, network, config):
        """Activation bytes at the largest shapes any profile allows (static inputs: their shape)."""
        itemsize = 1 if "INT8" in config._flags else 2 if "FP16" in config._flags else 4
        profiles = config._profiles or [{}]
        sizes = []
        for profile in profiles:
            shapes = dict((t.name, profile[t.name][2] if t.name in profile else list(t._shape))
                          for t in network._inputs)
            sizes.append(activation_bytes(network._data, shapes, itemsize))
        return max(sizes)
