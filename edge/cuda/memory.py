"""The one module for CUDA device memory: page-locked host arrays, device buffers, a stream, copies,
and the CUDA context they live in.

TensorRT takes raw device pointers (ints) and a stream handle; something must allocate them.
Two backends with one interface, chosen by what can be imported, pycuda first:

    pycuda       JetPack 4.6 (Nano, TX2): `pip3 install pycuda`.
    cuda-python  elsewhere: `cuda.bindings.runtime` / `.driver` (`cuda.cudart` / `cuda.cuda` before 12.x).

Both are imported on first use (through `edge.util.lazy`), so importing this module costs nothing.

A CUDA context is current to one thread at a time, and pointers, streams and TensorRT engines
belong to the context that made them. `import pycuda.autoinit` made a context current on the
importing thread only: a call from any other thread (edge-serve's batcher) failed with
"invalid device context" (inducer/pycuda#242, NVIDIA/TensorRT#475). So each backend owns the
device's primary context, the one the CUDA runtime API and so TensorRT use, retained once, and
`current()` pushes it on the calling thread for the body of a `with` and pops it afterwards
(re-entrant per thread; what was current before comes back). Every call that touches the device
or a TensorRT object runs inside it, whichever thread makes it:

    memory = backend()                       # MissingDependency naming both installs if neither is here
    with memory.current():                   # the context, current on this thread
        host = memory.pagelocked(n, np.float32)  # 1-D page-locked numpy array
        dev = memory.alloc(host.nbytes)          # device buffer; memory.pointer(dev) is what TensorRT takes
        stream = memory.stream()                 # memory.stream_handle(stream): TensorRT's stream_handle
        memory.htod(dev, host, stream)           # async on a stream; synchronous when stream is None
        ... execute_async_v2(bindings, handle) / set_tensor_address + execute_async_v3(handle) ...
        memory.dtoh(host, dev, stream)
        memory.synchronize(stream)
        memory.free(dev); memory.free_host(host); memory.free_stream(stream)

Each caller frees what it allocated. `device_info()` says which GPU this is (no context needed).
Python 3.6 compatible (JetPack 4.6).
"""

import contextlib
import ctypes
import importlib
import threading

import numpy as np

from edge.errors import EdgeError, MissingDependency
from edge.util.lazy import require

BACKENDS = ("pycuda", "cuda-python")

_BACKEND = None   # the backend in use, made on first call to backend() (tests put a fake here)


class CudaError(EdgeError):
    """A CUDA call failed (no device, out of memory, driver problem)."""


class _ContextScope(object):
    """`current()`: the backend's context current on the calling thread for a `with` body.

    Pushed on the way in and popped on the way out, except when this thread is already inside
    one (a nested call), so what was current before comes back and nothing leaks to the thread."""

    def _init_scope(self):
        self._local = threading.local()

    @contextlib.contextmanager
    def current(self):
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._push()
        self._local.depth = depth + 1
        try:
            yield self
        finally:
            self._local.depth = depth
            if depth == 0:
                self._pop()


class PycudaBackend(_ContextScope):
    """pycuda: the JetPack 4.6 choice (TensorRT 8.2's samples use it).

    The device's primary context (Device.retain_primary_context, pycuda 2020.1+; "the one used by
    the CUDA runtime API", so TensorRT works in it too), pushed with Context.push() and popped with
    Context.pop() around each use. Never pycuda.autoinit: its context is current on one thread."""

    name = "pycuda"

    def __init__(self):
        self.cuda = require("pycuda.driver", "CUDA device memory")
        self._call("cuInit", self.cuda.init)
        device = self._call("cuDeviceGet", self.cuda.Device, 0)
        if hasattr(device, "retain_primary_context"):
            self.context = self._call("cuDevicePrimaryCtxRetain", device.retain_primary_context)
        else:   # pycuda before 2020.1: a context of our own; make_context makes it current, so pop it here
            self.context = self._call("cuCtxCreate", device.make_context)
            self.cuda.Context.pop()
        self._init_scope()

    def _push(self):
        self._call("cuCtxPushCurrent", self.context.push)

    def _pop(self):
        self._call("cuCtxPopCurrent", self.cuda.Context.pop)

    def stream(self):
        return self.cuda.Stream()

    def stream_handle(self, stream):
        return int(stream.handle)

    def synchronize(self, stream):
        if stream is None:
            self.cuda.Context.synchronize()
        else:
            stream.synchronize()

    def free_stream(self, stream):
        pass   # pycuda destroys a stream with its object

    def _call(self, what, function, *args):
        # pycuda raises its own hierarchy (pycuda.driver.Error: MemoryError, LogicError, ...).
        try:
            return function(*args)
        except self.cuda.Error as exc:
            raise CudaError("CUDA {} failed: {}".format(what, exc))

    def pagelocked(self, shape, dtype):
        return self._call("pagelocked_empty", self.cuda.pagelocked_empty, shape, np.dtype(dtype))

    def free_host(self, array):
        base = array.base
        if base is not None and hasattr(base, "free"):
            base.free()

    def alloc(self, nbytes):
        return self._call("mem_alloc", self.cuda.mem_alloc, max(1, int(nbytes)))

    def pointer(self, buffer):
        return int(buffer)

    def free(self, buffer):
        buffer.free()

    def htod(self, buffer, host, stream=None):
        if stream is None:
            self.cuda.memcpy_htod(buffer, host)
        else:
            self.cuda.memcpy_htod_async(buffer, host, stream)

    def dtoh(self, host, buffer, stream=None):
        if stream is None:
            self.cuda.memcpy_dtoh(host, buffer)
        else:
            self.cuda.memcpy_dtoh_async(host, buffer, stream)

    def device_info(self):
        device = self.cuda.Device(0)
        major, minor = device.compute_capability()
        return {"name": str(device.name()), "compute_capability": "{}.{}".format(major, minor),
                "memory_mb": int(device.total_memory() // 2 ** 20)}


def _import_cuda_python():
    """cuda-python's (runtime, driver) modules under either layout."""
    for runtime, driver in (("cuda.bindings.runtime", "cuda.bindings.driver"), ("cuda.cudart", "cuda.cuda")):
        try:
            return importlib.import_module(runtime), importlib.import_module(driver)
        except ImportError:
            continue
    # MissingDependency with the install hint, naming the module that is missing
    return require("cuda.cudart", "CUDA device memory"), require("cuda.cuda", "a CUDA context")


def _checked(what, result, success):
    """cuda-python's (error, *results): the result(s), or CudaError naming the error."""
    err, rest = result[0], result[1:]
    if err != success:
        # An IntEnum: its name says what happened (str() of it is only the number on Python 3.11+).
        raise CudaError("CUDA {} failed: {}".format(what, getattr(err, "name", err)))
    return rest[0] if len(rest) == 1 else (rest or None)


class CudaPythonBackend(_ContextScope):
    """cuda-python: the runtime API for memory and copies (every call returns (error, *results)),
    the driver API for the context: the device's primary context, retained once
    (cuDevicePrimaryCtxRetain) and pushed / popped (cuCtxPushCurrent / cuCtxPopCurrent) around
    each use. The runtime would pick the primary context by itself on a thread with none current,
    but it uses whatever context is current on the thread, so this says which."""

    name = "cuda-python"

    def __init__(self):
        self.cudart, self.driver = _import_cuda_python()
        self._host = {}   # id of a page-locked array -> its pointer, for cudaFreeHost
        self._driver_call("cuInit", self.driver.cuInit(0))
        self.device = self._driver_call("cuDeviceGet", self.driver.cuDeviceGet(0))
        self.context = self._driver_call("cuDevicePrimaryCtxRetain", self.driver.cuDevicePrimaryCtxRetain(self.device))
        self._init_scope()

    def _driver_call(self, what, result):
        return _checked(what, result, self.driver.CUresult.CUDA_SUCCESS)

    def _push(self):
        self._driver_call("cuCtxPushCurrent", self.driver.cuCtxPushCurrent(self.context))

    def _pop(self):
        self._driver_call("cuCtxPopCurrent", self.driver.cuCtxPopCurrent())

    def _call(self, what, result):
        return _checked(what, result, self.cudart.cudaError_t.cudaSuccess)

    def stream(self):
        return self._call("cudaStreamCreate", self.cudart.cudaStreamCreate())

    def stream_handle(self, stream):
        return int(stream)

    def synchronize(self, stream):
        if stream is None:
            self._call("cudaDeviceSynchronize", self.cudart.cudaDeviceSynchronize())
        else:
            self._call("cudaStreamSynchronize", self.cudart.cudaStreamSynchronize(stream))

    def free_stream(self, stream):
        self._call("cudaStreamDestroy", self.cudart.cudaStreamDestroy(stream))

    def pagelocked(self, shape, dtype):
        dtype = np.dtype(dtype)
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
        count = int(np.prod(shape))
        nbytes = max(1, count * dtype.itemsize)
        ptr = int(self._call("cudaMallocHost", self.cudart.cudaMallocHost(nbytes)))
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        array = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)
        self._host[id(array)] = ptr
        return array

    def free_host(self, array):
        ptr = self._host.pop(id(array), None)
        if ptr is not None:
            self._call("cudaFreeHost", self.cudart.cudaFreeHost(ptr))

    def alloc(self, nbytes):
        return int(self._call("cudaMalloc", self.cudart.cudaMalloc(max(1, int(nbytes)))))

    def pointer(self, buffer):
        return int(buffer)

    def free(self, buffer):
        self._call("cudaFree", self.cudart.cudaFree(buffer))

    def _copy(self, dst, src, nbytes, kind, stream):
        if stream is None:
            self._call("cudaMemcpy", self.cudart.cudaMemcpy(dst, src, nbytes, kind))
        else:
            self._call("cudaMemcpyAsync", self.cudart.cudaMemcpyAsync(dst, src, nbytes, kind, stream))

    def htod(self, buffer, host, stream=None):
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._copy(int(buffer), host.ctypes.data, host.nbytes, kind, stream)

    def dtoh(self, host, buffer, stream=None):
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._copy(host.ctypes.data, int(buffer), host.nbytes, kind, stream)

    def device_info(self):
        props = self._call("cudaGetDeviceProperties", self.cudart.cudaGetDeviceProperties(0))
        name = props.name
        if isinstance(name, bytes):
            name = name.split(b"\x00", 1)[0].decode("utf-8", "replace")
        return {"name": str(name), "compute_capability": "{}.{}".format(props.major, props.minor),
                "memory_mb": int(props.totalGlobalMem // 2 ** 20)}


_CLASSES = {"pycuda": PycudaBackend, "cuda-python": CudaPythonBackend}


def backend(name=None):
    """The CUDA backend of this process (made once): pycuda, else cuda-python, or `name`.

    Raises MissingDependency, naming both installs, when neither can be imported.
    """
    global _BACKEND
    if _BACKEND is not None and (name is None or _BACKEND.name == name):
        return _BACKEND
    if name is not None and name not in _CLASSES:
        raise EdgeError("unknown CUDA backend {!r}; choose from {}".format(name, ", ".join(BACKENDS)))
    problems = []
    for candidate in [name] if name else list(BACKENDS):
        try:
            _BACKEND = _CLASSES[candidate]()
            return _BACKEND
        except MissingDependency as exc:
            problems.append(str(exc))
    raise MissingDependency("CUDA device memory needs pycuda or cuda-python: " + " / ".join(problems))


def device_info():
    """{"name", "compute_capability" ("5.3"), "memory_mb"} of CUDA device 0, through the backend."""
    return backend().device_info()
