"""IExecutionContext: input shapes against the active profile, tensor addresses, and runs queued on
CUDA streams of the fake GPU (rules: runtime.py's docstring; memory semantics: tests/fakes/cuda/).
"""

import numpy as np

from tests.fakes.cuda import CudaFault
from tests.fakes.trt import compute

NUMPY = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
         "UINT8": np.uint8, "INT64": np.int64}


class ContextImpl(object):
    def __init__(self, engine, token):
        self._engine, self._token = engine, token
        self._cuda_context = self._state.cuda_context()   # its activation memory was allocated here
        self._profile, self._shapes, self._addresses, self._executions = 0, {}, {}, []

    def __del__(self):
        token, self._token = getattr(self, "_token", None), None
        if token is not None:
            self._state.memory.device.release(token)

    engine = property(lambda self: self._engine)

    # ------------------------------------------------------------------ profiles and shapes
    @property
    def active_optimization_profile(self):
        return self._profile

    @active_optimization_profile.setter
    def active_optimization_profile(self, index):
        if self._state.table["column"] == 2:
            raise AttributeError("can't set attribute 'active_optimization_profile'")
        from tests.fakes.trt.surface import deprecation
        deprecation("set_optimization_profile_async")
        self._select_profile(index)

    def set_optimization_profile_async(self, profile_index, stream_handle):
        self._stream(stream_handle)
        if not self._select_profile(profile_index):
            raise RuntimeError("Error in set optimization profile.")
        return True

    def _select_profile(self, index):
        if not 0 <= int(index) < self._engine.num_optimization_profiles:
            self._state.log(None, 1, "3: Error Code 3: API Usage Error (profileIndex >= 0 && profileIndex < "
                                     "getNbOptimizationProfiles())")
            return False
        self._profile, self._shapes = int(index), {}
        return True

    def _inputs(self):
        return [io for io in self._engine._io if io[1]]

    @property
    def all_binding_shapes_specified(self):
        return all(-1 not in dims or name in self._shapes for name, _, dims, _ in self._inputs())

    all_shape_inputs_specified = property(lambda self: True)

    def _set_shape(self, name, shape):
        """Keep `shape` for input `name` when the active profile allows it; False (old shape kept) otherwise."""
        shape = tuple(int(d) for d in shape)
        io = [io for io in self._inputs() if io[0] == name]
        if not io:
            return self._refuse("{} is not an input of this engine".format(name))
        dims = io[0][2]
        if len(shape) != len(dims):
            return self._refuse("{}: rank {} given, the engine's is {}".format(name, len(shape), len(dims)))
        low, _, high = self._engine._profile(name, self._profile)
        for axis, (static, value, lo, hi) in enumerate(zip(dims, shape, low, high)):
            if (static >= 0 and value != static) or not lo <= value <= hi:
                return self._refuse("Supplied binding dimension {} for {} exceed min ~ max range at index {}, "
                                    "maximum dimension in profile is {}, minimum dimension in profile is {}, but "
                                    "supplied dimension is {}.".format(list(shape), name, axis, hi, lo, value))
        self._shapes[name] = shape
        return True

    def _refuse(self, why):
        self._state.log(None, 1, "3: [executionContext.cpp::setInputShape] Error Code 3: API Usage Error (Parameter "
                                 "check failed: {})".format(why))
        return False

    def _current_shape(self, name):
        for io_name, is_input, dims, _ in self._engine._io:
            if io_name == name and is_input:
                return self._engine._state.Dims(self._shapes.get(name, dims))
        if not self.all_binding_shapes_specified:
            return self._engine._shape(name)
        return self._engine._state.Dims(compute.output_shapes(self._engine._record, self._input_shapes())[name])

    def _input_shapes(self):
        return dict((name, self._shapes.get(name, dims)) for name, _, dims, _ in self._inputs())

    def _binding(self, binding):
        """(name) of a binding index of the active profile (8.x), or None."""
        count = len(self._engine._io)
        binding = int(binding)
        if binding // count != self._profile or not 0 <= binding < count * self._engine.num_optimization_profiles:
            return None
        return self._engine._io[binding % count][0]

    def set_binding_shape(self, binding, shape):
        name = self._binding(binding)
        if name is None:
            return self._refuse("binding {} is not in the active profile {}".format(binding, self._profile))
        return self._set_shape(name, shape)

    def get_binding_shape(self, binding):
        name = self._binding(binding)
        return self._current_shape(name) if name is not None else self._engine._state.Dims(())

    def set_input_shape(self, name, shape):
        return self._set_shape(name, shape)

    def get_tensor_shape(self, name):
        return self._current_shape(name)

    # ------------------------------------------------------------------ addresses and runs
    def set_tensor_address(self, name, memory):
        if name not in self._engine._names():
            self._state.log(None, 1, "3: Error Code 3: API Usage Error (tensor {} not found)".format(name))
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name):
        return self._addresses.get(name, 0)

    def _stream(self, stream_handle):
        return int(stream_handle.__index__() if hasattr(stream_handle, "__index__") else stream_handle)

    def _bindings(self, bindings):
        values = [int(b.__index__()) for b in bindings]   # std::vector<size_t>
        count = len(self._engine._io)
        values = (values + [0] * (count * self._engine.num_optimization_profiles))[
            :count * self._engine.num_optimization_profiles]   # nbBindings entries, whatever the list's length
        start = self._profile * count
        return dict((io[0], values[start + i]) for i, io in enumerate(self._engine._io))

    def execute_v2(self, bindings):
        return self._run(self._bindings(bindings), 0, "execute_v2", synchronous=True)

    def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
        return self._run(self._bindings(bindings), stream_handle, "execute_async_v2")

    def execute_async_v3(self, stream_handle):
        missing = [n for n in self._engine._names() if not self._addresses.get(n)]
        if missing:
            return self._fail("3: [executionContext.cpp::enqueueV3] Error Code 3: API Usage Error (Parameter check "
                              "failed, condition: mContext.profileObliviousBindings.at(profileObliviousIndex) || "
                              "getPtrOrNull(mOutputAllocators, profileObliviousIndex). Neither address or allocator "
                              "is set for I/O tensor {}.)".format(missing[0]))
        return self._run(dict(self._addresses), stream_handle, "execute_async_v3")

    def execute(self, batch_size=1, bindings=None):
        return self._fail("execute: this engine has an explicit batch dimension; use execute_v2")

    def execute_async(self, batch_size=1, bindings=None, stream_handle=0, input_consumed=None):
        return self._fail("execute_async: this engine has an explicit batch dimension; use execute_async_v2")

    def _fail(self, message):
        self._state.log(None, 1, message)
        return False

    def _run(self, addresses, stream_handle, how, synchronous=False):
        state, engine = self._state, self._engine
        device = state.memory.device
        if not self.all_binding_shapes_specified:
            return self._fail("3: [executionContext.cpp::enqueueInternal] Error Code 3: API Usage Error (Parameter "
                              "check failed: not all input dimensions are specified)")
        handle = self._stream(stream_handle)
        current = state.cuda_context()
        if current is not self._cuda_context or current is not engine._cuda_context:
            return self._fail("1: [executionContext.cpp::enqueueInternal] Error Code 1: Cuda Runtime (invalid "
                              "resource handle: the engine and execution context belong to {!r}, this thread's "
                              "current context is {!r})".format(self._cuda_context, current))
        if not device.known_stream(handle):
            return self._fail("1: [executionContext.cpp::enqueueInternal] Error Code 1: Cuda Runtime (invalid "
                              "resource handle: stream {:#x})".format(handle))
        null = [name for name in engine._names() if not addresses.get(name)]
        if null:
            return self._fail("3: Error Code 3: API Usage Error (Parameter check failed: bindings[{}] != "
                              "nullptr)".format(null[0]))
        inputs = self._input_shapes()
        outputs = compute.output_shapes(engine._record, inputs)
        tensors = [(name, is_input, inputs[name] if is_input else outputs[name], np.dtype(NUMPY[dtype]))
                   for name, is_input, _, dtype in engine._io]
        record = engine._record

        def job():
            for name, address in addresses.items():
                if device.owner_of(address) not in (None, current):
                    raise CudaFault("an illegal memory access was encountered: {} {:#x} is an address of another "
                                    "CUDA context".format(name, address))
            feeds = {}
            for name, is_input, shape, dtype in tensors:
                if is_input:
                    raw = device.read(addresses[name], int(np.prod(shape)) * dtype.itemsize)
                    feeds[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
            results = compute.run(record, feeds)
            for (name, _, _, dtype), value in zip([t for t in tensors if not t[1]], results):
                device.write(addresses[name], np.ascontiguousarray(value, dtype=dtype).tobytes())

        self._executions.append(how)
        if not synchronous:
            try:
                device.enqueue(handle, "TensorRT {}".format(how), job)
            except CudaFault as exc:   # a stream of another context
                return self._fail("1: [executionContext.cpp::enqueueInternal] Error Code 1: Cuda Runtime "
                                  "({})".format(exc))
            return True
        try:
            device.synchronize()
            job()
        except CudaFault as exc:
            return self._fail("1: Error Code 1: Cuda Runtime ({})".format(exc))
        return True
