"""The fakes themselves (tests/fakes/trt, tests/fakes/cuda/): each rule the real libraries enforce.

Every model here is a few nodes made with onnx.helper; every CUDA sequence is the documented one
(TENSORRT_API.md's samples, pycuda's doc/driver.rst, cuda-python's (err, *results) calls).
"""

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from tests.fakes.cuda import CudaFault, CudaOutOfMemory, FakeCudaMemory, GpuMemory
from tests.fakes.trt import DEVICES, FakeProcessTerminated, install, make_fake_tensorrt
from tests.fakes.trt.generations import generation
from tests.fakes.tiny_bundle import tiny_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ALL = ("8.0", "8.2", "8.6", "10.3")
V8 = ("8.0", "8.2", "8.6")


# ----------------------------------------------------------------------------- helpers

def _model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model.SerializeToString()


def _value(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def _explicit(trt):
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def _parse(trt, data):
    network = trt.Builder(trt.Logger()).create_network(_explicit(trt))
    parser = trt.OnnxParser(network, trt.Logger())
    ok = parser.parse(data)
    return ok, " ".join(parser.get_error(i).desc() for i in range(parser.num_errors)), network


def _plan(trt, data, flags=(), batch=None, calibrator=None):
    logger = trt.Logger()
    builder = trt.Builder(logger)
    network = builder.create_network(_explicit(trt))
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(data), [parser.get_error(i).desc() for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    for flag in flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if batch:
        profile = builder.create_optimization_profile()
        tensor = network.get_input(0)
        rest = list(tensor.shape)[1:]
        profile.set_shape(tensor.name, [batch[0]] + rest, [batch[1]] + rest, [batch[2]] + rest)
        config.add_optimization_profile(profile)
    if calibrator is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # 10.x deprecates implicit quantization
            config.int8_calibrator = calibrator
    return builder.build_serialized_network(network, config)


def _engine(trt, data, **kwargs):
    plan = _plan(trt, data, **kwargs)
    assert plan is not None, trt.log_messages
    return trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan)


def _memory_size(engine):
    return engine.device_memory_size_v2 if hasattr(engine, "device_memory_size_v2") else engine.device_memory_size


def _tiny(**kwargs):
    return tiny_model(**kwargs).SerializeToString()


def _onnxruntime(data, feeds):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _run(trt, engine, batch, memory=None, out_shape=(None, 3), sync=True):
    """The documented sequence through the FakeCudaMemory backend: pinned buffers, async copies, one stream."""
    memory = memory or trt.fake_memory
    context = engine.create_execution_context()
    stream = memory.stream()
    host_in = memory.pagelocked(batch.shape, np.float32)
    host_in[...] = batch
    host_out = memory.pagelocked((batch.shape[0], out_shape[1]), np.float32)
    dev_in, dev_out = memory.alloc(host_in.nbytes), memory.alloc(host_out.nbytes)
    memory.htod(dev_in, host_in, stream)
    if hasattr(context, "execute_async_v3"):
        if -1 in tuple(engine.get_tensor_shape("input")):
            assert context.set_input_shape("input", batch.shape)
        context.set_tensor_address("input", dev_in)
        context.set_tensor_address("logits", dev_out)
        assert context.execute_async_v3(memory.stream_handle(stream))
    else:
        if -1 in tuple(engine.get_binding_shape(0)):
            assert context.set_binding_shape(0, batch.shape)
        assert context.execute_async_v2([dev_in, dev_out], memory.stream_handle(stream))
    memory.dtoh(host_out, dev_out, stream)
    before = np.array(host_out)
    if sync:
        memory.synchronize(stream)
    result = np.array(host_out)
    for pointer in (dev_in, dev_out):
        memory.free(pointer)
    memory.free_host(host_in)
    memory.free_host(host_out)
    memory.free_stream(stream)
    return before, result


# ----------------------------------------------------------------------------- generation tables

def test_each_generation_is_a_plain_table():
    assert [generation(g)["version"] for g in ALL] == ["8.0.1.6", "8.2.1.8", "8.6.1.6", "10.3.0.26"]
    assert [generation(g)["max_opset"] for g in ALL] == [13, 13, 17, 20]
    assert [generation(g)["uint8_inputs"] for g in ALL] == [False, False, True, True]
    assert [generation(g)["int8_weight_initializers_allowed"] for g in ALL] == [False, False, False, True]
    assert [generation(g)["calibrator_exceptions_caught"] for g in ALL] == [False, False, True, True]
    trt80, trt82 = make_fake_tensorrt("8.0"), make_fake_tensorrt("8.2")
    assert trt80.__version__ == "8.0.1.6" and not hasattr(trt80.DataType, "UINT8")
    assert sorted(trt80.BuilderFlag.__members__) == sorted(trt82.BuilderFlag.__members__)
    assert int(make_fake_tensorrt("8.2").BuilderFlag.OBEY_PRECISION_CONSTRAINTS) == 10
    assert int(make_fake_tensorrt("10.3").BuilderFlag.OBEY_PRECISION_CONSTRAINTS) == 9


def test_deprecated_names_warn_use_instead_and_absent_names_are_absent():
    trt = make_fake_tensorrt("8.6")
    builder = trt.Builder(trt.Logger())
    with pytest.warns(DeprecationWarning, match="Use set_memory_pool_limit instead"):
        builder.create_builder_config().max_workspace_size = 1 << 20
    with pytest.warns(DeprecationWarning, match="Use build_serialized_network instead"):
        builder.build_engine(builder.create_network(_explicit(trt)), builder.create_builder_config())
    trt = make_fake_tensorrt("10.3")
    config = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.warns(DeprecationWarning, match="explicit quantization"):
        config.int8_calibrator = None
    with pytest.raises(AttributeError):
        config.max_workspace_size = 1 << 20
    assert not hasattr(trt.ICudaEngine, "num_bindings") and hasattr(trt.ICudaEngine, "device_memory_size_v2")


def test_82_nptype_fails_on_numpy_124_and_later():
    trt = make_fake_tensorrt("8.2")
    if hasattr(np, "bool"):
        assert trt.nptype(trt.DataType.FLOAT) is np.float32
    else:
        with pytest.raises(AttributeError):
            trt.nptype(trt.DataType.FLOAT)
    trt = make_fake_tensorrt("8.6")
    assert trt.nptype(trt.DataType.UINT8) is np.uint8


# ----------------------------------------------------------------------------- rule 1: UINT8

def _uint8_model(first, to=TensorProto.FLOAT):
    """uint8 NHWC input -> `first` -> ... -> float output."""
    inputs = [_value("image", TensorProto.UINT8, [1, 4, 4, 3])]
    outputs = [_value("out", TensorProto.FLOAT, [1, 3, 4, 4] if first == "Transpose" else [1, 4, 4, 3])]
    if first == "Transpose":
        nodes = [helper.make_node("Transpose", ["image"], ["t"], perm=[0, 3, 1, 2], name="transpose"),
                 helper.make_node("Cast", ["t"], ["out"], to=TensorProto.FLOAT, name="cast")]
    else:
        nodes = [helper.make_node("Cast", ["image"], ["c"], to=to, name="cast"),
                 helper.make_node("Cast", ["c"], ["out"], to=TensorProto.FLOAT, name="back")]
    return _model(nodes, inputs, outputs)


@pytest.mark.parametrize("generation_name", ["8.0", "8.2"])
def test_uint8_inputs_fail_to_parse_before_85(generation_name):
    trt = make_fake_tensorrt(generation_name)
    ok, errors, _ = _parse(trt, _uint8_model("Cast"))
    assert not ok and "Unsupported ONNX data type: UINT8 (2)" in errors
    assert not hasattr(trt.DataType, "UINT8")


@pytest.mark.parametrize("generation_name", ["8.0", "8.2", "8.6", "10.3"])
def test_a_float_nhwc_pixel_input_parses_on_every_generation(generation_name):
    """FLOAT is a network input type on every version (convertDtype), whatever the layout: a float32 NHWC
    input may feed a Transpose directly (a fused bundle's float-pixel model for TensorRT 8.2)."""
    trt = make_fake_tensorrt(generation_name)
    model = _model([helper.make_node("Transpose", ["image"], ["out"], perm=[0, 3, 1, 2], name="transpose")],
                   [_value("image", TensorProto.FLOAT, [1, 4, 4, 3])], [_value("out", TensorProto.FLOAT, [1, 3, 4, 4])])
    ok, errors, network = _parse(trt, model)
    assert ok, errors
    assert network.get_input(0).dtype == trt.DataType.FLOAT and list(network.get_input(0).shape) == [1, 4, 4, 3]


@pytest.mark.parametrize("generation_name", ["8.6", "10.3"])
def test_uint8_may_only_be_a_network_input_cast_to_float(generation_name):
    trt = make_fake_tensorrt(generation_name)
    ok, errors, network = _parse(trt, _uint8_model("Cast", to=TensorProto.FLOAT16))
    assert ok, errors
    assert network.get_input(0).dtype == trt.DataType.UINT8
    for bad in (_uint8_model("Transpose"), _uint8_model("Cast", to=TensorProto.INT32)):
        ok, errors, _ = _parse(trt, bad)
        assert not ok and "TensorRT does not support UINT8 types for intermediate tensors!" in errors
    intermediate = _model([helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT8),
                           helper.make_node("Cast", ["u"], ["y"], to=TensorProto.FLOAT)],
                          [_value("x", TensorProto.FLOAT, [1, 4])], [_value("y", TensorProto.FLOAT, [1, 4])])
    ok, errors, _ = _parse(trt, intermediate)
    assert not ok and "intermediate tensors" in errors
    as_output = _model([helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT8)],
                       [_value("x", TensorProto.FLOAT, [1, 4])], [_value("u", TensorProto.UINT8, [1, 4])])
    assert _parse(trt, as_output)[0]


# ----------------------------------------------------------------------------- rule 2: QDQ weights

def _qdq_conv(weights="int8", zero=0, zero_type=np.int8, with_zero=True):
    """input -> Q -> DQ -> Conv whose weights are an int8 initializer read by DequantizeLinear (ORT's
    quantize_static default), or float weights followed by Q -> DQ (TensorRT's preferred form)."""
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(zero, zero_type), "z"),
             numpy_helper.from_array(np.full(2, 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(2, np.int8), "wz")]
    act = ["x", "s", "z"] if with_zero else ["x", "s"]
    nodes = [helper.make_node("QuantizeLinear", act, ["xq"]),
             helper.make_node("DequantizeLinear", ["xq"] + act[1:], ["xd"])]
    if weights == "int8":
        inits.append(numpy_helper.from_array(np.ones((2, 1, 1, 1), np.int8), "w_int8"))
        nodes.append(helper.make_node("DequantizeLinear", ["w_int8", "ws", "wz"], ["w"], axis=0))
    else:
        inits.append(numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w_float"))
        nodes += [helper.make_node("QuantizeLinear", ["w_float", "ws", "wz"], ["wq"], axis=0),
                  helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0)]
    nodes.append(helper.make_node("Conv", ["xd", "w"], ["y"]))
    return _model(nodes, [_value("x", TensorProto.FLOAT, [1, 1, 4, 4])], [_value("y", TensorProto.FLOAT, [1, 2, 4, 4])],
                  inits)


@pytest.mark.parametrize("generation_name", ALL)
def test_int8_weight_initializers_need_tensorrt_10(generation_name):
    trt = make_fake_tensorrt(generation_name)
    ok, errors, _ = _parse(trt, _qdq_conv("int8"))
    if generation_name in V8:
        assert not ok and "w_int8: invalid weights type of Int8" in errors
    else:
        assert ok, errors
    assert _parse(trt, _qdq_conv("float"))[0]


@pytest.mark.parametrize("generation_name", ALL)
def test_qdq_zero_points_are_int8_zeros(generation_name):
    trt = make_fake_tensorrt(generation_name)
    for model in (_qdq_conv("float", zero=3), _qdq_conv("float", zero=0, zero_type=np.uint8)):
        ok, errors, _ = _parse(trt, model)
        assert not ok and "symmetric INT8" in errors
    ok, errors, _ = _parse(trt, _qdq_conv("float", with_zero=False))
    assert ok == (generation_name == "10.3"), errors   # 8.x: "requires 3 inputs"


# ----------------------------------------------------------------------------- rule 3: shape setters

@pytest.mark.parametrize("generation_name", ALL)
def test_shape_setters_refuse_shapes_outside_the_profile_and_keep_the_old_one(generation_name):
    trt = make_fake_tensorrt(generation_name)
    engine = _engine(trt, _tiny(dynamic=True), batch=(1, 2, 4))
    context = engine.create_execution_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # 8.6: set_binding_shape is deprecated
        named = hasattr(context, "set_input_shape")
        set_shape = (lambda s: context.set_input_shape("input", s)) if named else (
            lambda s: context.set_binding_shape(0, s))
        get_shape = (lambda: tuple(context.get_tensor_shape("input"))) if named else (
            lambda: tuple(context.get_binding_shape(0)))
        assert not context.all_binding_shapes_specified
        assert set_shape((8, 3, 32, 32)) is False and get_shape() == (-1, 3, 32, 32)
        assert set_shape((2, 3, 32)) is False and set_shape((2, 3, 16, 16)) is False
        assert not context.all_binding_shapes_specified
        assert set_shape((2, 3, 32, 32)) is True and context.all_binding_shapes_specified
        assert set_shape((5, 3, 32, 32)) is False and get_shape() == (2, 3, 32, 32)
    assert any("exceed min ~ max range" in text for _, text in trt.log_messages)


@pytest.mark.parametrize("generation_name", ["8.2", "10.3"])
def test_running_with_a_dynamic_shape_unset_fails(generation_name):
    trt = make_fake_tensorrt(generation_name)
    engine = _engine(trt, _tiny(dynamic=True), batch=(1, 2, 4))
    context = engine.create_execution_context()
    memory = trt.fake_memory
    pointers = [memory.alloc(4 * 3 * 32 * 32 * 4), memory.alloc(4 * 3 * 4)]
    if hasattr(context, "execute_async_v3"):
        for name, pointer in zip(("input", "logits"), pointers):
            context.set_tensor_address(name, pointer)
        assert context.execute_async_v3(0) is False
    else:
        assert context.execute_async_v2(pointers, 0) is False
    assert any("not all input dimensions" in text for _, text in trt.log_messages)


# ----------------------------------------------------------------------------- rule 4: device memory

@pytest.mark.parametrize("generation_name", ALL)
def test_create_execution_context_is_none_when_the_activations_do_not_fit(generation_name):
    trt = make_fake_tensorrt(generation_name)
    small = _engine(trt, _tiny(dynamic=True), batch=(1, 1, 2))
    large = _engine(trt, _tiny(dynamic=True), batch=(1, 1, 8))
    assert _memory_size(large) > _memory_size(small) > 0
    device = trt.fake_memory.device
    device.free_bytes = _memory_size(large) - 1
    assert large.create_execution_context() is None
    context = small.create_execution_context()
    assert context is not None and device.free_bytes == _memory_size(large) - 1 - _memory_size(small)
    assert device.live() == ["execution context ({} bytes)".format(_memory_size(small))]
    del context
    assert device.live() == []


def test_plans_of_another_version_or_gpu_are_refused():
    plan = _plan(make_fake_tensorrt("8.2"), _tiny())
    for other in (make_fake_tensorrt("8.0"), make_fake_tensorrt("8.2", gpu=("NVIDIA Tegra X2", "6.2"))):
        assert other.Runtime(other.Logger()).deserialize_cuda_engine(plan) is None
    trt = make_fake_tensorrt("8.2")
    assert trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan) is not None


# ----------------------------------------------------------------------------- rule 5: execution

@pytest.mark.parametrize("generation_name", ALL)
def test_a_run_lands_when_its_stream_is_synchronized(generation_name):
    trt = make_fake_tensorrt(generation_name)
    engine = _engine(trt, _tiny())
    batch = np.random.RandomState(1).rand(1, 3, 32, 32).astype(np.float32)
    before, after = _run(trt, engine, batch)
    assert not before.any()   # nothing ran before the stream was synchronized
    assert np.allclose(after, _onnxruntime(_tiny(), {"input": batch}), atol=1e-6)
    assert trt.fake_memory.live() == []


def test_bindings_are_read_as_exactly_num_bindings_pointers():
    trt = make_fake_tensorrt("8.2")
    engine = _engine(trt, _tiny())
    context = engine.create_execution_context()
    memory = trt.fake_memory
    stream = memory.stream()
    dev_in = memory.alloc(3 * 32 * 32 * 4)
    assert context.execute_async_v2([dev_in], stream.handle) is False   # the output binding read as null
    dev_out = memory.alloc(3 * 4)
    assert context.execute_async_v2([dev_in, dev_out, 12345], stream.handle)   # the extra entry is never read
    memory.synchronize(stream)
    assert context.execute_async_v2([dev_in, dev_out], 0xBAD) is False   # not a stream
    assert any("invalid resource handle" in text for _, text in trt.log_messages)


def test_execute_async_v3_needs_every_address_and_reads_within_the_allocations():
    trt = make_fake_tensorrt("10.3")
    engine = _engine(trt, _tiny())
    context = engine.create_execution_context()
    memory = trt.fake_memory
    stream = memory.stream()
    dev_in, dev_out = memory.alloc(3 * 32 * 32 * 4), memory.alloc(2 * 4)   # the output buffer is one float short
    context.set_tensor_address("input", dev_in)
    assert context.execute_async_v3(stream.handle) is False
    context.set_tensor_address("logits", dev_out)
    assert context.execute_async_v3(stream.handle)
    with pytest.raises(CudaFault, match="past the end"):
        memory.synchronize(stream)


def test_fp16_engines_round_and_int8_engines_quantize():
    trt = make_fake_tensorrt("8.6", gpu=("Orin", "8.7"))
    batch = np.random.RandomState(2).rand(1, 3, 32, 32).astype(np.float32)
    fp32 = _onnxruntime(_tiny(), {"input": batch})
    fp16 = _run(trt, _engine(trt, _tiny(), flags=["FP16"]), batch)[1]
    assert not np.array_equal(fp16, fp32) and np.allclose(fp16, fp32, atol=1e-2)
    assert np.array_equal(fp16, fp16.astype(np.float16).astype(np.float32))
    qdq = _tiny(qdq="s8s8")
    int8 = _run(trt, _engine(trt, qdq, flags=["INT8"]), batch)[1]
    assert np.array_equal(int8, _onnxruntime(qdq, {"input": batch})) and not np.allclose(int8, fp32, atol=1e-4)


def test_engines_write_their_output_dtype():
    trt = make_fake_tensorrt("10.3")
    half = _model([helper.make_node("Relu", ["x"], ["y"])], [_value("x", TensorProto.FLOAT16, [1, 4])],
                  [_value("y", TensorProto.FLOAT16, [1, 4])])
    engine = _engine(trt, half)
    assert engine.get_tensor_dtype("y") == trt.DataType.HALF
    memory = trt.fake_memory
    dev_x, dev_y = memory.alloc(8), memory.alloc(8)
    host = memory.pagelocked(4, np.float16)
    host[:] = [-1.5, 0.5, 2.25, -0.0]
    memory.htod(dev_x, host)
    context = engine.create_execution_context()
    context.set_tensor_address("x", dev_x)
    context.set_tensor_address("y", dev_y)
    assert context.execute_v2([dev_x, dev_y])   # synchronous; bindings in I/O order
    assert list(memory.read(dev_y, 8, np.float16)) == [0.0, 0.5, 2.25, 0.0]


# ----------------------------------------------------------------------------- rule 6: calibrators

def _calibrator(trt, memory, values, fail=None, sync=True, pointers=None):
    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches, self.written = list(values), None
            with memory.current():   # a fresh fake device: no context is current on this thread yet
                self.stream = memory.stream()
                self.host = memory.pagelocked((1, 3, 32, 32), np.float32)
                self.device = memory.alloc(self.host.nbytes)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            if fail == "get_batch" and len(self.batches) < len(values):
                raise ValueError("camera unplugged")
            if not self.batches:
                return None
            self.host[...] = self.batches.pop(0)
            with memory.current():
                memory.htod(self.device, self.host, self.stream)
                if sync:
                    memory.synchronize(self.stream)
            return pointers if pointers is not None else [self.device]

        def read_calibration_cache(self):
            if fail == "read_calibration_cache":
                raise IOError("cache unreadable")
            return None

        def write_calibration_cache(self, cache):
            if fail == "write_calibration_cache":
                raise IOError("disk full")
            self.written = bytes(cache)

    return Calibrator()


BATCHES = [np.full((1, 3, 32, 32), v, np.float32) for v in (0.5, -2.0, 1.0)]


@pytest.mark.parametrize("generation_name", ["8.0", "8.2"])
@pytest.mark.parametrize("fail", ["get_batch", "read_calibration_cache", "write_calibration_cache"])
def test_82_calibrator_exceptions_end_the_process(generation_name, fail):
    trt = make_fake_tensorrt(generation_name)
    calibrator = _calibrator(trt, trt.fake_memory, BATCHES, fail=fail)
    assert not issubclass(FakeProcessTerminated, Exception)   # `except Exception` cannot swallow it
    with pytest.raises(FakeProcessTerminated, match=fail):
        _plan(trt, _tiny(), flags=["INT8"], calibrator=calibrator)


@pytest.mark.parametrize("generation_name", ["8.6", "10.3"])
def test_86_calibrator_exceptions_are_caught_and_logged(generation_name):
    trt = make_fake_tensorrt(generation_name)
    memory = trt.fake_memory
    first = _calibrator(trt, memory, BATCHES[:1], fail="get_batch")
    first.batches = []   # raises on the first call: no batch at all, the build fails
    first.get_batch = lambda names: (_ for _ in ()).throw(ValueError("camera unplugged"))
    assert _plan(trt, _tiny(), flags=["INT8"], calibrator=first) is None
    assert any("[ERROR] Exception caught in get_batch(): camera unplugged" in t for _, t in trt.log_messages)
    later = _calibrator(trt, memory, BATCHES, fail="get_batch")   # raises on the second batch: "no more batches"
    assert _plan(trt, _tiny(), flags=["INT8"], calibrator=later) is not None
    assert trt.builds[-1]["calibration"]["images"] == 1
    for fail in ("read_calibration_cache", "write_calibration_cache"):
        calibrator = _calibrator(trt, memory, BATCHES, fail=fail)
        assert _plan(trt, _tiny(), flags=["INT8"], calibrator=calibrator) is not None
        assert any("Exception caught in {}()".format(fail) in t for _, t in trt.log_messages)
    assert calibrator.written is None


@pytest.mark.parametrize("generation_name", ALL)
def test_calibration_reads_one_pointer_per_input_from_device_memory(generation_name):
    trt = make_fake_tensorrt(generation_name)
    memory = trt.fake_memory
    calibrator = _calibrator(trt, memory, BATCHES)
    assert _plan(trt, _tiny(), flags=["INT8"], calibrator=calibrator) is not None
    assert trt.builds[-1]["calibration"]["amax"] == {"input": 2.0}
    assert calibrator.written.startswith(b"TRT-")
    unsynced = _calibrator(trt, memory, BATCHES, sync=False)   # copies still queued when get_batch returns
    _plan(trt, _tiny(), flags=["INT8"], calibrator=unsynced)
    assert trt.builds[-1]["calibration"]["amax"]["input"] != 2.0
    extra = _calibrator(trt, memory, BATCHES, pointers=[calibrator.device, 12345])   # the extra entry is not read
    assert _plan(trt, _tiny(), flags=["INT8"], calibrator=extra) is not None
    wild = _calibrator(trt, memory, BATCHES, pointers=[1 << 50])   # not a device pointer
    assert _plan(trt, _tiny(), flags=["INT8"], calibrator=wild) is None
    assert any("illegal memory access" in t for _, t in trt.log_messages)


@pytest.mark.parametrize("generation_name", ["8.2", "10.3"])
def test_a_short_pointer_list_leaves_an_input_unread(generation_name):
    trt = make_fake_tensorrt(generation_name)
    two = _model([helper.make_node("Add", ["a", "b"], ["y"])], [_value("a", TensorProto.FLOAT, [1, 3, 32, 32]),
                                                               _value("b", TensorProto.FLOAT, [1, 3, 32, 32])],
                 [_value("y", TensorProto.FLOAT, [1, 3, 32, 32])])
    calibrator = _calibrator(trt, trt.fake_memory, BATCHES)
    names_seen = []
    inner = calibrator.get_batch
    calibrator.get_batch = lambda names: names_seen.append(names) or inner(names)   # one pointer for two inputs
    assert _plan(trt, two, flags=["INT8"], calibrator=calibrator) is None
    assert names_seen[0] == ["a", "b"] and any("illegal memory access" in t for _, t in trt.log_messages)


def test_implicit_int8_engines_quantize_the_input_at_the_calibrated_scale():
    trt = make_fake_tensorrt("8.2", gpu=("Xavier", "7.2"))
    engine = _engine(trt, _tiny(), flags=["INT8"], calibrator=_calibrator(trt, trt.fake_memory, BATCHES))
    batch = np.random.RandomState(3).rand(1, 3, 32, 32).astype(np.float32)
    scale = trt.builds[-1]["calibration"]["scales"]["input"]
    quantized = (np.clip(np.round(batch / scale), -128, 127) * scale).astype(np.float32)
    assert np.allclose(_run(trt, engine, batch)[1], _onnxruntime(_tiny(), {"input": quantized}), atol=1e-6)


# ----------------------------------------------------------------------------- the memory model

def test_async_copies_land_when_their_stream_is_synchronized():
    memory = FakeCudaMemory()
    with memory.current():
        _copies_land_when_their_stream_is_synchronized(memory)


def _copies_land_when_their_stream_is_synchronized(memory):
    device = memory.device
    stream, other = memory.stream(), memory.stream()
    host = memory.pagelocked(4, np.float32)
    host[:] = [1, 2, 3, 4]
    pointer = memory.alloc(16)
    memory.htod(pointer, host, stream)
    host[:] = [5, 6, 7, 8]   # a page-locked source is read when the copy runs
    assert not memory.read(pointer, 16, np.float32).any() and device.pending(stream.handle) == ["htod"]
    memory.synchronize(other)
    assert not memory.read(pointer, 16, np.float32).any()
    memory.synchronize(stream)
    assert list(memory.read(pointer, 16, np.float32)) == [5, 6, 7, 8]
    host[:] = 9
    memory.htod(pointer, host)   # stream None: synchronous
    assert list(memory.read(pointer, 16, np.float32)) == [9, 9, 9, 9]
    with pytest.raises(CudaFault, match="page-locked"):
        memory.htod(pointer, np.zeros(4, np.float32), stream)


def test_faults_out_of_memory_and_the_ledger():
    device = GpuMemory("Orin", "8.7", total_mb=1)
    pointer = device.alloc(16)
    with pytest.raises(CudaFault, match="past the end"):
        device.read(pointer + 8, 16)
    with pytest.raises(CudaOutOfMemory):
        device.alloc(2 << 20)
    device.free(pointer)
    with pytest.raises(CudaFault, match="freed twice"):
        device.free(pointer)
    with pytest.raises(CudaFault, match="not in any live"):
        device.read(pointer, 4)
    handle = device.create_stream()
    block = device.alloc_pinned(8)
    assert device.live() == ["page-locked buffer {:#x} (8 bytes)".format(block.address),
                             "stream {:#x}".format(handle)]
    device.free_pinned(block.address)
    device.destroy_stream(handle)
    assert device.live() == [] and device.free_bytes == 1 << 20


# ----------------------------------------------------------------------------- pycuda and cuda-python

def test_pycuda_fake_follows_its_documentation(monkeypatch):
    trt = install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    import pycuda.driver as cuda

    with pytest.raises(cuda.LogicError):
        cuda.mem_alloc(16)   # no context yet
    importlib.import_module("pycuda.autoinit")   # makes the context, as pycuda/autoinit.py does
    assert cuda.Device(0).name() == "NVIDIA Tegra X1" and cuda.Device(0).compute_capability() == (5, 3)
    host = cuda.pagelocked_empty((2, 2), np.float32)
    host[...] = 1.5
    dev = cuda.mem_alloc(host.nbytes)
    stream = cuda.Stream()
    with pytest.raises(cuda.LogicError, match="page-locked"):
        cuda.memcpy_htod_async(dev, np.ones((2, 2), np.float32), stream)
    cuda.memcpy_htod_async(dev, host, stream)
    assert not trt.fake_memory.read(int(dev), 16, np.float32).any()
    stream.synchronize()
    assert (trt.fake_memory.read(int(dev), 16, np.float32) == 1.5).all()
    dev.free()
    with pytest.raises(cuda.LogicError):
        dev.free()
    with pytest.raises(cuda.LogicError):
        cuda.memcpy_htod(dev, host)   # a freed allocation
    with pytest.raises(cuda.MemoryError):
        cuda.mem_alloc(DEVICES["nano"].memory_mb << 21)
    host.base.free()
    with pytest.raises(cuda.LogicError):
        host.base.free()


def test_the_82_sample_sequence_runs_with_pycuda(monkeypatch):
    """samples/python/common.py (release/8.2): allocate_buffers and do_inference_v2, as documented."""
    trt = install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    importlib.import_module("pycuda.autoinit")
    import pycuda.driver as cuda

    engine = _engine(trt, _tiny())
    context = engine.create_execution_context()
    stream, buffers, bindings = cuda.Stream(), [], []
    for binding in engine:
        size = trt.volume(engine.get_binding_shape(binding)) * engine.max_batch_size
        host = cuda.pagelocked_empty(size, np.float32)   # trt.nptype fails on NumPy >= 1.24 (8.2)
        device = cuda.mem_alloc(host.nbytes)
        bindings.append(int(device))
        buffers.append((host, device))
    batch = np.random.RandomState(4).rand(1, 3, 32, 32).astype(np.float32)
    buffers[0][0][:] = batch.ravel()
    cuda.memcpy_htod_async(buffers[0][1], buffers[0][0], stream)
    assert context.execute_async_v2(bindings=bindings, stream_handle=stream.handle)
    cuda.memcpy_dtoh_async(buffers[1][0], buffers[1][1], stream)
    stream.synchronize()
    assert np.allclose(buffers[1][0], _onnxruntime(_tiny(), {"input": batch}).ravel(), atol=1e-6)


def test_cuda_python_calls_return_error_and_results(monkeypatch):
    """samples/python/common_runtime.py (release/10.3): every call returns (err, *results)."""
    trt = install(monkeypatch, "10.3", device="orin", cuda="cuda-python")
    from cuda import cudart

    success = cudart.cudaError_t.cudaSuccess
    err, props = cudart.cudaGetDeviceProperties(0)
    assert err == success and (props.name, props.major, props.minor) == (b"Orin", 8, 7)
    engine = _engine(trt, _tiny())
    context = engine.create_execution_context()
    err, stream = cudart.cudaStreamCreate()
    pointers = {}
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        err, pointers[name] = cudart.cudaMalloc(trt.volume(engine.get_tensor_shape(name)) * 4)
        assert err == success and context.set_tensor_address(name, pointers[name])
    batch = np.random.RandomState(5).rand(1, 3, 32, 32).astype(np.float32)
    h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
    assert cudart.cudaMemcpyAsync(pointers["input"], batch.ctypes.data, batch.nbytes, h2d, stream) == (success,)
    assert context.execute_async_v3(stream_handle=stream)   # the cudaStream_t itself, as the sample passes
    out = np.zeros((1, 3), np.float32)
    d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
    assert cudart.cudaMemcpyAsync(out.ctypes.data, pointers["logits"], out.nbytes, d2h, stream) == (success,)
    assert cudart.cudaStreamSynchronize(stream) == (success,)
    assert np.allclose(out, _onnxruntime(_tiny(), {"input": batch}), atol=1e-6)
    with pytest.raises(AttributeError):
        cudart.cudaMemcpyAsync(out.ctypes.data, pointers["logits"], out.nbytes, 2, stream)   # kind.value
    assert cudart.cudaFree(pointers["input"]) == (success,)
    assert cudart.cudaFree(pointers["input"]) == (cudart.cudaError_t.cudaErrorInvalidValue,)
    assert cudart.cudaMalloc(1 << 50)[0] == cudart.cudaError_t.cudaErrorMemoryAllocation


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_edge_backends_run_against_the_fake_bindings(monkeypatch, binding):
    import edge.cuda.memory

    trt = install(monkeypatch, "8.6", device="orin", cuda=binding)
    memory = edge.cuda.memory.backend()
    assert memory.name == binding and memory.device_info()["name"] == "Orin"   # no context needed
    assert trt.fake_memory.device.contexts.current() is None   # nothing left current by making the backend
    with memory.current():
        host = memory.pagelocked((2, 3), np.float32)
        host[:] = 2.5
        dev = memory.alloc(host.nbytes)
        stream = memory.stream()
        memory.htod(dev, host, stream)
        memory.synchronize(stream)
        host[:] = 0
        memory.dtoh(host, dev, stream)
        memory.synchronize(stream)
        assert (host == 2.5).all()
        memory.free(dev)
        memory.free_host(host)
        memory.free_stream(stream)
        del stream
    assert trt.fake_memory.live() == []
    assert trt.fake_memory.device.contexts.current() is None   # popped again


# ----------------------------------------------------------------------------- the machine's identity

def _smi():
    args = ["nvidia-smi", "--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"]
    try:
        return subprocess.check_output(args, stderr=subprocess.STDOUT).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return None


@pytest.mark.parametrize("device, smi", [("orin", "Orin (nvgpu), 8.7, [N/A]"),
                                         ("gtx1080", "NVIDIA GeForce GTX 1080, 6.1, 8192"),
                                         ("nano", None), ("tx2", None), ("xavier", None)])
def test_install_gives_the_machine_its_identity(monkeypatch, device, smi):
    import edge.cuda.gpu

    install(monkeypatch, "8.2" if device in ("nano", "tx2", "xavier") else "10.3", device=device, cuda=None)
    assert _smi() == smi
    tree = DEVICES[device].device_tree
    if tree is None:
        with pytest.raises(IOError):
            open(edge.cuda.gpu.DEVICE_TREE_MODEL, "rb")
    else:
        with open(edge.cuda.gpu.DEVICE_TREE_MODEL, "rb") as handle:
            assert handle.read() == tree.encode() + b"\0"
    import edge.cuda.memory
    from edge.errors import MissingDependency
    with pytest.raises(MissingDependency):
        edge.cuda.memory.backend()
    assert sys.modules["pycuda"] is None and sys.modules["cuda.bindings.runtime"] is None
