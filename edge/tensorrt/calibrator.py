"""TensorRT INT8 calibrators (implicit quantization) that feed numpy batches or read a cache.

They subclass TensorRT's own bases (IInt8EntropyCalibrator2, IInt8MinMaxCalibrator), so the class
is made at run time from the imported module. Batches are float32 numpy arrays of the model's input (NCHW, or NHWC pixels), copied to the
GPU through edge.cuda.memory, inside its context (`memory.current()`): TensorRT calls get_batch on
the thread that builds, and the pointers it returns must belong to the context the build runs in,
so the caller builds inside `memory.current()` too. TensorRT hands the finished cache to
`write_calibration_cache`; the calibrator keeps it (`.cache`) and the caller writes it atomically
once the build succeeded.
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


class _DeviceFeed(object):
    """The batches on the GPU: one page-locked buffer, one device buffer and a stream, made on first
    use and reused. Each call makes `memory`'s CUDA context current around what it does."""

    def __init__(self, memory, batches):
        self.memory, self.batches = memory, batches
        self.host = self.device = self.stream = None

    def pointer(self, index):
        """Batch `index` copied to the device (the copy finished): its device pointer."""
        memory, batch = self.memory, self.batches[index]
        with memory.current():
            if self.device is None:
                self.stream = memory.stream()
                self.host = memory.pagelocked(batch.size, np.float32)
                self.device = memory.alloc(self.host.nbytes)
            self.host[:] = batch.ravel()
            memory.htod(self.device, self.host, self.stream)
            memory.synchronize(self.stream)
        return memory.pointer(self.device)

    def release(self):
        if self.device is not None:
            with self.memory.current():
                self.memory.free(self.device)
                self.memory.free_host(self.host)
                self.memory.free_stream(self.stream)
                self.host = self.device = self.stream = None


class _Callbacks(object):
    """What TensorRT calls on a calibrator, mixed into its own base class by make_calibrator.

    TensorRT 8.2 calls these from C++ through a noexcept trampoline: an exception escaping them
    ends the process in std::terminate. `_guarded` keeps the first one; the build re-raises it
    through `raise_error`.
    """

    def __init__(self, method, batches, cache, feed):
        self.method = method
        self.batches, self.cache_to_read, self.feed = batches, cache, feed
        self.index = 0
        self.cache = None     # what TensorRT wrote, as bytes
        self.error = None     # an exception raised inside a callback, re-raised after the build

    def get_batch_size(self):
        return int(self.batches[0].shape[0]) if self.batches else 1

    def get_batch(self, names):
        return self._guarded(self._next_batch, None)

    def read_calibration_cache(self):
        return self._guarded(lambda: self.cache_to_read if self.cache_to_read else None, None)

    def write_calibration_cache(self, data):
        def keep():
            self.cache = bytes(memoryview(data))
        self._guarded(keep, None)

    def _guarded(self, callback, failed):
        try:
            return callback()
        except BaseException as exc:   # KeyboardInterrupt too: it would terminate as well
            if self.error is None:
                self.error = exc
            return failed

    def _next_batch(self):
        if self.error is not None or self.index >= len(self.batches):
            return None
        pointer = self.feed.pointer(self.index)
        self.index += 1
        return [pointer]

    def raise_error(self):
        """Re-raise what a callback raised during the build (a failed build says only 'None')."""
        if self.error is not None:
            error, self.error = self.error, None
            if isinstance(error, EdgeError) or not isinstance(error, Exception):
                raise error
            raise EdgeError("INT8 calibration failed while feeding batch {}: {}: {}".format(
                self.index + 1, type(error).__name__, error))

    def release(self):
        self.feed.release()


def make_calibrator(trt, method="entropy", batches=None, cache=None, memory=None):
    """A calibrator instance: over `batches` (equal-sized float32 arrays of the model's input), or reading `cache` only.

    `memory` is an edge.cuda.memory backend (needed only with batches): build inside
    `memory.current()` on the thread that calls `.release()` afterwards.
    """
    if method not in METHODS:
        raise EdgeError("unknown calibration method {!r}; TensorRT calibrates with {}".format(
            method, " or ".join(METHODS)))
    base = trt.IInt8EntropyCalibrator2 if method == "entropy" else trt.IInt8MinMaxCalibrator
    batches = list(batches or [])
    if batches and memory is None:
        raise ValueError("calibrating from batches needs a CUDA memory backend")

    class Calibrator(_Callbacks, base):   # _Callbacks first: its methods override the bindings' pure virtual ones
        def __init__(self):
            base.__init__(self)   # required by TensorRT's Python bindings
            _Callbacks.__init__(self, method, batches, cache, _DeviceFeed(memory, batches))

    return Calibrator()
