"""Fakes of a GPU's memory and of the CUDA bindings: the model and its three front ends.

    contexts.py      Contexts: the driver's per-thread stacks of current contexts, the primary context
    memory.py        GpuMemory: fixed-size allocations, streams whose work lands at synchronize, a ledger
    backend.py       FakeCudaMemory: edge.cuda.memory's backend interface
    pycuda_fake.py   a fake `pycuda` (driver, autoinit) with pycuda's documented API
    cudart_fake.py   a fake cuda-python runtime (every call returns (err, *results))
    driver_fake.py   a fake cuda-python driver API, its context calls (cuInit, cuCtxPushCurrent, ...)
"""

import sys

from tests.fakes.cuda.backend import FakeCudaMemory, FakeStream
from tests.fakes.cuda.cudart_fake import cuda_python_modules, make_cudart
from tests.fakes.cuda.driver_fake import make_driver
from tests.fakes.cuda.memory import CudaFault, CudaInvalidContext, CudaOutOfMemory, GpuMemory, host_span
from tests.fakes.cuda.pycuda_fake import AutoinitFinder, make_pycuda

__all__ = ["CudaFault", "CudaInvalidContext", "CudaOutOfMemory", "GpuMemory", "FakeCudaMemory", "FakeStream", "host_span", "make_pycuda",
           "make_cudart", "make_driver", "install_bindings"]

CUDA_MODULE_NAMES = ("pycuda", "pycuda.driver", "pycuda.autoinit", "cuda", "cuda.cudart", "cuda.cuda",
                     "cuda.bindings", "cuda.bindings.runtime", "cuda.bindings.driver")


def install_bindings(monkeypatch, device, binding):
    """Put pycuda ("pycuda"), cuda-python ("cuda-python") or neither (None) in sys.modules for one test."""
    for name in CUDA_MODULE_NAMES:
        monkeypatch.setitem(sys.modules, name, None)   # absent: `import` raises ImportError
    if binding == "pycuda":
        modules = make_pycuda(device)
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.delitem(sys.modules, "pycuda.autoinit")   # imported for real, through the finder
        monkeypatch.setattr(sys, "meta_path", [AutoinitFinder(modules["pycuda.driver"])] + sys.meta_path)
        return modules
    if binding == "cuda-python":
        modules = cuda_python_modules(make_cudart(device), make_driver(device))
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)
        return modules
    if binding is not None:
        raise ValueError("binding must be 'pycuda', 'cuda-python' or None")
    return {}
