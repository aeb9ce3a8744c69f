"""TensorRT INT8 calibrators (implicit quantization, 8.x) that feed numpy batches and cache the scales.

The classes subclass TensorRT's own calibrator bases, so they are made at run time from the
imported module. Python 3.6 compatible, no torch.
"""

import os

import numpy as np

from edge.atomic import write_bytes
from edge.errors import EdgeError

METHODS = ("entropy", "minmax")


def make_calibrator(trt, memory, batches, cache_path, method="entropy"):
    """A calibrator over float32 NCHW `batches` (or none: read `cache_path` only)."""
    if method not in METHODS:
        raise EdgeError("TensorRT calibrates with entropy or minmax, not {!r} (percentile is ONNX Runtime's; "
                        "the QDQ models carry those scales)".format(method))
    base = trt.IInt8EntropyCalibrator2 if method == "entropy" else trt.IInt8MinMaxCalibrator
    batches = [np.ascontiguousarray(batch, dtype=np.float32) for batch in (batches or [])]

    class Calibrator(base):
        def __init__(self):
            base.__init__(self)
            self.index = 0
            self.stream = memory.stream() if batches else None
            self.device = memory.alloc(batches[0].nbytes) if batches else None

        def get_batch_size(self):
            return int(batches[0].shape[0]) if batches else 1

        def get_batch(self, names):
            if self.index >= len(batches):
                return None
            memory.htod(self.device, batches[self.index], self.stream)
            memory.synchronize(self.stream)
            self.index += 1
            return [memory.pointer(self.device)]

        def read_calibration_cache(self):
            if os.path.isfile(cache_path):
                with open(cache_path, "rb") as handle:
                    return handle.read()
            return None

        def write_calibration_cache(self, cache):
            write_bytes(cache_path, bytes(cache))

        def release(self):
            if self.device is not None:
                memory.free(self.device)
                self.device = None

    return Calibrator()
