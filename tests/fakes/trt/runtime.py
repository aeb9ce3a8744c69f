"""Runtime and ICudaEngine: plans back to engines (IExecutionContext and its runs: context.py).

Rules (TENSORRT_API.md "Rules the real library enforces" and the 8.2 / 10.x inference sequences):
- deserialize_cuda_engine returns None for a plan of another TensorRT version or GPU.
- create_execution_context returns None when the engine's device_memory_size (activation memory
  at the largest profile shape) does not fit the GPU's free memory; a context holds that memory
  until it is deleted.
- set_binding_shape (8.x) / set_input_shape (8.6+) return False for a shape outside the active
  profile's [min, max], of another rank, or unlike a static input's, and keep the old shape;
  all_binding_shapes_specified is False until every dynamic input has one; running with a dynamic
  shape unset fails (False, an error logged).
- execute_async_v2(bindings, stream_handle) reads exactly num_bindings pointers; execute_async_v3
  needs every I/O tensor's address. The run is queued on the stream whose handle was given (an
  unknown handle fails) and reads and writes device memory when that stream is synchronized,
  through the allocations' bounds (tests/fakes/cuda/). execute_v2 runs at once (synchronous).
CUDA contexts (TensorRT Developer Guide, FAQ "How do I use TensorRT on multiple GPUs?": "Each
ICudaEngine object is bound to a specific GPU when it is instantiated, either by the builder or
on deserialization ... Each IExecutionContext is bound to the same GPU as the engine from which it
was created"; CUDA C Programming Guide, "Context": each context has its own address space):
engines and execution contexts belong to the context TensorRT worked in when they were made, the
calling thread's current one, or the primary context when none is current (the runtime API's
rule). A run issued under another context fails: an error logged and False (execute's documented
failure value), as does one whose stream belongs to another context; I/O pointers of another
context are an illegal memory access when the queued run executes.
With more than one profile, 8.x bindings repeat per profile: index k * n + i, named "x [profile k]".
"""

import json


class Dims(tuple):
    """trt.Dims: iterable, indexable, len(); compares like the tuple of its values."""

    def __repr__(self):
        return "Dims({})".format(list(self))


class EngineImpl(object):
    def __init__(self, record):
        self._record = record
        self._cuda_context = self._state.cuda_context()   # built or deserialized in this context
        self._io = [(n, True, tuple(d), t) for n, d, t in record["inputs"]] + \
                   [(n, False, tuple(d), t) for n, d, t in record["outputs"]]

    # ------------------------------------------------------------------ helpers
    def _names(self):
        return [io[0] for io in self._io]

    def _index(self, key):
        """I/O index of a name or (8.x) a binding index of any profile."""
        if isinstance(key, str):
            if key not in self._names():
                raise KeyError(key)
            return self._names().index(key)
        key = int(key)
        if not 0 <= key < len(self._io) * self.num_optimization_profiles:
            raise IndexError("binding index {} out of range".format(key))
        return key % len(self._io)

    def _dtype(self, key):
        return getattr(self._state.trt.DataType, self._io[self._index(key)][3])

    def _shape(self, key):
        return Dims(self._io[self._index(key)][2])

    def _profile(self, name, profile_index):
        profiles = self._record["profiles"]
        if profiles and name in profiles[profile_index]:
            return [Dims(s) for s in profiles[profile_index][name]]
        return [self._shape(name)] * 3

    # ------------------------------------------------------------------ every generation
    num_optimization_profiles = property(lambda self: max(1, len(self._record["profiles"])))
    has_implicit_batch_dimension = property(lambda self: False)
    num_layers = property(lambda self: len(self._record["onnx"]["ops"]))
    device_memory_size = property(lambda self: int(self._record["device_memory_size"]))
    device_memory_size_v2 = property(lambda self: int(self._record["device_memory_size"]))

    def create_execution_context(self, strategy=None):
        state = self._state
        if strategy is not None and not state.table["execution_allocation_strategy"]:
            raise TypeError("create_execution_context(): incompatible function arguments")
        token = state.memory.device.reserve(self._record["device_memory_size"])
        if token is None:
            state.log(None, 1, "1: [defaultAllocator.cpp::allocate::20] Error Code 1: Cuda Runtime (out of memory): "
                               "the execution context needs {} bytes of device memory, {} are free".format(
                                   self._record["device_memory_size"], state.memory.device.free_bytes))
            return None
        return state.trt.IExecutionContext(self, token)

    def serialize(self):
        from tests.fakes.trt.builder import HostMemory
        return HostMemory(json.dumps(self._record, sort_keys=True).encode("utf-8"))

    def __getitem__(self, key):
        if isinstance(key, int):
            count = len(self._io) * (1 if self._state.table["column"] == 2 else self.num_optimization_profiles)
            if not 0 <= key < count:
                raise IndexError(key)
            return self._binding_name(key)
        if self._state.table["column"] == 2:
            raise TypeError("__getitem__(): incompatible function arguments")
        return self._binding_index(key)

    def __iter__(self):
        count = len(self._io) * (1 if self._state.table["column"] == 2 else self.num_optimization_profiles)
        return iter([self._binding_name(i) for i in range(count)])

    def _binding_name(self, index):
        profile, io = divmod(index, len(self._io))
        return self._io[io][0] + (" [profile {}]".format(profile) if profile else "")

    # ------------------------------------------------------------------ 8.x bindings
    num_bindings = property(lambda self: len(self._io) * self.num_optimization_profiles)
    max_batch_size = property(lambda self: 1)

    def __len__(self):
        return self.num_bindings

    def _binding_index(self, name):
        names = [self._binding_name(i) for i in range(len(self._io) * self.num_optimization_profiles)]
        return names.index(name) if name in names else -1

    def get_binding_index(self, name):
        return self._binding_index(name)

    def get_binding_name(self, index):
        return self._binding_name(int(index))

    def binding_is_input(self, index):
        return self._io[self._index(index)][1]

    def get_binding_shape(self, index):
        return self._shape(index)

    def get_binding_dtype(self, index):
        return self._dtype(index)

    def get_profile_shape(self, profile_index, binding):
        return self._profile(self._io[self._index(binding)][0], profile_index)

    # ------------------------------------------------------------------ 8.5+ named tensors
    num_io_tensors = property(lambda self: len(self._io))

    def get_tensor_name(self, index):
        return self._io[int(index)][0]

    def get_tensor_mode(self, name):
        mode = self._state.trt.TensorIOMode
        return mode.INPUT if self._io[self._index(name)][1] else mode.OUTPUT

    def get_tensor_shape(self, name):
        return self._shape(name)

    def get_tensor_dtype(self, name):
        return self._dtype(name)

    def get_tensor_profile_shape(self, name, profile_index):
        return self._profile(name, profile_index)


class RuntimeImpl(object):
    def __init__(self, logger):
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine):
        state = self._state
        try:
            record = json.loads(bytes(memoryview(serialized_engine)).decode("utf-8"))
            assert record["fake_engine"] == 1
        except Exception:
            state.log(self._logger, 1, "1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization "
                                       "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not "
                                       "match)")
            return None
        if record["version"] != state.trt.__version__:
            state.log(self._logger, 1, "The engine plan file is not compatible with this version of TensorRT, "
                                       "expecting library version {} got {}".format(state.trt.__version__,
                                                                                   record["version"]))
            return None
        if list(record["gpu"]) != list(state.identity()[:2]):
            state.log(self._logger, 1, "The engine plan file is generated on an incompatible device, expecting "
                                       "compute {} got compute {}".format(state.identity()[1], record["gpu"][1]))
            return None
        return state.trt.ICudaEngine(record)

