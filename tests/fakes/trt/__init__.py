"""Strict fakes of the `tensorrt` module, one per API generation (8.0/8.2, 8.6, 10.3).

Named `trt`, not `tensorrt`: pytest puts test folders on sys.path, and a folder named tensorrt
would shadow the real module on a Jetson. Written from the documentation and NVIDIA's sources
(/work/shared/TENSORRT_API.md and the files each module names), never from the code under test.

    trt = make_fake_tensorrt("8.2")                 # a module object; nothing installed
    trt = install(monkeypatch, "10.3", device="orin", cuda="pycuda")   # sys.modules["tensorrt"], CUDA, identity

The module also carries what tests inspect: `trt.builds` (one record per build: "flags",
"profiles", "timing_cache_hit", "onnx" {"qdq", "sha256", ...}, "calibration" {"from", "amax",
"scales", ...}, "calibration_profile", "workspace", "device_memory_size"), `trt.log_messages`
[(severity, text)], `trt.fake_generation`, and `trt.fake_memory` (a tests.fakes.cuda.FakeCudaMemory
whose `.device` is the GPU memory model every front end shares).
"""

import sys
import types

from tests.fakes.cuda import FakeCudaMemory, GpuMemory, install_bindings
from tests.fakes.trt import builder, parser, runtime
from tests.fakes.trt.calibration import FakeProcessTerminated
from tests.fakes.trt.context import NUMPY, ContextImpl
from tests.fakes.trt.devices import DEVICES
from tests.fakes.trt.enums import SEVERITIES, install_enums, make_enum, make_nptype, volume
from tests.fakes.trt.generations import NAMES, generation
from tests.fakes.trt.machine import install_identity
from tests.fakes.trt.surface import public_class

GENERATIONS = NAMES   # ("8.2", "8.6", "10.3"); "8.0" is accepted too (8.2's API, version 8.0.1.6)

__all__ = ["GENERATIONS", "DEVICES", "FakeProcessTerminated", "FakeCudaMemory", "make_fake_tensorrt", "install"]


class FakeState(object):
    """What every fake class of one module instance shares (its `_state`)."""

    def __init__(self, trt, table, memory, gpu, fast_fp16, fast_int8):
        self.trt, self.table, self.memory = trt, table, memory
        self.gpu, self.fast_fp16, self.fast_int8 = tuple(gpu), fast_fp16, fast_int8
        self.Dims = runtime.Dims

    def identity(self):
        """(GPU name, compute capability, TensorRT version): what plans and timing caches are tied to."""
        return [self.gpu[0], self.gpu[1], self.trt.__version__]

    def log(self, logger, severity, message):
        self.trt.log_messages.append((int(severity), message))
        if logger is not None and type(logger).log is not self.trt.Logger.log:
            logger.log(getattr(self.trt.Logger.Severity, SEVERITIES[int(severity)]), message)

    def numpy_dtype(self, trt_type):
        return NUMPY[trt_type.name]

    def cuda_context(self):
        """The CUDA context TensorRT works in on this thread. TensorRT calls the CUDA runtime API,
        which uses the context current to the calling thread and, when there is none, makes the
        device's primary context current (CUDA runtime API, "Interactions with the CUDA Driver API")."""
        return self.memory.device.contexts.runtime_current()


def _logger_classes(trt):
    severity = make_enum("Severity", SEVERITIES)

    class ILogger(object):
        Severity = severity

        def __init__(self):
            pass

        def log(self, severity, msg):
            raise RuntimeError('Tried to call pure virtual function "ILogger::log"')

    class Logger(ILogger):
        def __init__(self, min_severity=severity.WARNING):
            ILogger.__init__(self)
            self.min_severity = min_severity

        def log(self, severity, msg):
            trt.log_messages.append((int(severity), msg))

    for name in SEVERITIES:
        setattr(ILogger, name, getattr(severity, name))
    return ILogger, Logger


def _calibrator_classes(trt, state):
    def base_init(self):
        self._fake_base_init = True

    def pure(name):
        def method(self, *args):
            raise RuntimeError('Tried to call pure virtual function "IInt8Calibrator::{}"'.format(name))
        method.__name__ = name
        return method

    common = dict(__init__=base_init, get_batch_size=pure("get_batch_size"), get_batch=pure("get_batch"),
                  read_calibration_cache=pure("read_calibration_cache"),
                  write_calibration_cache=pure("write_calibration_cache"))
    base = public_class("IInt8Calibrator", type("IInt8Calibrator", (object,), dict(
        common, get_algorithm=pure("get_algorithm"))), state.table["column"], state)
    base.__setattr__ = object.__setattr__   # Python subclasses have a __dict__
    for name, algorithm in (("IInt8LegacyCalibrator", "LEGACY_CALIBRATION"),
                            ("IInt8EntropyCalibrator", "ENTROPY_CALIBRATION"),
                            ("IInt8EntropyCalibrator2", "ENTROPY_CALIBRATION_2"),
                            ("IInt8MinMaxCalibrator", "MINMAX_CALIBRATION")):
        def get_algorithm(self, algorithm=algorithm):
            return getattr(trt.CalibrationAlgoType, algorithm)
        setattr(trt, name, type(name, (base,), {"get_algorithm": get_algorithm}))
    trt.IInt8Calibrator = base


def _require_onnx_runtime():
    """The fakes parse with `onnx` and compute with onnxruntime: without them (a Jetson) a test skips."""
    import pytest

    for module in ("onnx", "onnxruntime"):
        pytest.importorskip(module, reason="the TensorRT fakes need {} (desktop test dependency)".format(module))


def make_fake_tensorrt(generation_name, fast_fp16=True, fast_int8=True, gpu=("NVIDIA Tegra X1", "5.3"), memory=None,
                       max_opset=None):
    """A module object standing in for `import tensorrt` of `generation_name` ("8.0", "8.2", "8.6", "10.3").

    gpu: (CUDA name, compute capability) it runs on (stamped into plans and timing caches).
    memory: the FakeCudaMemory that calibrators and execution contexts read and write (a new one
    for `gpu` when None). max_opset overrides the parser's.
    """
    _require_onnx_runtime()
    table = generation(generation_name)
    if max_opset:
        table["max_opset"] = int(max_opset)
    trt = types.ModuleType("tensorrt")
    trt.__version__ = table["version"]
    trt.__file__ = "<fake tensorrt {}>".format(generation_name)
    trt.builds, trt.log_messages, trt.fake_generation = [], [], generation_name
    trt.fake_memory = memory = memory or FakeCudaMemory(gpu[0], gpu[1])
    state = FakeState(trt, table, memory, gpu, fast_fp16, fast_int8)
    trt.fake_state = state
    install_enums(trt, table)
    trt.volume, trt.nptype = volume, make_nptype(trt, table)
    trt.Dims, trt.IHostMemory = runtime.Dims, builder.HostMemory
    trt.ILogger, trt.Logger = _logger_classes(trt)
    column = table["column"]
    for name, impl in (("ITensor", parser.TensorImpl), ("INetworkDefinition", parser.NetworkImpl),
                       ("ParserError", parser.ParserErrorImpl), ("OnnxParser", parser.OnnxParserImpl),
                       ("IOptimizationProfile", builder.OptimizationProfileImpl),
                       ("ITimingCache", builder.TimingCacheImpl), ("IBuilderConfig", builder.BuilderConfigImpl),
                       ("Builder", builder.BuilderImpl), ("Runtime", runtime.RuntimeImpl),
                       ("ICudaEngine", runtime.EngineImpl), ("IExecutionContext", ContextImpl)):
        setattr(trt, name, public_class(name, impl, column, state))
    _calibrator_classes(trt, state)
    return trt


def install(monkeypatch, generation_name, device="nano", gpu=None, compute_capability=None, cuda="backend",
            **kwargs):
    """Put a fake TensorRT of `generation_name` and a fake `device` in place for one test; returns the module.

    device: a DEVICES name. gpu / compute_capability override its CUDA name and capability;
    fast_fp16, fast_int8, max_opset and free_bytes (the GPU's free memory) may be given too.
    cuda: "backend" sets edge.cuda.memory._BACKEND to trt.fake_memory (a FakeCudaMemory);
    "pycuda" / "cuda-python" put those fake modules in sys.modules and reset _BACKEND to None so
    edge's own backend classes run against them; None: no CUDA binding importable at all.
    The machine also answers nvidia-smi and has the board's device-tree model (machine.py).
    """
    import edge.cuda.memory

    profile = DEVICES[device]
    name, capability = gpu or profile.cuda_name, compute_capability or profile.compute_capability
    kwargs.setdefault("fast_fp16", profile.fast_fp16)
    kwargs.setdefault("fast_int8", profile.fast_int8)
    free_bytes = kwargs.pop("free_bytes", None)
    gpu_memory = GpuMemory(name, capability, profile.memory_mb, free_bytes)
    memory = FakeCudaMemory(device=gpu_memory)
    trt = make_fake_tensorrt(generation_name, gpu=(name, capability), memory=memory, **kwargs)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    if cuda == "backend":
        install_bindings(monkeypatch, gpu_memory, None)
        monkeypatch.setattr(edge.cuda.memory, "_BACKEND", memory)
    else:
        trt.fake_cuda_modules = install_bindings(monkeypatch, gpu_memory, cuda)
        monkeypatch.setattr(edge.cuda.memory, "_BACKEND", None)
    install_identity(monkeypatch, profile, name, capability, trt)
    return trt

