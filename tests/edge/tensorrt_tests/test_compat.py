"""export.trt_compat, edge.cuda.memory and the fakes' API surfaces, per TensorRT generation."""

import sys
import warnings

import numpy as np
import pytest

import edge.cuda.memory
import edge.cuda.gpu
from edge.errors import EdgeError, MissingDependency
from edge.tensorrt import build as trt_build, compat as trt_compat
from tests.fakes.trt import GENERATIONS, install, make_fake_tensorrt
from tests.fakes.tiny_bundle import tiny_model


def _onnx_file(tmp_path, **kwargs):
    import onnx

    path = str(tmp_path / "tiny.onnx")
    onnx.save(tiny_model(**kwargs), path)
    return path


# ----------------------------------------------------------------------------- the fakes' surfaces

def test_each_fake_has_only_its_generations_api():
    g82, g86, g10 = (make_fake_tensorrt(g) for g in ("8.2", "8.6", "10.3"))
    for trt in (g82, g86, g10):
        builder = trt.Builder(trt.Logger())
        config = builder.create_builder_config()
        assert hasattr(builder, "build_serialized_network") and hasattr(builder, "create_optimization_profile")
        assert hasattr(trt.OnnxParser, "parse") and hasattr(trt.OnnxParser, "parse_from_file")
        assert hasattr(config, "create_timing_cache") and hasattr(trt, "IInt8EntropyCalibrator2")
        assert isinstance(builder.platform_has_fast_fp16, bool)
    # 8.2: max_workspace_size and bindings only
    config = g82.Builder(g82.Logger()).create_builder_config()
    assert not hasattr(config, "set_memory_pool_limit") and not hasattr(g82, "MemoryPoolType")
    assert not hasattr(g82.ICudaEngine, "num_io_tensors") and not hasattr(g82.IExecutionContext, "execute_async_v3")
    assert not hasattr(g82.NetworkDefinitionCreationFlag, "STRONGLY_TYPED") and not hasattr(g82.DataType, "UINT8")
    # 10.3: no build_engine, no max_workspace_size (not even settable), no bindings
    builder = g10.Builder(g10.Logger())
    config = builder.create_builder_config()
    assert not hasattr(builder, "build_engine") and not hasattr(builder, "max_batch_size")
    with pytest.raises(AttributeError):
        config.max_workspace_size = 1 << 20
    with pytest.raises(AttributeError):
        g10.BuilderFlag.STRICT_TYPES
    for name in ("num_bindings", "get_binding_index", "binding_is_input", "get_binding_shape", "__len__"):
        assert not hasattr(g10.ICudaEngine, name), name
    assert not hasattr(g10.IExecutionContext, "execute_async_v2")
    # 8.6: both, the old one deprecated
    config = g86.Builder(g86.Logger()).create_builder_config()
    with pytest.warns(DeprecationWarning):
        config.max_workspace_size = 1 << 20
    assert hasattr(config, "set_memory_pool_limit") and hasattr(g86.ICudaEngine, "num_io_tensors")


def test_82_nptype_fails_on_new_numpy_as_the_real_one_does():
    trt = make_fake_tensorrt("8.2")
    if not hasattr(np, "bool"):
        with pytest.raises(AttributeError):
            trt.nptype(trt.DataType.FLOAT)
    assert make_fake_tensorrt("10.3").nptype(make_fake_tensorrt("10.3").DataType.FLOAT) is np.float32


# ----------------------------------------------------------------------------- builder shims

@pytest.mark.parametrize("generation, bits", [("8.2", 1), ("8.6", 1), ("10.3", 0)])
def test_network_flags(generation, bits):
    assert trt_compat.network_flags(make_fake_tensorrt(generation)) == bits


@pytest.mark.parametrize("generation, api", [("8.2", "max_workspace_size"), ("8.6", "memory_pool_limit"),
                                             ("10.3", "memory_pool_limit")])
def test_workspace_uses_the_generations_api_without_deprecation(generation, api):
    trt = make_fake_tensorrt(generation)
    config = trt.Builder(trt.Logger()).create_builder_config()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert trt_compat.set_workspace(trt, config, 64 << 20) == api
    assert config._workspace == (api, 64 << 20)


def test_fast_precisions_ask_the_builder_first_then_a_table():
    trt = make_fake_tensorrt("8.2", fast_fp16=True, fast_int8=False)
    assert trt_compat.fast_precisions(trt.Builder(trt.Logger()), "8.7") == {"fp16": True, "int8": False}

    class Silent(object):   # a builder that no longer answers (C++ deprecated in 10.5)
        pass

    table = dict((cc, trt_compat.fast_precisions(Silent(), cc)) for cc in ("5.3", "6.1", "6.2", "7.2", "8.7"))
    assert table["5.3"] == {"fp16": True, "int8": False} and table["6.2"] == {"fp16": True, "int8": False}
    assert table["6.1"] == {"fp16": False, "int8": True}
    assert table["7.2"] == table["8.7"] == {"fp16": True, "int8": True}


def test_implicit_int8_only_before_strong_typing():
    assert trt_compat.implicit_int8(make_fake_tensorrt("8.2")) and trt_compat.implicit_int8(make_fake_tensorrt("8.6"))
    assert not trt_compat.implicit_int8(make_fake_tensorrt("10.3"))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_io_tensors_by_bindings_or_names(tmp_path, generation):
    trt = make_fake_tensorrt(generation)
    result = trt_build.build(trt, trt_build.BuildRequest(_onnx_file(tmp_path, dynamic=True), "fp32", (1, 2, 4)),
                             log=lambda line: None)
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(result.plan)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        tensors = trt_compat.io_tensors(trt, engine)
    assert tensors == [("input", True, (-1, 3, 32, 32), np.dtype(np.float32)),
                       ("logits", False, (-1, 3), np.dtype(np.float32))]
    assert [name for name in engine] == ["input", "logits"]


def test_parser_errors_read_parser_error_methods(tmp_path):
    for generation in ("8.2", "10.3"):
        trt = make_fake_tensorrt(generation)
        builder = trt.Builder(trt.Logger())
        network = builder.create_network(trt_compat.network_flags(trt))
        parser = trt.OnnxParser(network, trt.Logger())
        assert not parser.parse_from_file(_onnx_file(tmp_path, qdq="u8s8"))
        text = trt_compat.parser_errors(parser)
        assert "symmetric INT8" in text and "[INVALID_NODE]" in text and text.startswith("node 0")
        if generation == "10.3":
            assert "(QuantizeLinear)" in text   # node_operator() exists from 10.x


def test_82_parser_needs_an_explicit_batch_network(tmp_path):
    trt = make_fake_tensorrt("8.2")
    network = trt.Builder(trt.Logger()).create_network(0)
    parser = trt.OnnxParser(network, trt.Logger())
    assert not parser.parse_from_file(_onnx_file(tmp_path))
    assert parser.get_error(0).code() == trt.ErrorCode.INVALID_VALUE


# ----------------------------------------------------------------------------- which GPU

def test_device_description_falls_back_from_cuda_to_nvidia_smi_to_device_tree(monkeypatch, tmp_path):
    trt = make_fake_tensorrt("8.2")

    def no_cuda():
        raise MissingDependency("CUDA device memory needs pycuda or cuda-python")

    monkeypatch.setattr(edge.cuda.memory, "device_info", no_cuda)
    monkeypatch.setattr(edge.cuda.gpu, "from_nvidia_smi", lambda timeout=10: None)
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    monkeypatch.setattr(edge.cuda.gpu, "DEVICE_TREE_MODEL", str(model))
    info = trt_compat.device_description(trt)
    assert (info["gpu"], info["compute_capability"], info["tensorrt_version"]) == ("NVIDIA Tegra X1", "5.3", "8.2.1.8")
    assert info["source"].startswith("device-tree")
    monkeypatch.setattr(edge.cuda.gpu, "from_device_tree", lambda path=None: None)
    with pytest.raises(EdgeError, match="cannot tell which GPU"):
        trt_compat.device_description(trt)


def test_device_description_prefers_cuda(monkeypatch):
    trt = install(monkeypatch, "10.3", device="orin")
    info = trt_compat.device_description(trt)
    assert info == {"gpu": "Orin", "compute_capability": "8.7", "tensorrt_version": "10.3.0.26", "source": "cuda"}


# ----------------------------------------------------------------------------- edge.cuda.memory

def test_cuda_memory_without_pycuda_or_cuda_python(monkeypatch):
    monkeypatch.setattr(edge.cuda.memory, "_BACKEND", None)
    for name in ("pycuda", "pycuda.driver", "pycuda.autoinit", "cuda", "cuda.cudart", "cuda.bindings",
                 "cuda.bindings.runtime"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependency, match="pycuda or cuda-python"):
        edge.cuda.memory.backend()
    with pytest.raises(EdgeError, match="unknown CUDA backend"):
        edge.cuda.memory.backend("opencl")


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_cuda_failures_are_one_clear_error_with_either_binding(monkeypatch, binding):
    """Out of GPU memory: pycuda's MemoryError and cudart's error code both become a CudaError (one line)."""
    install(monkeypatch, "8.6", device="orin", cuda=binding, free_bytes=1 << 20)
    memory = edge.cuda.memory.backend()
    with memory.current(), pytest.raises(edge.cuda.memory.CudaError, match="(?i)failed.*memory"):
        memory.alloc(1 << 30)


@pytest.mark.jetson
def test_device_tree_agrees_with_cuda_on_this_jetson():
    """On a Jetson with pycuda or cuda-python: the fallback table names the GPU as CUDA does."""
    cuda = edge.cuda.memory.device_info()
    tree = edge.cuda.gpu.from_device_tree()
    assert tree is not None and (tree["name"], tree["compute_capability"]) == (cuda["name"], cuda["compute_capability"])


def test_a_broken_cuda_driver_is_one_clear_error(monkeypatch):
    trt = make_fake_tensorrt("8.2")

    def broken():
        raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    monkeypatch.setattr(edge.cuda.memory, "device_info", broken)
    with pytest.raises(EdgeError, match="CUDA could not be initialised.*no CUDA-capable device"):
        trt_compat.device_description(trt)
