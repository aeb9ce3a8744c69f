"""export.trt_build and export.calibrator against the fakes of TensorRT 8.2, 8.6 and 10.3."""

import contextlib
import os
import warnings

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.tensorrt import build as trt_build
from edge.tensorrt.calibrator import make_calibrator, regroup, resolve_method
from tests.fakes.trt import GENERATIONS, FakeCudaMemory, make_fake_tensorrt
from tests.fakes.tiny_bundle import tiny_model_bytes

FAST = {"fp16": True, "int8": True}
NANO = {"fp16": True, "int8": False}
PASCAL = {"fp16": False, "int8": True}


def onnx_file(tmp_path, name="tiny.onnx", **kwargs):
    path = str(tmp_path / name)
    with open(path, "wb") as handle:
        handle.write(tiny_model_bytes(**kwargs))
    return path


def build(trt, path, precision="fp32", log=None, **kwargs):
    lines = [] if log is None else log
    return trt_build.build(trt, trt_build.BuildRequest(path, precision, **kwargs), lines.append)


# ----------------------------------------------------------------------------- precision policy

@pytest.mark.parametrize("requested, fast, built", [
    ("fp32", NANO, "fp32"), ("fp16", NANO, "fp16"), ("int8", FAST, "int8"),
    ("int8", NANO, "fp16"), ("fp16", PASCAL, "fp32"), ("int8", {"fp16": False, "int8": False}, "fp32"),
])
def test_choose_precision(requested, fast, built):
    precision, warning = trt_build.choose_precision(requested, fast, "GPU X (sm_53)", strict=False)
    assert precision == built
    assert (warning is None) == (built == requested)
    if warning:
        assert warning.startswith("warning: GPU X (sm_53) has no fast {}".format(requested.upper()))
        assert "building {} instead".format(built.upper()) in warning and "\n" not in warning


def test_choose_precision_strict_refuses():
    with pytest.raises(EdgeError, match="no fast INT8.*--strict refuses to build fp16"):
        trt_build.choose_precision("int8", NANO, "NVIDIA Tegra X1 (sm_53)", strict=True)
    with pytest.raises(EdgeError, match="choose from fp32, fp16, int8"):
        trt_build.choose_precision("fp8", FAST, "x", strict=False)


# ----------------------------------------------------------------------------- build

@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("precision, fast_fp16, flags", [
    ("fp32", True, []), ("fp16", True, ["FP16", "TF32"]), ("int8", True, ["FP16", "INT8", "TF32"]),
    ("int8", False, ["INT8", "TF32"])])
def test_flags_per_precision(tmp_path, generation, precision, fast_fp16, flags):
    trt = make_fake_tensorrt(generation)
    path = onnx_file(tmp_path, qdq="s8s8" if precision == "int8" else None)
    result = build(trt, path, precision, fast_fp16=fast_fp16, workspace_mb=64)
    record = trt.builds[-1]
    assert record["flags"] == flags and result.flags == flags
    assert record["workspace"] == ("max_workspace_size" if generation == "8.2" else "memory_pool_limit", 64 << 20)
    assert record["network_flags"] == (0 if generation == "10.3" else 1)
    assert record["calibration"] is None and record["onnx"]["qdq"] == (precision == "int8")
    assert trt.Runtime(trt.Logger()).deserialize_cuda_engine(result.plan) is not None


@pytest.mark.parametrize("generation", GENERATIONS)
def test_dynamic_batch_profile(tmp_path, generation):
    trt = make_fake_tensorrt(generation)
    build(trt, onnx_file(tmp_path, dynamic=True), batch=(1, 4, 8))
    assert trt.builds[-1]["profiles"] == [{"input": [[1, 3, 32, 32], [4, 3, 32, 32], [8, 3, 32, 32]]}]
    build(trt, onnx_file(tmp_path, dynamic=True), batch=(1, 1, 1))   # a dynamic axis needs a profile even for 1
    assert trt.builds[-1]["profiles"] == [{"input": [[1, 3, 32, 32]] * 3}]
    build(trt, onnx_file(tmp_path), batch=(1, 1, 1))
    assert trt.builds[-1]["profiles"] == []


def test_static_onnx_refuses_a_batch_range(tmp_path):
    with pytest.raises(EdgeError, match="fixed batch of 1.*--dynamic-batch"):
        build(make_fake_tensorrt("8.2"), onnx_file(tmp_path), batch=(1, 1, 8))
    with pytest.raises(EdgeError, match="1 <= min <= opt <= max"):
        build(make_fake_tensorrt("8.2"), onnx_file(tmp_path, dynamic=True), batch=(4, 2, 8))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_timing_cache_new_then_reused_and_foreign_one_replaced(tmp_path, generation):
    trt = make_fake_tensorrt(generation)
    path = onnx_file(tmp_path)
    first = build(trt, path, "fp16")
    assert first.timing_status == "new" and trt.builds[-1]["timing_cache_hit"] is False
    second = build(trt, path, "fp16", timing_cache=first.timing_cache)
    assert second.timing_status == "reused" and trt.builds[-1]["timing_cache_hit"] is True
    other = make_fake_tensorrt(generation, gpu=("Orin", "8.7"))
    lines = []
    third = build(other, path, "fp16", timing_cache=first.timing_cache, log=lines)
    assert third.timing_status == "replaced" and other.builds[-1]["timing_cache_hit"] is False
    assert any("timing cache does not fit" in line for line in lines)
    lines = []
    assert build(trt, path, "fp16", timing_cache=b"garbage", log=lines).timing_status == "replaced"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_parse_failures_are_one_clear_error(tmp_path, generation):
    trt = make_fake_tensorrt(generation)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    with pytest.raises(EdgeError, match=r"TensorRT .* cannot parse broken.onnx: .*MODEL_DESERIALIZE_FAILED"):
        build(trt, str(broken))
    with pytest.raises(EdgeError, match="symmetric INT8"):
        build(trt, onnx_file(tmp_path, qdq="u8s8"), "int8")


def test_opset_above_13_on_82_says_how_to_fix(tmp_path):
    path = onnx_file(tmp_path, opset=17)
    with pytest.raises(EdgeError) as raised:
        build(make_fake_tensorrt("8.2"), path, opset=17)
    assert "cannot parse tiny.onnx (opset 17)" in str(raised.value) and "--opset 13" in str(raised.value)
    build(make_fake_tensorrt("10.3"), path, opset=17)   # 10.x reads it


def test_failed_build_is_an_edge_error(tmp_path):
    trt = make_fake_tensorrt("8.2")
    with pytest.raises(EdgeError, match="could not build the int8 engine"):
        build(trt, onnx_file(tmp_path), "int8")   # INT8 without QDQ or calibrator: no scales


# ----------------------------------------------------------------------------- calibrator

def test_resolve_method():
    assert resolve_method("entropy") == ("entropy", None)
    assert resolve_method("minmax") == ("minmax", None)
    method, note = resolve_method("percentile")
    assert method == "entropy" and "no percentile calibrator" in note
    with pytest.raises(EdgeError, match="entropy or minmax"):
        resolve_method("kl")


def test_regroup():
    batches = [np.full((1, 3, 4, 4), i, np.float32) for i in range(5)] + [np.zeros((3, 3, 4, 4), np.float64)]
    grouped = regroup(batches, 3)
    assert [g.shape for g in grouped] == [(3, 3, 4, 4)] * 2 and all(g.dtype == np.float32 for g in grouped)
    assert grouped[1][0, 0, 0, 0] == 3
    with pytest.raises(EdgeError, match="at least 8 images"):
        regroup(batches[:2], 8)
    with pytest.raises(EdgeError, match="one item shape"):
        regroup([np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 5, 5))], 1)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("method, base, algorithm", [("entropy", "IInt8EntropyCalibrator2", "ENTROPY_CALIBRATION_2"),
                                                     ("minmax", "IInt8MinMaxCalibrator", "MINMAX_CALIBRATION")])
def test_calibrator_feeds_batches_through_device_memory(tmp_path, generation, method, base, algorithm):
    memory = FakeCudaMemory()
    trt = make_fake_tensorrt(generation, memory=memory)
    batches = [np.full((2, 3, 32, 32), value, np.float32) for value in (0.5, -3.0, 1.0)]
    calibrator = make_calibrator(trt, method, batches, memory=memory)
    assert isinstance(calibrator, getattr(trt, base)) and calibrator.get_batch_size() == 2
    assert calibrator.read_calibration_cache() is None
    # 10.x deprecates calibrators (explicit quantization supersedes them): the setter warns there.
    with pytest.warns(DeprecationWarning) if generation == "10.3" else contextlib.suppress():
        build(trt, onnx_file(tmp_path, dynamic=True), "int8", batch=(2, 2, 2), calibrator=calibrator)
    calibration = trt.builds[-1]["calibration"]
    assert calibration["from"] == "batches" and calibration["images"] == 6 and calibration["algorithm"] == algorithm
    assert calibration["amax"] == {"input": 3.0}   # the values really went through the fake device memory
    assert trt.builds[-1]["calibration_profile"] == {"input": [[2, 3, 32, 32]] * 3}
    assert calibrator.cache.startswith(b"TRT-")
    calibrator.release()
    assert memory.buffers == {} and memory.calls.count("free") == 1


def test_cache_only_calibrator(tmp_path):
    trt = make_fake_tensorrt("8.2")
    memory = trt.fake_memory
    fresh = make_calibrator(trt, "entropy", [np.ones((1, 3, 32, 32), np.float32)], memory=memory)
    build(trt, onnx_file(tmp_path), "int8", calibrator=fresh)
    reader = make_calibrator(trt, "entropy", cache=fresh.cache)
    build(trt, onnx_file(tmp_path), "int8", calibrator=reader)
    assert trt.builds[-1]["calibration"]["from"] == "cache" and reader.get_batch(["input"]) is None
    stale = make_calibrator(trt, "entropy", cache=b"TRT-7000-EntropyCalibration2\ninput: 3c010a14\n")
    with pytest.raises(EdgeError, match="could not build"):
        build(trt, onnx_file(tmp_path), "int8", calibrator=stale)
    with pytest.raises(EdgeError, match="entropy or minmax"):
        make_calibrator(trt, "percentile")


def test_calibrator_must_call_the_base_init(tmp_path):
    trt = make_fake_tensorrt("8.2")

    class Forgetful(trt.IInt8EntropyCalibrator2):
        def __init__(self):   # no base __init__: pybind11 refuses such an object
            pass

    with pytest.raises(TypeError, match="__init__"):
        build(trt, onnx_file(tmp_path), "int8", calibrator=Forgetful())
    assert os.path.exists(str(tmp_path / "tiny.onnx"))


class _DeviceLost(FakeCudaMemory):
    """Device memory whose copies fail (a GPU reset mid-calibration), as an exception from the backend."""

    def htod(self, buffer, host, stream=None):
        raise RuntimeError("cudaErrorLaunchFailure: unspecified launch failure")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_calibrator_error_never_escapes_into_tensorrt(tmp_path, generation):
    """8.2 calls get_batch through a noexcept C++ trampoline: an escaping exception ends the process.

    The calibrator keeps the error, answers "no more batches", and the build re-raises it as one
    line; the device buffers it allocated are freed either way.
    """
    memory = _DeviceLost()
    trt = make_fake_tensorrt(generation, memory=memory)
    calibrator = make_calibrator(trt, "entropy", [np.ones((1, 3, 32, 32), np.float32)], memory=memory)
    try:
        with pytest.raises(EdgeError, match="INT8 calibration failed.*unspecified launch failure"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                build(trt, onnx_file(tmp_path), "int8", calibrator=calibrator)
    finally:
        calibrator.release()
    assert memory.live() == []
