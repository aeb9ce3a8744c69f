"""A fake of cuda-python's driver API (`cuda.cuda` / `cuda.bindings.driver`), the context calls only.

Every call returns (CUresult, *results), as cuda-python's bindings do. Semantics from the CUDA
Driver API reference ("Initialization", "Device Management", "Primary Context Management",
"Context Management"), over the per-thread stacks of contexts.py:
- nothing works before cuInit(0): CUDA_ERROR_NOT_INITIALIZED;
- cuDevicePrimaryCtxRetain(dev) -> (err, CUcontext), not pushed; cuDevicePrimaryCtxRelease(dev)
  of a context never retained is CUDA_ERROR_INVALID_CONTEXT;
- cuCtxPushCurrent(ctx) / cuCtxPopCurrent() -> (err,) / (err, CUcontext) on the calling thread's
  stack; popping an empty stack is CUDA_ERROR_INVALID_CONTEXT; cuCtxSetCurrent replaces the top
  (None / 0 pops it); cuCtxGetCurrent -> (err, CUcontext), a null handle when none is current.
"""

import enum
import types

from tests.fakes.cuda.contexts import CudaInvalidContext


class CUresult(enum.IntEnum):   # cuda-python's names and values (cuda.h)
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_NOT_INITIALIZED = 3
    CUDA_ERROR_INVALID_DEVICE = 101
    CUDA_ERROR_INVALID_CONTEXT = 201


class _Handle(object):
    """cuda-python's opaque handle types: int() gives the value, getPtr() its holder's address."""

    def __init__(self, init_value=0, _ptr=0):
        self._value = int(init_value)

    def __int__(self):
        return self._value

    __index__ = __int__

    def __eq__(self, other):
        return type(other) is type(self) and int(other) == self._value

    def __hash__(self):
        return hash(self._value)

    def getPtr(self):   # noqa: N802
        return id(self)

    def __repr__(self):
        return "<{} {:#x}>".format(type(self).__name__, self._value)


class CUdevice(_Handle):
    pass


class CUcontext(_Handle):
    pass


def make_driver(device):
    """A module standing in for `cuda.cuda` / `cuda.bindings.driver` over GpuMemory `device`."""
    contexts = device.contexts
    driver = types.ModuleType("cuda.bindings.driver")
    ok = (CUresult.CUDA_SUCCESS,)

    def _context(ctx):
        return contexts.by_handle.get(int(ctx)) if ctx is not None and int(ctx) else None

    def _ready(dev=None):
        if not contexts.initialised:
            return CUresult.CUDA_ERROR_NOT_INITIALIZED
        if dev is not None and int(dev) != 0:
            return CUresult.CUDA_ERROR_INVALID_DEVICE
        return CUresult.CUDA_SUCCESS

    def cuInit(Flags):   # noqa: N802,N803
        if int(Flags) != 0:
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
        contexts.initialised = True
        return ok

    def cuDeviceGet(ordinal):   # noqa: N802
        err = _ready()
        if err == CUresult.CUDA_SUCCESS and int(ordinal) != 0:
            err = CUresult.CUDA_ERROR_INVALID_DEVICE
        return (err, CUdevice(ordinal) if err == CUresult.CUDA_SUCCESS else None)

    def cuDevicePrimaryCtxRetain(dev):   # noqa: N802
        err = _ready(dev)
        if err != CUresult.CUDA_SUCCESS:
            return (err, None)
        return (err, CUcontext(contexts.retain_primary().handle))

    def cuDevicePrimaryCtxRelease(dev):   # noqa: N802
        err = _ready(dev)
        if err != CUresult.CUDA_SUCCESS:
            return (err,)
        return _guarded(contexts.release_primary)

    def _guarded(call, *args):
        try:
            call(*args)
        except CudaInvalidContext:
            return (CUresult.CUDA_ERROR_INVALID_CONTEXT,)
        return ok

    def cuCtxPushCurrent(ctx):   # noqa: N802
        err = _ready()
        return (err,) if err != CUresult.CUDA_SUCCESS else _guarded(contexts.push, _context(ctx))

    def cuCtxPopCurrent():   # noqa: N802
        err = _ready()
        if err != CUresult.CUDA_SUCCESS:
            return (err, None)
        try:
            popped = contexts.pop()
        except CudaInvalidContext:
            return (CUresult.CUDA_ERROR_INVALID_CONTEXT, None)
        return (CUresult.CUDA_SUCCESS, CUcontext(popped.handle))

    def cuCtxSetCurrent(ctx):   # noqa: N802
        err = _ready()
        if err != CUresult.CUDA_SUCCESS:
            return (err,)
        if ctx is not None and int(ctx) and _context(ctx) is None:
            return (CUresult.CUDA_ERROR_INVALID_CONTEXT,)
        return _guarded(contexts.set_current, _context(ctx))

    def cuCtxGetCurrent():   # noqa: N802
        err = _ready()
        if err != CUresult.CUDA_SUCCESS:
            return (err, None)
        current = contexts.current()
        return (err, CUcontext(current.handle if current is not None else 0))

    for name, value in dict(locals()).items():
        if name.startswith("cu"):
            setattr(driver, name, value)
    driver.CUresult, driver.CUdevice, driver.CUcontext = CUresult, CUdevice, CUcontext
    return driver
