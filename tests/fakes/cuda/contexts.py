"""CUDA contexts as the driver keeps them: a stack of current contexts per host thread.

From NVIDIA's documentation, never from the code under test:
- Driver API, "Context Management" (cuCtxPushCurrent / cuCtxPopCurrent / cuCtxSetCurrent): each
  host thread has its own stack of current contexts; a push makes a context current to the
  calling thread only, a pop restores the one below. cuCtxCreate makes the new context current.
  A call that needs a context on a thread with none fails with CUDA_ERROR_INVALID_CONTEXT ("This
  most frequently indicates that there is no context bound to the current thread"), whose string
  is "invalid device context".
- Driver API, "Primary Context Management": one primary context per device, shared with the
  runtime API; cuDevicePrimaryCtxRetain does not push it; releasing one never retained fails with
  CUDA_ERROR_INVALID_CONTEXT.
- Runtime API, "Interactions with the CUDA Driver API": runtime calls operate on the context
  current to the calling thread; "If no CUcontext is current to the calling thread when a CUDA
  Runtime API call which requires an active context is made, then the primary context for a
  device will be selected, made current to the calling thread, and initialized" (runtime_current).
- CUDA C Programming Guide, "Driver API > Context": "Each context has its own distinct address
  space. As a result, CUdeviceptr values from different contexts reference different memory
  locations." Streams are resources of their context: a handle used under another context is an
  invalid resource handle (CUDA_ERROR_INVALID_HANDLE / cudaErrorInvalidResourceHandle).
"""

import itertools
import threading

CONTEXT_BASE = 0x7C000000   # context handles (CUcontext values), as the driver hands out opaque pointers


class CudaFault(RuntimeError):
    """A CUDA error: invalid argument, an illegal memory access, a bad handle."""


class CudaInvalidContext(CudaFault):
    """CUDA_ERROR_INVALID_CONTEXT (201): 'invalid device context'."""


class Context(object):
    """One CUDA context of the fake GPU (the primary one, or one made by cuCtxCreate)."""

    def __init__(self, handle, primary):
        self.handle, self.primary, self.alive = handle, primary, True

    def __int__(self):
        return self.handle

    def __repr__(self):
        return "<{} context {:#x}>".format("primary" if self.primary else "created", self.handle)


class Contexts(object):
    """The per-thread context stacks of one device, its primary context, and the contexts made."""

    def __init__(self):
        self._local = threading.local()
        self._handles = itertools.count(CONTEXT_BASE, 0x100)
        self.primary = Context(next(self._handles), primary=True)
        self.primary_retained = 0       # cuDevicePrimaryCtxRetain minus cuDevicePrimaryCtxRelease
        self.initialised = False        # cuInit called (the runtime calls it itself)
        self.by_handle = {self.primary.handle: self.primary}

    # ----- one thread's stack
    def stack(self):
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def current(self):
        """The context current to the calling thread, or None."""
        stack = self.stack()
        return stack[-1] if stack else None

    def require(self, routine):
        """The current context, or CudaInvalidContext: what a driver call on a thread with none gets."""
        context = self.current()
        if context is None or not context.alive:
            raise CudaInvalidContext("{} failed: invalid device context".format(routine))
        return context

    def runtime_current(self):
        """The runtime API's context: the current one, else the primary context, made current here."""
        context = self.current()
        if context is None:
            self.initialised = True
            context = self.primary
            self.stack().append(context)
        return context

    # ----- the driver's calls
    def push(self, context):
        if context is None or not context.alive:
            raise CudaInvalidContext("cuCtxPushCurrent failed: invalid device context")
        self.stack().append(context)

    def pop(self):
        stack = self.stack()
        if not stack:
            raise CudaInvalidContext("cuCtxPopCurrent failed: invalid device context")
        return stack.pop()

    def set_current(self, context):
        """cuCtxSetCurrent: replace the top of this thread's stack (None pops it)."""
        stack = self.stack()
        if context is None:
            if stack:
                stack.pop()
            return
        if not context.alive:
            raise CudaInvalidContext("cuCtxSetCurrent failed: invalid device context")
        if stack:
            stack[-1] = context
        else:
            stack.append(context)

    def create(self):
        """cuCtxCreate: a new context, current to the calling thread."""
        context = Context(next(self._handles), primary=False)
        self.by_handle[context.handle] = context
        self.stack().append(context)
        return context

    def destroy(self, context):
        """cuCtxDestroy / cuCtxDetach of the last reference: gone, and popped here if current."""
        context.alive = False
        stack = self.stack()
        if stack and stack[-1] is context:
            stack.pop()

    def retain_primary(self):
        self.primary_retained += 1
        return self.primary

    def release_primary(self):
        if self.primary_retained <= 0:
            raise CudaInvalidContext("cuDevicePrimaryCtxRelease failed: invalid device context")
        self.primary_retained -= 1
