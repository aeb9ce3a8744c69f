"""A fake cuda-python runtime (`cuda.cudart` / `cuda.bindings.runtime`): every call returns (err, *results).

Contexts (contexts.py; CUDA runtime API, "Interactions with the CUDA Driver API"): a runtime call
that needs a context works in the one current to the calling thread, and on a thread with none
selects the device's primary context and makes it current there. So the runtime never answers
"no context"; a pointer of another context is cudaErrorInvalidValue, a stream of another context
cudaErrorInvalidResourceHandle. Device queries (count, properties) need no context.
"""

import types

from tests.fakes.cuda.memory import CudaFault, CudaOutOfMemory, host_span

def make_cudart(device):
    """A module standing in for `cuda.cudart` / `cuda.bindings.runtime`: every call returns (err, *results)."""
    import enum

    rt = types.ModuleType("cuda.bindings.runtime")

    class cudaError_t(enum.IntEnum):   # noqa: N801 (cuda-python's names)
        cudaSuccess = 0
        cudaErrorInvalidValue = 1
        cudaErrorMemoryAllocation = 2
        cudaErrorInvalidMemcpyDirection = 21
        cudaErrorInvalidDevice = 101
        cudaErrorInvalidResourceHandle = 400
        cudaErrorIllegalAddress = 700

    class cudaMemcpyKind(enum.IntEnum):   # noqa: N801
        cudaMemcpyHostToHost = 0
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2
        cudaMemcpyDeviceToDevice = 3
        cudaMemcpyDefault = 4

    class cudaStream_t(object):   # noqa: N801
        """A handle: int() and __index__ give the address, getPtr() its holder's (cuda-python handle types)."""

        def __init__(self, init_value=0, _ptr=0):
            self._value = int(init_value)

        def __int__(self):
            return self._value

        __index__ = __int__

        def getPtr(self):   # noqa: N802
            return id(self)

        def __repr__(self):
            return "<cudaStream_t {}>".format(hex(self._value))

    class cudaDeviceProp(object):   # noqa: N801
        def __init__(self):
            self.name = device.name.encode("utf-8")
            major, minor = device.compute_capability.split(".")
            self.major, self.minor = int(major), int(minor)
            self.totalGlobalMem = device.total_bytes
            self.integrated = 0 if "GeForce" in device.name else 1

    ok = (cudaError_t.cudaSuccess,)

    def _code(exc):
        if isinstance(exc, CudaOutOfMemory):
            return cudaError_t.cudaErrorMemoryAllocation
        if "illegal memory access" in str(exc):
            return cudaError_t.cudaErrorIllegalAddress
        if "resource handle" in str(exc):
            return cudaError_t.cudaErrorInvalidResourceHandle
        return cudaError_t.cudaErrorInvalidValue

    def _stream(stream):
        if stream is None:
            return 0
        return int(stream if isinstance(stream, cudaStream_t) else cudaStream_t(stream))

    def _address(value):
        if isinstance(value, int):
            return value
        return host_span(value, writable=True)[0]   # buffer-protocol objects pass their pointer

    def _kind(kind):
        return cudaMemcpyKind(kind.value)   # cuda-python reads kind.value: a plain int fails there

    def _call(function, *args):
        """(err,) for calls without results; (err, result) for those with one (None when err)."""
        device.contexts.runtime_current()
        try:
            result = function(*args)
        except CudaFault as exc:
            return (_code(exc),) if function in _NO_RESULT else (_code(exc), None)
        return ok if result is None else (cudaError_t.cudaSuccess, result)

    def cudaGetDeviceCount():   # noqa: N802
        return (cudaError_t.cudaSuccess, 1)

    def cudaGetDevice():   # noqa: N802
        return (cudaError_t.cudaSuccess, 0)

    def cudaSetDevice(index):   # noqa: N802
        if index != 0:
            return (cudaError_t.cudaErrorInvalidDevice,)
        device.contexts.initialised = True   # "makes the primary context ... current to the calling thread"
        device.contexts.set_current(device.contexts.primary)
        return ok

    def cudaGetDeviceProperties(index):   # noqa: N802
        if index != 0:
            return (cudaError_t.cudaErrorInvalidDevice, None)
        return (cudaError_t.cudaSuccess, cudaDeviceProp())

    def cudaMemGetInfo():   # noqa: N802
        device.contexts.runtime_current()
        return (cudaError_t.cudaSuccess, device.free_bytes, device.total_bytes)

    def cudaMalloc(size):   # noqa: N802
        return _call(device.alloc, size)

    def cudaFree(devPtr):   # noqa: N802,N803
        return _call(device.free, int(devPtr))

    def cudaMallocHost(size):   # noqa: N802
        return _call(lambda: device.alloc_pinned(size).address)

    def cudaHostAlloc(size, flags):   # noqa: N802
        return cudaMallocHost(size)

    def cudaFreeHost(ptr):   # noqa: N802
        return _call(device.free_pinned, int(ptr))

    def cudaStreamCreate():   # noqa: N802
        device.contexts.runtime_current()
        return (cudaError_t.cudaSuccess, cudaStream_t(device.create_stream()))

    def cudaStreamDestroy(stream):   # noqa: N802
        return _call(device.destroy_stream, _stream(stream))

    def cudaStreamSynchronize(stream):   # noqa: N802
        return _call(device.synchronize, _stream(stream))

    def cudaDeviceSynchronize():   # noqa: N802
        return _call(device.synchronize)

    def _copy(dst, src, count, kind, stream):
        kind = _kind(kind)
        if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
            device.htod(_address(dst), _address(src), count, stream)
        elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
            device.dtoh(_address(dst), _address(src), count, stream)
        else:
            raise CudaFault("invalid argument: this fake copies host<->device only, not {}".format(kind.name))

    def cudaMemcpy(dst, src, count, kind):   # noqa: N802
        return _call(_copy, dst, src, int(count), kind, None)

    def cudaMemcpyAsync(dst, src, count, kind, stream):   # noqa: N802
        return _call(_copy, dst, src, int(count), kind, _stream(stream))

    _NO_RESULT = (device.free, device.free_pinned, device.destroy_stream, device.synchronize, _copy)

    def cudaGetErrorString(error):   # noqa: N802
        return (cudaError_t.cudaSuccess, cudaError_t(error).name.encode())

    def cudaGetErrorName(error):   # noqa: N802
        return (cudaError_t.cudaSuccess, cudaError_t(error).name.encode())

    for attribute, value in dict(locals()).items():
        if attribute.startswith("cuda"):
            setattr(rt, attribute, value)
    return rt


def cuda_python_modules(runtime, driver):
    """sys.modules entries for both of cuda-python's layouts: cuda.cudart and cuda.cuda (before 12.x's
    cuda.bindings), cuda.bindings.runtime and cuda.bindings.driver."""
    cuda = types.ModuleType("cuda")
    cuda.__path__ = []
    bindings = types.ModuleType("cuda.bindings")
    bindings.__path__ = []
    bindings.runtime, bindings.driver = runtime, driver
    cuda.cudart, cuda.cuda, cuda.bindings = runtime, driver, bindings
    return {"cuda": cuda, "cuda.cudart": runtime, "cuda.cuda": driver, "cuda.bindings": bindings,
            "cuda.bindings.runtime": runtime, "cuda.bindings.driver": driver}
