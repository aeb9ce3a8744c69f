"""TensorRT INT8 calibrators (implicit quantization) that feed numpy batches or read a cache.

They subclass TensorRT's own bases (IInt8EntropyCalibrator2, IInt8MinMaxCalibrator), so the class
is made at run time from the imported module. Batches are float32 NCHW numpy arrays, copied to the
GPU through edge.cuda_memory. TensorRT hands the finished cache to `write_calibration_cache`; the
calibrator keeps it (`.cache`) and the caller writes it atomically once the build succeeded.
Python 3.6 compatible, no torch.
"""

import numpy as np

from edge.errors import EdgeError

METHODS = ("entropy", "minmax")
# ONNX Runtime's percentile method has no TensorRT calibrator; entropy also clips outliers and is
# TensorRT's recommendation for CNNs. The artifact records both names.
ALIASES = {"percentile": "entropy"}


def resolve_method(method):
    """(TensorRT method, note line or None) for an edge-export --calib-method."""
    if method in METHODS:
        return method, None
    if method in ALIASES:
        chosen = ALIASES[method]
        return chosen, ("note: TensorRT has no {} calibrator; its calibration cache uses {} (the QDQ models keep "
                        "the {} scales)".format(method, chosen, method))
    raise EdgeError("unknown calibration method {!r}; TensorRT calibrates with {}".format(method, " or ".join(METHODS)))


def regroup(batches, batch_size):
    """float32 C-contiguous batches of exactly `batch_size` items from NCHW arrays of any batch sizes.

    Items that do not fill a last batch are dropped (TensorRT needs full batches)."""
    arrays = [np.asarray(batch, dtype=np.float32) for batch in batches]
    if not arrays:
        raise EdgeError("calibration needs at least one batch of images")
    shapes = set(array.shape[1:] for array in arrays)
    if any(array.ndim != 4 for array in arrays) or len(shapes) != 1:
        raise EdgeError("calibration batches must be NCHW arrays of one item shape, got {}".format(
            sorted(set(array.shape for array in arrays))))
    items = np.concatenate(arrays, axis=0)
    count = (items.shape[0] // batch_size) * batch_size
    if count == 0:
        raise EdgeError("calibration needs at least {} images (one batch), got {}".format(batch_size, items.shape[0]))
    return [np.ascontiguousarray(items[start:start + batch_size]) for start in range(0, count, batch_size)]


def make_calibrator(trt, method="entropy", batches=None, cache=None, memory=None):
    """A calibrator instance: over `batches` (equal-sized float32 NCHW arrays), or reading `cache` only.

    `memory` is an edge.cuda_memory backend (needed only with batches). Call `.release()` afterwards.
    """
    if method not in METHODS:
        raise EdgeError("unknown calibration method {!r}; TensorRT calibrates with {}".format(
            method, " or ".join(METHODS)))
    base = trt.IInt8EntropyCalibrator2 if method == "entropy" else trt.IInt8MinMaxCalibrator
    batches = list(batches or [])
    if batches and memory is None:
        raise ValueError("calibrating from batches needs a CUDA memory backend")

    class Calibrator(base):
        def __init__(self):
            base.__init__(self)   # required by TensorRT's Python bindings
            self.method = method
            self.index = 0
            self.cache = None     # what TensorRT wrote, as bytes
            self.error = None     # an exception raised inside a callback, re-raised after the build
            self.host = self.device = self.stream = None

        def get_batch_size(self):
            return int(batches[0].shape[0]) if batches else 1

        def get_batch(self, names):
            return self._guarded(self._next_batch, None)

        def read_calibration_cache(self):
            return self._guarded(lambda: cache if cache else None, None)

        def write_calibration_cache(self, data):
            def keep():
                self.cache = bytes(memoryview(data))
            self._guarded(keep, None)

        def _guarded(self, callback, failed):
            # TensorRT 8.2 calls these from C++ through a noexcept trampoline: an exception escaping
            # them ends the process in std::terminate. Keep the first one; the build re-raises it.
            try:
                return callback()
            except BaseException as exc:   # KeyboardInterrupt too: it would terminate as well
                if self.error is None:
                    self.error = exc
                return failed

        def _next_batch(self):
            if self.error is not None or self.index >= len(batches):
                return None
            batch = batches[self.index]
            if self.device is None:
                self.stream = memory.stream()
                self.host = memory.pagelocked(batch.size, np.float32)
                self.device = memory.alloc(self.host.nbytes)
            self.host[:] = batch.ravel()
            memory.htod(self.device, self.host, self.stream)
            memory.synchronize(self.stream)
            self.index += 1
            return [memory.pointer(self.device)]

        def raise_error(self):
            """Re-raise what a callback raised during the build (a failed build says only 'None')."""
            if self.error is not None:
                error, self.error = self.error, None
                if isinstance(error, EdgeError) or not isinstance(error, Exception):
                    raise error
                raise EdgeError("INT8 calibration failed while feeding batch {}: {}: {}".format(
                    self.index + 1, type(error).__name__, error))

        def release(self):
            if self.device is not None:
                memory.free(self.device)
                memory.free_host(self.host)
                memory.free_stream(self.stream)
                self.host = self.device = self.stream = None

    return Calibrator()
