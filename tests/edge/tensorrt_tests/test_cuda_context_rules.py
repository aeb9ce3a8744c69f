"""CUDA contexts are per thread: the fakes' rules, written from the documentation (never from our code).

tests/fakes/cuda/contexts.py keeps the driver's stack of current contexts per thread; pycuda_fake.py
adds pycuda's own per-thread stack and its clean-up rules (src/cpp/cuda.hpp); driver_fake.py and
cudart_fake.py are cuda-python's driver and runtime APIs. A context is current on the threads that
pushed it; a driver call on a thread with none fails with "invalid device context"; the runtime
API takes the device's primary context on such a thread; pointers and streams belong to the
context they were made in. The TensorRT fake's rules and the code under test: test_cuda_contexts.py.
"""

import warnings

import numpy as np
import pytest

from tests.edge.threads import on_thread
from tests.fakes.cuda import CudaFault, CudaInvalidContext, FakeCudaMemory, GpuMemory
from tests.fakes.trt import install


# ----------------------------------------------------------------------------- the model of contexts

def test_a_context_is_current_only_on_the_threads_that_pushed_it():
    contexts = GpuMemory().contexts
    created = contexts.create()                       # cuCtxCreate: current on this thread
    assert contexts.current() is created
    assert on_thread(contexts.current) is None        # not on another one
    with pytest.raises(CudaInvalidContext, match="cuMemAlloc failed: invalid device context"):
        on_thread(contexts.require, "cuMemAlloc")
    assert on_thread(contexts.runtime_current) is contexts.primary   # the runtime API picks the primary one
    assert contexts.pop() is created and contexts.current() is None
    with pytest.raises(CudaInvalidContext):
        contexts.pop()


def test_the_fake_backend_needs_its_context_current_and_shares_it_across_threads():
    memory = FakeCudaMemory()
    with pytest.raises(CudaInvalidContext, match="cuMemAlloc failed: invalid device context"):
        memory.alloc(16)
    with memory.current():
        pointer = memory.alloc(16)
        host = memory.pagelocked(4, np.float32)
        host[:] = 1.5
        memory.htod(pointer, host)

    def read_back():
        with memory.current():   # the same primary context, pushed on this thread
            out = memory.pagelocked(4, np.float32)
            memory.dtoh(out, pointer)
            return list(out)
    assert on_thread(read_back) == [1.5] * 4
    with pytest.raises(CudaInvalidContext):
        on_thread(memory.dtoh, host, pointer)          # on a thread with no context at all
    device = memory.device
    other = device.contexts.create()                   # another library's context, current here
    with pytest.raises(CudaFault, match="invalid argument.*belongs to"):
        memory.dtoh(host, pointer)
    device.contexts.destroy(other)


# ----------------------------------------------------------------------------- pycuda's rules

def test_pycuda_autoinit_context_is_current_on_the_importing_thread_only(monkeypatch):
    trt = install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    import pycuda.autoinit  # noqa: F401 (its side effect: a context current on this thread)
    import pycuda.driver as cuda

    allocation = cuda.mem_alloc(64)
    host = cuda.pagelocked_zeros(16, np.float32)
    stream = cuda.Stream()
    cuda.memcpy_htod_async(allocation, host, stream)   # fine where autoinit ran
    stream.synchronize()
    with pytest.raises(cuda.LogicError, match=r"^cuMemAlloc failed: invalid device context$"):
        on_thread(cuda.mem_alloc, 64)
    with pytest.raises(cuda.LogicError, match=r"^cuMemcpyHtoDAsync failed: invalid device context$"):
        on_thread(cuda.memcpy_htod_async, allocation, host, stream)
    # NVIDIA/TensorRT#475, on a Nano: a pycuda object made on a thread where the runtime (TensorRT) made the
    # primary context current to the driver, but pycuda's own stack has none
    contexts = trt.fake_memory.device.contexts
    with pytest.raises(cuda.LogicError, match=r"^explicit_context_dependent failed: invalid device context - no "
                                              r"currently active context\?$"):
        on_thread(lambda: (contexts.runtime_current(), cuda.Stream()))
    allocation.free()
    host.base.free()


def test_pycuda_primary_context_is_pushed_and_popped_per_thread(monkeypatch):
    install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    import pycuda.driver as cuda

    cuda.init()
    primary = cuda.Device(0).retain_primary_context()
    with pytest.raises(cuda.LogicError, match="invalid device context"):
        cuda.mem_alloc(16)                               # retained, not current
    primary.push()
    allocation = cuda.mem_alloc(16)
    cuda.Context.pop()
    with pytest.raises(cuda.LogicError, match="invalid device context"):
        cuda.memcpy_htod(allocation, np.ones(4, np.float32))

    def copy_on_another_thread():
        primary.push()
        try:
            cuda.memcpy_htod(allocation, np.full(4, 2.0, np.float32))
            out = np.zeros(4, np.float32)
            cuda.memcpy_dtoh(out, allocation)
            return list(out)
        finally:
            cuda.Context.pop()
    assert on_thread(copy_on_another_thread) == [2.0] * 4
    with pytest.raises(cuda.LogicError, match="cannot pop non-current context"):
        cuda.Context.pop()


def test_pycuda_frees_out_of_thread_only_inside_the_context_else_warns_and_leaks(monkeypatch):
    trt = install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    import pycuda.driver as cuda

    cuda.init()
    primary = cuda.Device(0).retain_primary_context()
    primary.push()
    leaked, freed = cuda.mem_alloc(16), cuda.mem_alloc(32)
    cuda.Context.pop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        on_thread(leaked.free)   # cuda.hpp scoped_context_activation: cannot activate an out-of-thread context
    assert any("device_allocation in out-of-thread context could not be cleaned up" in str(w.message)
               for w in caught)
    assert "device allocation" in " ".join(trt.fake_memory.live())   # still allocated

    def free_inside():
        primary.push()
        try:
            freed.free()
        finally:
            cuda.Context.pop()
    on_thread(free_inside)
    assert len([line for line in trt.fake_memory.live() if line.startswith("device allocation")]) == 1


def test_pointers_and_streams_belong_to_the_context_that_made_them(monkeypatch):
    install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    import pycuda.driver as cuda

    cuda.init()
    own = cuda.Device(0).make_context()                 # current here
    pointer, stream = cuda.mem_alloc(16), cuda.Stream()
    host = cuda.pagelocked_zeros(4, np.float32)
    cuda.Context.pop()
    primary = cuda.Device(0).retain_primary_context()
    primary.push()
    try:
        with pytest.raises(cuda.LogicError, match="cuMemcpyHtoD failed: invalid argument"):
            cuda.memcpy_htod(pointer, host)             # another context's address space
        other = cuda.mem_alloc(16)
        with pytest.raises(cuda.LogicError, match="cuMemcpyHtoDAsync failed: invalid resource handle"):
            cuda.memcpy_htod_async(other, host, stream)  # another context's stream
    finally:
        cuda.Context.pop()
    own.push()
    cuda.memcpy_htod_async(pointer, host, stream)       # in its own context: fine
    stream.synchronize()
    cuda.Context.pop()


# ----------------------------------------------------------------------------- cuda-python's rules

def test_cuda_python_driver_context_calls(monkeypatch):
    install(monkeypatch, "10.3", device="orin", cuda="cuda-python")
    from cuda.bindings import driver

    success, invalid = driver.CUresult.CUDA_SUCCESS, driver.CUresult.CUDA_ERROR_INVALID_CONTEXT
    assert driver.cuDeviceGet(0)[0] == driver.CUresult.CUDA_ERROR_NOT_INITIALIZED
    assert driver.cuInit(0) == (success,)
    err, device = driver.cuDeviceGet(0)
    err, context = driver.cuDevicePrimaryCtxRetain(device)
    assert err == success and int(driver.cuCtxGetCurrent()[1]) == 0   # retained, not current
    assert driver.cuCtxPushCurrent(context) == (success,)
    assert driver.cuCtxGetCurrent() == (success, context)
    assert int(on_thread(driver.cuCtxGetCurrent)[1]) == 0               # only on this thread
    assert on_thread(driver.cuCtxPopCurrent) == (invalid, None)
    assert driver.cuCtxPopCurrent() == (success, context)
    assert driver.cuCtxPopCurrent() == (invalid, None)
    assert driver.cuDevicePrimaryCtxRelease(device) == (success,)
    assert driver.cuDevicePrimaryCtxRelease(device) == (invalid,)      # never retained twice


def test_cuda_python_runtime_takes_the_primary_context_on_a_thread_with_none(monkeypatch):
    trt = install(monkeypatch, "10.3", device="orin", cuda="cuda-python")
    from cuda.bindings import runtime

    contexts = trt.fake_memory.device.contexts
    err, pointer = on_thread(runtime.cudaMalloc, 64)
    assert err == runtime.cudaError_t.cudaSuccess
    assert trt.fake_memory.device.owners[pointer] is contexts.primary
    err, stream = runtime.cudaStreamCreate()
    other = contexts.create()                    # another library's context, current on this thread
    host = np.zeros(16, np.float32)
    kind = runtime.cudaMemcpyKind.cudaMemcpyHostToDevice
    assert runtime.cudaMemcpy(pointer, host.ctypes.data, 64, kind) == (runtime.cudaError_t.cudaErrorInvalidValue,)
    err, own = runtime.cudaMalloc(64)
    assert runtime.cudaMemcpyAsync(own, host.ctypes.data, 64, kind, stream) == (
        runtime.cudaError_t.cudaErrorInvalidResourceHandle,)
    contexts.destroy(other)
