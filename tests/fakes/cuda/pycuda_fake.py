"""A fake `pycuda` (driver, autoinit) over the GPU memory model, from pycuda's doc/driver.rst and the
context handling of its src/cpp/cuda.hpp:

- pycuda keeps its own stack of Context objects per thread (`context_stack`, a
  boost::thread_specific_ptr) beside the driver's (contexts.py). `Device.make_context()` creates a
  context (cuCtxCreate) and makes it current on the calling thread only; `retain_primary_context()`
  retains the device's primary context, the one the runtime API (and so TensorRT) uses, without
  making it current; `push()` / `Context.pop()` switch contexts on the calling thread.
- Driver calls (cuMemAlloc, cuMemcpy*, cuStreamSynchronize, ...) on a thread with no current
  context raise LogicError("<routine> failed: invalid device context"); a Stream, allocation or
  page-locked buffer made there raises LogicError("explicit_context_dependent failed: invalid
  device context - no currently active context?") (inducer/pycuda#242, NVIDIA/TensorRT#475).
- Streams and allocations remember the context current when they were made. Freeing one (free()
  or the object's deletion) makes that context current around cuMemFree if it is not; from a
  thread other than the one that created the Context object that is impossible: a UserWarning
  "<type> in out-of-thread context could not be cleaned up", and the memory stays allocated.
"""

import importlib.abc
import importlib.machinery
import threading
import types
import warnings

import numpy as np

from tests.fakes.cuda.memory import CudaFault, CudaInvalidContext, CudaOutOfMemory, host_span


def make_pycuda(device):
    """{module name: module} for pycuda, pycuda.driver and the import hook of pycuda.autoinit."""
    driver = types.ModuleType("pycuda.driver")
    state = {"initialised": False}
    contexts = device.contexts
    local = threading.local()   # pycuda's own per-thread context stack

    class Error(Exception):
        pass

    class MemoryError(Error):   # noqa: A001 (pycuda's own name)
        pass

    class LogicError(Error):
        pass

    class LaunchError(Error):
        pass

    class RuntimeError(Error):  # noqa: A001
        pass

    def fail(routine, message, kind=LogicError):
        raise kind("{} failed: {}".format(routine, message))

    def need_context(routine):
        """A driver call: the driver's current context on this thread, else invalid device context."""
        if not state["initialised"]:
            fail(routine, "not initialized")
        try:
            contexts.require(routine)
        except CudaInvalidContext:
            fail(routine, "invalid device context")

    def guarded(routine, call, *args):
        try:
            return call(*args)
        except CudaOutOfMemory:
            fail(routine, "out of memory", MemoryError)
        except CudaInvalidContext:
            fail(routine, "invalid device context")
        except CudaFault as exc:
            illegal = "illegal memory access" in str(exc)
            handle = "resource handle" in str(exc)
            fail(routine, "{} - {}".format("an illegal memory access was encountered" if illegal else
                                           "invalid resource handle" if handle else "invalid argument", exc))

    def init(flags=0):
        state["initialised"] = True
        contexts.initialised = True

    # ----- pycuda's context stack (cuda.hpp: context_stack, context, context_push, scoped_context_activation)
    def py_stack():
        if not hasattr(local, "stack"):
            local.stack = []
        return local.stack

    def current_context(skip=None):
        stack = py_stack()
        while stack:
            if stack[-1] is not skip and stack[-1]._valid:
                return stack[-1]
            stack.pop()   # a detached context: dropped, as current_context() does
        return None

    def prepare_context_switch():
        if py_stack():
            guarded("cuCtxPopCurrent", contexts.pop)

    def context_push(context):
        prepare_context_switch()
        guarded("cuCtxPushCurrent", contexts.push, context._handle)
        py_stack().append(context)

    def acquire_context():
        ward = current_context()
        if ward is None:
            fail("explicit_context_dependent", "invalid device context - no currently active context?")
        return ward

    def cleanup(ward, kind, call):
        """scoped_context_activation(ward) around a clean-up call; False when it could not run."""
        if not ward._valid:
            return False   # cannot_activate_dead_context: skipped silently
        switch = current_context() is not ward
        if switch:
            if ward._thread != threading.current_thread().ident:
                warnings.warn("{} in out-of-thread context could not be cleaned up".format(kind), UserWarning)
                return False
            context_push(ward)
        try:
            call()
        except CudaFault as exc:   # CUDAPP_CALL_GUARDED_CLEANUP: a warning, never an exception
            warnings.warn("PyCUDA WARNING: a clean-up operation failed (dead context maybe?): {}".format(exc))
        finally:
            if switch:
                Context.pop()
        return True

    class Device(object):
        def __init__(self, number):
            if not state["initialised"]:
                fail("cuDeviceGet", "not initialized")
            if number != 0:
                fail("cuDeviceGet", "invalid device ordinal")
            self.number = number

        @staticmethod
        def count():
            if not state["initialised"]:
                fail("cuDeviceGetCount", "not initialized")
            return 1

        def name(self):
            return device.name

        def compute_capability(self):
            return tuple(int(part) for part in device.compute_capability.split("."))

        def total_memory(self):
            return device.total_bytes

        def make_context(self, flags=0):
            prepare_context_switch()
            context = Context(self, contexts.create(), primary=False)   # cuCtxCreate: current here
            py_stack().append(context)
            return context

        def retain_primary_context(self):
            return Context(self, contexts.retain_primary(), primary=True)   # not made current

    class Context(object):
        def __init__(self, dev, handle, primary):
            self._device, self._handle, self._primary = dev, handle, primary
            self._valid = True
            self._thread = threading.current_thread().ident   # the thread that made this object

        def __eq__(self, other):
            return isinstance(other, Context) and other._handle is self._handle

        def __hash__(self):
            return hash(self._handle.handle)

        @staticmethod
        def get_device():
            need_context("cuCtxGetDevice")
            return Device(0)

        @staticmethod
        def synchronize():
            need_context("cuCtxSynchronize")
            guarded("cuCtxSynchronize", device.synchronize)

        @staticmethod
        def pop():
            prepare_context_switch()
            stack = py_stack()
            if not stack:
                fail("context::pop", "invalid device context - cannot pop non-current context")
            stack.pop()
            top = current_context()
            if top is not None:
                guarded("cuCtxPushCurrent", contexts.push, top._handle)

        def push(self):
            context_push(self)

        def detach(self):
            if not self._valid:
                fail("context::detach", "invalid device context - cannot detach from invalid context")
            active = current_context() is self
            if active or self._thread == threading.current_thread().ident:
                if not active:
                    contexts.push(self._handle)
                if self._primary:
                    contexts.release_primary()   # cuDevicePrimaryCtxRelease: not popped
                else:
                    contexts.destroy(self._handle)
            self._valid = False
            if active:
                successor = current_context(skip=self)
                if successor is not None:
                    contexts.push(successor._handle)

    class Stream(object):
        def __init__(self, flags=0):
            self._ward = acquire_context()   # context_dependent's constructor runs first
            need_context("cuStreamCreate")
            self._handle = device.create_stream()

        @property
        def handle(self):
            return self._handle

        def synchronize(self):
            need_context("cuStreamSynchronize")
            guarded("cuStreamSynchronize", device.synchronize, self._handle)

        def is_done(self):
            return not device.pending(self._handle)

        def __del__(self):   # pycuda destroys a stream with its object, in its context
            if getattr(self, "_handle", None) in device.streams:
                cleanup(self._ward, "stream", lambda: device.destroy_stream(self._handle))

    class DeviceAllocation(object):
        """Cast to int for the pointer; free() twice is cuMemFree's 'invalid handle' (cuda.hpp)."""

        def __init__(self, pointer):
            self._pointer, self._valid = pointer, True
            self._ward = acquire_context()

        def __int__(self):
            return self._pointer

        __index__ = __int__

        def free(self):
            if not self._valid:
                fail("device_allocation::free", "invalid handle")
            cleanup(self._ward, "device_allocation", lambda: device.free(self._pointer))
            self._valid = False

        def __del__(self):   # "Once this object is deleted, its associated device memory is freed."
            if getattr(self, "_valid", False) and getattr(self, "_ward", None) is not None:
                self.free()

    class PagelockedHostAllocation(object):
        def __init__(self, block, shape, dtype):
            self._block, self._valid = block, True
            self.__array_interface__ = {"shape": tuple(shape), "typestr": np.dtype(dtype).str, "version": 3,
                                        "data": (block.address, False)}
            self._ward = acquire_context()

        def free(self):
            if not self._valid:
                fail("pagelocked_host_allocation::free", "invalid handle")
            cleanup(self._ward, "pagelocked_host_allocation", lambda: device.free_pinned(self._block.address))
            self._valid = False

        def __del__(self):
            if getattr(self, "_valid", False) and getattr(self, "_ward", None) is not None:
                self.free()

    def mem_alloc(nbytes):
        need_context("cuMemAlloc")
        # cuMemAlloc first, then the allocation object takes pycuda's current context: with a context
        # current to the driver (the runtime's) but none in pycuda's stack, the pointer leaks (cuda.hpp).
        return DeviceAllocation(guarded("cuMemAlloc", device.alloc, nbytes))

    def mem_get_info():
        need_context("cuMemGetInfo")
        return device.free_bytes, device.total_bytes

    def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
        need_context("cuMemHostAlloc")
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
        block = device.alloc_pinned(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        return np.asarray(PagelockedHostAllocation(block, shape, dtype))

    def pagelocked_zeros(shape, dtype, order="C", mem_flags=0):
        array = pagelocked_empty(shape, dtype, order, mem_flags)
        array[...] = 0
        return array

    def _pointer(dest):
        return int(dest)   # an int or a DeviceAllocation (cast, even after free(): its use is the error)

    def _stream_handle(stream):
        return 0 if stream is None else stream.handle

    def memcpy_htod(dest, src):
        need_context("cuMemcpyHtoD")
        address, nbytes = host_span(src)
        guarded("cuMemcpyHtoD", device.htod, _pointer(dest), address, nbytes, None)

    def memcpy_dtoh(dest, src):
        need_context("cuMemcpyDtoH")
        address, nbytes = host_span(dest, writable=True)
        guarded("cuMemcpyDtoH", device.dtoh, address, _pointer(src), nbytes, None)

    def _page_locked(routine, address, nbytes, which):
        if not device.is_pinned(address, nbytes):
            fail(routine, "invalid argument - {} must be page-locked memory, see pagelocked_empty (pycuda "
                          "doc/driver.rst)".format(which))

    def memcpy_htod_async(dest, src, stream=None):
        need_context("cuMemcpyHtoDAsync")
        address, nbytes = host_span(src)
        _page_locked("cuMemcpyHtoDAsync", address, nbytes, "src")
        guarded("cuMemcpyHtoDAsync", device.htod, _pointer(dest), address, nbytes, _stream_handle(stream))

    def memcpy_dtoh_async(dest, src, stream=None):
        need_context("cuMemcpyDtoHAsync")
        address, nbytes = host_span(dest, writable=True)
        _page_locked("cuMemcpyDtoHAsync", address, nbytes, "dest")
        guarded("cuMemcpyDtoHAsync", device.dtoh, address, _pointer(src), nbytes, _stream_handle(stream))

    exported = dict(Error=Error, MemoryError=MemoryError, LogicError=LogicError, LaunchError=LaunchError,
                    RuntimeError=RuntimeError, init=init, Device=Device, Context=Context, Stream=Stream,
                    DeviceAllocation=DeviceAllocation, PagelockedHostAllocation=PagelockedHostAllocation,
                    HostAllocation=PagelockedHostAllocation, mem_alloc=mem_alloc, mem_get_info=mem_get_info,
                    pagelocked_empty=pagelocked_empty, pagelocked_zeros=pagelocked_zeros, memcpy_htod=memcpy_htod,
                    memcpy_dtoh=memcpy_dtoh, memcpy_htod_async=memcpy_htod_async, memcpy_dtoh_async=memcpy_dtoh_async)
    for attribute, value in exported.items():
        setattr(driver, attribute, value)

    package = types.ModuleType("pycuda")
    package.__path__ = []   # a package, so `import pycuda.autoinit` goes through the import system
    package.driver = driver
    package.VERSION = (2021, 1)
    return {"pycuda": package, "pycuda.driver": driver}


class AutoinitFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import pycuda.autoinit` runs this: cuda.init(), a context on device 0 (pycuda/autoinit.py)."""

    def __init__(self, driver):
        self.driver = driver

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "pycuda.autoinit":
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self.driver.init()
        module.context = self.driver.Device(0).make_context()
        module.device = module.context.get_device()
