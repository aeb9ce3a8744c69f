"""edge.cuda.memory's backend interface over the GPU memory model (FakeCudaMemory).

Like the real backends it owns a context, the device's primary one: `current()` pushes it on the
calling thread's stack for the body of a `with` and pops it after (cuDevicePrimaryCtxRetain once,
cuCtxPushCurrent / cuCtxPopCurrent, as the driver API documents them). Every call that touches
the device (allocations, copies, streams) is a driver call: on a thread with no current context it
raises CudaInvalidContext ("invalid device context"), and with a pointer or stream of another
context it faults (contexts.py). device_info() asks the device, not a context.
"""

import contextlib

import numpy as np

from tests.fakes.cuda.memory import CudaFault, GpuMemory, host_span


class FakeStream(object):
    def __init__(self, handle):
        self.handle = handle


class _PinnedArray(object):
    """What np.asarray turns into a numpy view of a page-locked buffer (the array's .base)."""

    def __init__(self, block, shape, dtype):
        self.block = block
        self.__array_interface__ = {"shape": tuple(shape), "typestr": np.dtype(dtype).str, "version": 3,
                                    "data": (block.address, False)}


class FakeCudaMemory(object):
    """edge.cuda.memory's backend interface over a GpuMemory (`device`), strict like pycuda's docs:
    async copies (stream given) need page-locked host arrays from `pagelocked`."""

    name = "fake"

    def __init__(self, gpu="NVIDIA Tegra X1", compute_capability="5.3", memory_mb=3964, device=None):
        self.device = device or GpuMemory(gpu, compute_capability, memory_mb)
        self.gpu, self.compute_capability = self.device.name, self.device.compute_capability
        self.calls = []
        self.primary = None      # the retained primary context, on first current()

    @contextlib.contextmanager
    def current(self):
        """The device's primary context, current to this thread for the body."""
        contexts = self.device.contexts
        if self.primary is None:
            self.primary = contexts.retain_primary()
        contexts.push(self.primary)
        try:
            yield self
        finally:
            contexts.pop()

    def _driver(self, routine):
        self.device.contexts.require(routine)

    @property
    def buffers(self):
        """{pointer: bytearray} of the live device allocations."""
        return self.device.allocations

    @property
    def free_bytes(self):
        return self.device.free_bytes

    @free_bytes.setter
    def free_bytes(self, value):
        self.device.free_bytes = int(value)

    def live(self):
        return self.device.live()

    def stream(self):
        self._driver("cuStreamCreate")
        self.calls.append("stream")
        return FakeStream(self.device.create_stream())

    def stream_handle(self, stream):
        return stream.handle

    def synchronize(self, stream):
        self._driver("cuStreamSynchronize")
        self.calls.append("synchronize")
        self.device.synchronize(None if stream is None else stream.handle)

    def free_stream(self, stream):
        self._driver("cuStreamDestroy")
        self.calls.append("free_stream")
        self.device.destroy_stream(stream.handle)

    def pagelocked(self, shape, dtype):
        self._driver("cuMemHostAlloc")
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
        block = self.device.alloc_pinned(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        return np.asarray(_PinnedArray(block, shape, dtype))

    def free_host(self, array):
        self._driver("cuMemFreeHost")
        self.calls.append("free_host")
        self.device.free_pinned(array.__array_interface__["data"][0])

    def alloc(self, nbytes):
        self._driver("cuMemAlloc")
        self.calls.append("alloc")
        return self.device.alloc(nbytes)

    def pointer(self, buffer):
        return int(buffer)

    def free(self, buffer):
        self._driver("cuMemFree")
        self.device.free(int(buffer))
        self.calls.append("free")

    def _host(self, host, stream, writable):
        address, nbytes = host_span(host, writable)
        if stream is not None and not self.device.is_pinned(address, nbytes):
            raise CudaFault("an asynchronous copy needs page-locked host memory (memory.pagelocked)")
        return address, nbytes

    def htod(self, buffer, host, stream=None):
        self._driver("cuMemcpyHtoD")
        address, nbytes = self._host(host, stream, False)
        self.device.htod(int(buffer), address, nbytes, None if stream is None else stream.handle)
        self.calls.append("htod")

    def dtoh(self, host, buffer, stream=None):
        self._driver("cuMemcpyDtoH")
        address, nbytes = self._host(host, stream, True)
        self.device.dtoh(address, int(buffer), nbytes, None if stream is None else stream.handle)
        self.calls.append("dtoh")

    def read(self, pointer, nbytes, dtype):
        """What device memory holds now (queued copies not yet run are not in it)."""
        return np.frombuffer(self.device.read(pointer, nbytes, "read"), dtype=dtype)

    def device_info(self):
        return self.device.device_info()
