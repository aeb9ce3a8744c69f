"""Implicit INT8 calibration: what the builder does with an IInt8Calibrator (python/src/infer/pyInt8.cpp).

- Python callbacks run behind C++ trampolines. release/8.2's are `noexcept` with no try/catch, so
  an exception escaping get_batch_size / get_batch / read_calibration_cache /
  write_calibration_cache ends the process (std::terminate): raised here as FakeProcessTerminated,
  a BaseException. release/8.6 and 10.3 catch it, print "[ERROR] Exception caught in <name>(): ..."
  and return the failure value: get_batch -> no more batches, read_calibration_cache -> no cache,
  write_calibration_cache -> nothing written, get_batch_size -> -1.
- get_batch(names) gets the input names; its list is copied as exactly one pointer per name
  (memcpy of nbBindings entries): a short list leaves garbage (here: null) pointers, and reading
  them is an illegal memory access, which fails the build.
- The batch is read from device memory when get_batch returns: copies still queued on a stream
  the calibrator did not synchronize have not landed yet. The pointers must belong to the CUDA
  context the build runs in (another context's address space: an illegal memory access).
- A cache whose header ("TRT-<NV_TENSORRT_VERSION>-<algorithm>") fits is used instead of batches.
- The cache TensorRT writes is one line per input, "name: <float32 scale, big-endian hex>".
"""

import struct

import numpy as np

from tests.fakes.cuda import CudaFault
from tests.fakes.trt.generations import tensorrt_version_number


class FakeProcessTerminated(BaseException):
    """TensorRT 8.2 would have ended the process here (std::terminate from a noexcept trampoline)."""


_ALGORITHMS = {"ENTROPY_CALIBRATION_2": "EntropyCalibration2", "MINMAX_CALIBRATION": "MinMaxCalibration",
               "ENTROPY_CALIBRATION": "EntropyCalibration", "LEGACY_CALIBRATION": "LegacyCalibration"}


def callback(state, calibrator, name, failed, *args):
    """Call calibrator.<name>(*args) as the generation's trampoline does."""
    try:
        method = getattr(calibrator, name, None)
        if method is None:
            raise RuntimeError('Tried to call pure virtual function "IInt8Calibrator::{}"'.format(name))
        return method(*args)
    except Exception as exc:
        if not state.table["calibrator_exceptions_caught"]:
            raise FakeProcessTerminated("terminate called after throwing an instance of "
                                        "'pybind11::error_already_set' in {}(): {}: {}".format(
                                            name, type(exc).__name__, exc))
        state.log(None, 1, "[ERROR] Exception caught in {}(): {}".format(name, exc))
        return failed


def header(state, algorithm):
    return "TRT-{}-{}".format(tensorrt_version_number(state.trt.__version__), _ALGORITHMS[algorithm.name])


def scales_from_cache(text):
    """{tensor name: scale} from a calibration cache's lines."""
    scales = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.rpartition(": ")
        try:
            scales[name] = struct.unpack(">f", bytes.fromhex(value.strip()))[0]
        except (ValueError, struct.error):
            continue
    return scales


def _pointers(result, count):
    values = [int(np.uint64(value.__index__())) for value in result]   # std::vector<size_t> cast
    return (values + [0] * count)[:count]


def calibrate(state, config, network, calibrator, record):
    """Read the calibrator's cache, else pull its batches; True when the build may go on."""
    algorithm = callback(state, calibrator, "get_algorithm", None)
    if algorithm is None:
        return False
    expected = header(state, algorithm)
    cache = callback(state, calibrator, "read_calibration_cache", None)
    if cache is not None:
        text = bytes(memoryview(cache)).decode("utf-8", "replace")
        if text.splitlines() and text.splitlines()[0] == expected:
            record["calibration"] = {"from": "cache", "algorithm": algorithm.name, "scales": scales_from_cache(text)}
            return True
        state.log(None, 2, "Calibration cache header mismatch (expected {}); recalibrating".format(expected))
    names = [t.name for t in network._inputs]
    shapes = config._calibration_profile or (config._profiles[0] if config._profiles else None)
    batch_size = callback(state, calibrator, "get_batch_size", -1)
    amax, images = {}, 0
    while True:
        result = callback(state, calibrator, "get_batch", None, list(names))
        if not result:
            break
        try:
            pointers = _pointers(result, len(names))
        except (TypeError, AttributeError, OverflowError) as exc:   # pybind11 cast_error in the trampoline
            callback(state, _Raiser(exc), "get_batch", None)
            break
        for name, pointer in zip(names, pointers):
            tensor = [t for t in network._inputs if t.name == name][0]
            shape = list(shapes[name][1]) if shapes and name in shapes else list(tensor._shape)
            shape = [batch_size if d < 0 else d for d in shape]
            dtype = np.dtype(state.numpy_dtype(tensor.dtype))
            try:
                nbytes = int(np.prod(shape)) * dtype.itemsize
                state.memory.device.check(pointer, nbytes, "calibration input")   # of this thread's context
                raw = state.memory.device.read(pointer, nbytes)
            except CudaFault as exc:
                state.log(None, 1, "[defaultAllocator.cpp::] Error Code 1: Cuda Runtime (an illegal memory access "
                                   "was encountered) reading calibration input {}: {}".format(name, exc))
                return False
            values = np.frombuffer(raw, dtype=dtype)
            amax[name] = max(amax.get(name, 0.0), float(np.abs(values).max()) if values.size else 0.0)
        images += max(batch_size, 0)
    if not images:
        state.log(None, 1, "Calibration failure occurred with no scaling factors detected. This could be due to no "
                           "int8 calibrator or insufficient custom scales for network layers.")
        return False
    scales = dict((name, float(np.float32(value / 127.0))) for name, value in amax.items())
    lines = [expected] + ["{}: {}".format(name, struct.pack(">f", scale).hex())
                          for name, scale in sorted(scales.items())]
    callback(state, calibrator, "write_calibration_cache", None, memoryview(("\n".join(lines) + "\n").encode("ascii")))
    record["calibration"] = {"from": "batches", "algorithm": algorithm.name, "images": images, "amax": amax,
                             "batch_size": batch_size, "scales": scales}
    return True


class _Raiser(object):
    """Re-raises a cast error through the same trampoline rules as a Python exception."""

    def __init__(self, exc):
        self.exc = exc

    def get_batch(self):
        raise self.exc
