"""One fake GPU's memory and streams (GpuMemory), which every CUDA front end of the fakes shares.

The model (GpuMemory) follows the CUDA runtime's documented semantics:
- Device memory is fixed-size allocations keyed by integer pointers. A copy, or a read or write
  by a TensorRT engine, past an allocation's end, into a freed or unknown pointer raises
  CudaFault ("invalid argument" when a copy is issued, "an illegal memory access" when queued
  work runs). Allocating more than `free_bytes` raises CudaOutOfMemory.
- Streams are queues. Asynchronous copies and engine runs enqueued on a stream take effect only
  when that stream (or the device) is synchronized; a copy with stream None is synchronous and,
  like every legacy-default-stream operation, first waits for all queued work (CUDA programming
  guide, "Implicit Synchronization"; streams made by cudaStreamCreate / pycuda Stream() block).
  Handle 0 is the legacy default stream. Async copies from page-locked memory read the host
  buffer when they run; from pageable memory (cuda-python only) the host data is staged at the
  call (H2D) or the stream is waited for first (D2H) (CUDA runtime API, "API synchronization
  behavior").
- Contexts (contexts.py): every allocation and stream belongs to the context current when it was
  made; issuing a copy, a run or a free with it under no current context fails with "invalid
  device context", under another context with "invalid argument" (pointers) or "invalid
  resource handle" (streams). Queued work runs in its stream's context whatever thread
  synchronizes. Page-locked host memory is treated as portable (cudaHostAllocPortable).
- A ledger of live device allocations, page-locked host buffers, streams and execution-context
  reservations: `live()` shows what is still held, so a test can assert that everything was freed.
"""

import ctypes

import numpy as np

from tests.fakes.cuda.contexts import Contexts, CudaFault, CudaInvalidContext

DEVICE_BASE = 0x100000000000   # device pointers: far from this process's host addresses
ALIGNMENT = 256                # cudaMalloc alignment
GUARD = 4096                   # unmapped gap after each allocation: an overrun faults


class CudaOutOfMemory(CudaFault):
    """cudaMalloc / cuMemAlloc: out of memory."""


class _Pinned(object):
    """A page-locked host buffer: ctypes memory kept alive until the model goes away."""

    def __init__(self, nbytes):
        self.nbytes = int(nbytes)
        self.buffer = ctypes.create_string_buffer(max(1, self.nbytes))
        self.address = ctypes.addressof(self.buffer)
        self.live = True


class GpuMemory(object):
    """The memory model of one GPU (see the module docstring)."""

    def __init__(self, name="NVIDIA Tegra X1", compute_capability="5.3", total_mb=3964, free_bytes=None):
        self.name, self.compute_capability, self.total_mb = name, compute_capability, int(total_mb)
        self.total_bytes = self.total_mb << 20
        self.free_bytes = self.total_bytes if free_bytes is None else int(free_bytes)
        self.allocations = {}      # pointer -> bytearray
        self.pinned = {}           # address -> _Pinned (live ones)
        self._pinned_all = []      # every pinned buffer ever made (host memory stays valid for numpy views)
        self.streams = {}          # handle -> the context it was made in (None: made outside any)
        self.owners = {}           # device pointer -> the context it was allocated in (None: outside any)
        self.contexts = Contexts() # the per-thread context stacks (contexts.py)
        self.reservations = {}     # token -> nbytes (execution contexts' activation memory)
        self._queue = []           # [(sequence, stream handle, description, job)]
        self._sequence = 0
        self._next_pointer = DEVICE_BASE
        self._next_handle = 0x5000

    # ------------------------------------------------------------------ device memory
    def alloc(self, nbytes):
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise CudaFault("cudaMalloc: invalid argument (size {})".format(nbytes))
        if nbytes > self.free_bytes:
            raise CudaOutOfMemory("cudaMalloc: out of memory ({} bytes asked, {} free)".format(nbytes, self.free_bytes))
        pointer = self._next_pointer
        self._next_pointer += -(-nbytes // ALIGNMENT) * ALIGNMENT + GUARD
        self.allocations[pointer] = bytearray(nbytes)
        self.owners[pointer] = self.contexts.current()
        self.free_bytes -= nbytes
        return pointer

    def free(self, pointer):
        pointer = int(pointer)
        if pointer not in self.allocations:
            raise CudaFault("cudaFree: invalid argument: {:#x} is not a live allocation (freed twice, or never "
                            "allocated)".format(pointer))
        self.owned(self.owners.get(pointer), "cudaFree: invalid argument: {:#x}".format(pointer))
        self.free_bytes += len(self.allocations.pop(pointer))
        self.owners.pop(pointer, None)

    def owned(self, owner, what, kind="invalid argument"):
        """A pointer or stream of context `owner` used now: under no context, or another one, it faults.

        Resources made outside any context (owner None: the model used bare) are not checked."""
        if owner is None:
            return
        current = self.contexts.current()
        if current is None:
            raise CudaInvalidContext("{}: invalid device context (no context is current to this thread)".format(what))
        if current is not owner:
            raise CudaFault("{}: {} (it belongs to {!r}, the current context is {!r})".format(what, kind, owner,
                                                                                        current))

    def owner_of(self, pointer):
        """The context of the live allocation holding `pointer` (None when outside any, or unknown)."""
        pointer = int(pointer)
        for base, data in self.allocations.items():
            if base <= pointer < base + len(data):
                return self.owners.get(base)
        return None

    def _find(self, pointer, nbytes, what):
        pointer, nbytes = int(pointer), int(nbytes)
        for base, data in self.allocations.items():
            if base <= pointer < base + len(data):
                if pointer + nbytes > base + len(data):
                    raise CudaFault("{}: {} bytes at {:#x} run past the end of the {}-byte allocation at {:#x}".format(
                        what, nbytes, pointer, len(data), base))
                return data, pointer - base
        raise CudaFault("{}: {:#x} is not in any live device allocation".format(what, pointer))

    def check(self, pointer, nbytes, what="cudaMemcpy: invalid argument"):
        """A copy or run about to use `pointer`: in bounds, and of the context current here."""
        self._find(pointer, nbytes, what)
        self.owned(self.owner_of(pointer), "{:#x}".format(int(pointer)))

    def read(self, pointer, nbytes, what="an illegal memory access was encountered"):
        data, offset = self._find(pointer, nbytes, what)
        return bytes(data[offset:offset + int(nbytes)])

    def write(self, pointer, payload, what="an illegal memory access was encountered"):
        payload = bytes(payload)
        data, offset = self._find(pointer, len(payload), what)
        data[offset:offset + len(payload)] = payload

    # ------------------------------------------------------------------ page-locked host memory
    def alloc_pinned(self, nbytes):
        block = _Pinned(nbytes)
        self.pinned[block.address] = block
        self._pinned_all.append(block)
        return block

    def free_pinned(self, address):
        block = self.pinned.pop(int(address), None)
        if block is None:
            raise CudaFault("cudaFreeHost: invalid argument: {:#x} is not a live page-locked allocation".format(
                int(address)))
        block.live = False

    def is_pinned(self, address, nbytes):
        return any(b.address <= address and address + nbytes <= b.address + b.nbytes for b in self.pinned.values())

    # ------------------------------------------------------------------ streams and queued work
    def create_stream(self):
        self._next_handle += 0x10
        self.streams[self._next_handle] = self.contexts.current()
        return self._next_handle

    def destroy_stream(self, handle):
        if handle not in self.streams:
            raise CudaFault("cudaStreamDestroy: invalid resource handle {!r}".format(handle))
        self.owned(self.streams[handle], "cudaStreamDestroy: stream {:#x}".format(handle), "invalid resource handle")
        self.synchronize(handle)   # cudaStreamDestroy: queued work still completes
        del self.streams[handle]

    def known_stream(self, handle):
        return handle == 0 or handle in self.streams

    def enqueue(self, handle, description, job):
        if not self.known_stream(handle):
            raise CudaFault("invalid resource handle: stream {!r} does not exist".format(handle))
        if handle:
            self.owned(self.streams[handle], "stream {:#x}".format(handle), "invalid resource handle")
        self._sequence += 1
        self._queue.append((self._sequence, handle, description, job))

    def pending(self, handle=None):
        """Descriptions of the work still queued (on stream `handle`, or on all)."""
        return [d for _, h, d, _ in self._queue if handle is None or h == handle]

    def synchronize(self, handle=None):
        """Run queued work: of stream `handle` (and the legacy default stream), or all when None or 0."""
        if handle is not None and not self.known_stream(handle):
            raise CudaFault("cudaStreamSynchronize: invalid resource handle {!r}".format(handle))
        everything = handle in (None, 0)
        due = [item for item in self._queue if everything or item[1] in (0, handle)]
        self._queue = [item for item in self._queue if item not in due]
        for _, _, description, job in due:
            try:
                job()
            except CudaFault as exc:
                self._queue = []   # a sticky error: nothing queued after it runs
                raise CudaFault("{} (while running {})".format(exc, description))

    # ------------------------------------------------------------------ copies
    def _check_host(self, address):
        if not address or DEVICE_BASE <= address < self._next_pointer:
            raise CudaFault("invalid argument: {:#x} is not host memory (a null or device pointer given for the "
                            "host side of a copy)".format(address))

    def htod(self, pointer, host_address, nbytes, stream=None):
        """Host -> device; stream None: synchronous, else queued on that stream (0 = legacy default)."""
        self.check(pointer, nbytes)
        self._check_host(host_address)
        if stream is None:
            self.synchronize()
            self.write(pointer, ctypes.string_at(host_address, nbytes))
        elif self.is_pinned(host_address, nbytes):
            self.enqueue(stream, "htod", lambda: self.write(pointer, self._pinned_read(host_address, nbytes)))
        else:   # pageable: staged now, lands when the stream runs
            staged = ctypes.string_at(host_address, nbytes)
            self.enqueue(stream, "htod", lambda: self.write(pointer, staged))

    def dtoh(self, host_address, pointer, nbytes, stream=None):
        """Device -> host; as htod."""
        self.check(pointer, nbytes)
        self._check_host(host_address)
        if stream is None or not self.is_pinned(host_address, nbytes):
            if stream is None:
                self.synchronize()
            else:
                self.synchronize(stream)   # pageable destination: returns once the copy is done
            ctypes.memmove(host_address, self.read(pointer, nbytes), nbytes)
            return

        def job():
            if not self.is_pinned(host_address, nbytes):
                raise CudaFault("the page-locked host buffer at {:#x} was freed before the copy ran".format(
                    host_address))
            ctypes.memmove(host_address, self.read(pointer, nbytes), nbytes)
        self.enqueue(stream, "dtoh", job)

    def _pinned_read(self, address, nbytes):
        if not self.is_pinned(address, nbytes):
            raise CudaFault("the page-locked host buffer at {:#x} was freed before the copy ran".format(address))
        return ctypes.string_at(address, nbytes)

    # ------------------------------------------------------------------ execution contexts, ledger
    def reserve(self, nbytes):
        """Activation memory for an execution context: a token, or None when it does not fit."""
        if int(nbytes) > self.free_bytes:
            return None
        self._sequence += 1
        self.reservations[self._sequence] = int(nbytes)
        self.free_bytes -= int(nbytes)
        return self._sequence

    def release(self, token):
        nbytes = self.reservations.pop(token, None)
        if nbytes is not None:
            self.free_bytes += nbytes

    def live(self):
        """What is still held, one line each (device allocations, page-locked buffers, streams, execution
        contexts' memory): [] once everything was freed."""
        return (["device allocation {:#x} ({} bytes)".format(p, len(d)) for p, d in sorted(self.allocations.items())]
                + ["page-locked buffer {:#x} ({} bytes)".format(a, b.nbytes) for a, b in sorted(self.pinned.items())]
                + ["stream {:#x}".format(h) for h in sorted(self.streams)]
                + ["execution context ({} bytes)".format(n) for _, n in sorted(self.reservations.items())])

    def device_info(self):
        return {"name": self.name, "compute_capability": self.compute_capability, "memory_mb": self.total_mb}


def host_span(obj, writable=False):
    """(address, nbytes) of a contiguous Python buffer, as pycuda reads it (PyBUF_ANY_CONTIGUOUS)."""
    view = memoryview(obj)
    if not (view.c_contiguous or view.f_contiguous):
        raise BufferError("the host buffer is not contiguous")
    if writable and view.readonly:
        raise BufferError("the host buffer is read-only")
    array = np.asarray(view)
    return int(array.__array_interface__["data"][0]) if view.nbytes else 0, view.nbytes
