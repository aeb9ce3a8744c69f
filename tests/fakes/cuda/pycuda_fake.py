"""A fake `pycuda` (driver, autoinit) over the GPU memory model, from pycuda's doc/driver.rst."""

import importlib.abc
import importlib.machinery
import types

import numpy as np

from tests.fakes.cuda.memory import CudaFault, CudaOutOfMemory, host_span

def make_pycuda(device):
    """{module name: module} for pycuda, pycuda.driver and the import hook of pycuda.autoinit."""
    driver = types.ModuleType("pycuda.driver")
    state = {"initialised": False, "contexts": []}

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
        if not state["initialised"]:
            fail(routine, "not initialized")
        if not state["contexts"]:
            fail(routine, "invalid device context")

    def guarded(routine, call, *args):
        try:
            return call(*args)
        except CudaOutOfMemory:
            fail(routine, "out of memory", MemoryError)
        except CudaFault as exc:
            illegal = "illegal memory access" in str(exc)
            fail(routine, "{} - {}".format("an illegal memory access was encountered" if illegal else
                                           "invalid argument", exc))

    def init(flags=0):
        state["initialised"] = True

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
            context = Context(self)
            state["contexts"].append(context)
            return context

    class Context(object):
        def __init__(self, dev):
            self._device = dev

        @staticmethod
        def get_device():
            need_context("cuCtxGetDevice")
            return state["contexts"][-1]._device

        @staticmethod
        def synchronize():
            need_context("cuCtxSynchronize")
            guarded("cuCtxSynchronize", device.synchronize)

        @staticmethod
        def pop():
            need_context("cuCtxPopCurrent")
            state["contexts"].pop()

        def push(self):
            state["contexts"].append(self)

        def detach(self):
            if self in state["contexts"]:
                state["contexts"].remove(self)

    class Stream(object):
        def __init__(self, flags=0):
            need_context("cuStreamCreate")
            self._handle = device.create_stream()

        @property
        def handle(self):
            return self._handle

        def synchronize(self):
            guarded("cuStreamSynchronize", device.synchronize, self._handle)

        def is_done(self):
            return not device.pending(self._handle)

        def __del__(self):
            if self._handle in device.streams:   # pycuda destroys a stream with its object
                try:
                    device.destroy_stream(self._handle)
                except CudaFault:
                    pass

    class DeviceAllocation(object):
        """Cast to int for the pointer; free() twice is cuMemFree's 'invalid handle' (cuda.hpp)."""

        def __init__(self, pointer):
            self._pointer, self._valid = pointer, True

        def __int__(self):
            return self._pointer

        __index__ = __int__

        def free(self):
            if not self._valid:
                fail("device_allocation::free", "invalid handle")
            self._valid = False
            device.free(self._pointer)

        def __del__(self):   # "Once this object is deleted, its associated device memory is freed."
            if getattr(self, "_valid", False) and self._pointer in device.allocations:
                device.free(self._pointer)

    class PagelockedHostAllocation(object):
        def __init__(self, block, shape, dtype):
            self._block, self._valid = block, True
            self.__array_interface__ = {"shape": tuple(shape), "typestr": np.dtype(dtype).str, "version": 3,
                                        "data": (block.address, False)}

        def free(self):
            if not self._valid:
                fail("pagelocked_host_allocation::free", "invalid handle")
            self._valid = False
            device.free_pinned(self._block.address)

        def __del__(self):
            if getattr(self, "_valid", False) and self._block.address in device.pinned:
                device.free_pinned(self._block.address)

    def mem_alloc(nbytes):
        need_context("cuMemAlloc")
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
