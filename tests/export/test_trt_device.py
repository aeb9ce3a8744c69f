"""The device half of edge-export against fakes of TensorRT 8.2 and 10.3 (tests/fakes/tensorrt_fake.py)."""

import os
import shutil
import sys

import numpy as np
import pytest

from edge.bundle import Bundle
from edge.errors import EdgeError, MissingDependency
from export import device
from tests.fakes.tensorrt_fake import install

GENERATIONS = ["8.2", "10.3"]


@pytest.fixture
def int8_bundle(tmp_path, export_int8_bundle):
    target = str(tmp_path / "bundle")
    shutil.copytree(export_int8_bundle, target)
    return target


def manifest_bytes(bundle):
    with open(os.path.join(bundle, "manifest.json"), "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("generation", GENERATIONS)
def test_fp16_engine_built_with_that_generations_api(monkeypatch, int8_bundle, generation):
    trt = install(monkeypatch, generation)
    lines = []
    entries = device.add_engines(int8_bundle, ["fp16"], workspace_mb=128, log=lines.append)
    build = trt.builds[-1]
    assert "FP16" in build["flags"] and "INT8" not in build["flags"]
    assert build["workspace"] == 128 * 2 ** 20  # max_workspace_size on 8.2, the WORKSPACE pool on 10.3
    entry = Bundle.load(int8_bundle).artifact("tensorrt_engine", precision="fp16")
    assert entry == entries[0]
    assert entry["gpu"] == "NVIDIA Tegra X1" and entry["compute_capability"] == "5.3"
    assert entry["tensorrt_version"] == trt.__version__ and entry["onnx_file"] == "model.onnx"
    assert entry["file"] == "engine-fp16-{}.plan".format(entry["key"])
    assert os.path.isfile(os.path.join(int8_bundle, entry["file"]))
    assert os.path.isfile(os.path.join(int8_bundle, "timing.cache"))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_int8_on_a_nano_builds_fp16_and_says_so(monkeypatch, int8_bundle, generation):
    install(monkeypatch, generation, fast_int8=False)
    lines = []
    device.add_engines(int8_bundle, ["int8"], log=lines.append)
    assert any("no fast INT8" in line and "building FP16 instead" in line for line in lines)
    entry = Bundle.load(int8_bundle).artifact("tensorrt_engine")
    assert (entry["precision"], entry["requested_precision"]) == ("fp16", "int8")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_strict_refuses_and_leaves_the_bundle_unchanged(monkeypatch, int8_bundle, generation):
    install(monkeypatch, generation, fast_int8=False)
    before, files = manifest_bytes(int8_bundle), sorted(os.listdir(int8_bundle))
    with pytest.raises(EdgeError, match="no fast INT8.*--strict"):
        device.add_engines(int8_bundle, ["int8"], strict=True)
    assert manifest_bytes(int8_bundle) == before and sorted(os.listdir(int8_bundle)) == files


@pytest.mark.parametrize("generation", GENERATIONS)
def test_int8_on_orin_is_explicit_from_the_qdq_model(monkeypatch, int8_bundle, generation):
    trt = install(monkeypatch, generation, gpu="Orin", compute_capability="8.7")
    device.add_engines(int8_bundle, ["int8"])
    build = trt.builds[-1]
    assert "INT8" in build["flags"] and not build["calibrator"]
    assert build["onnx"].endswith("model.int8.trt.onnx")
    entry = Bundle.load(int8_bundle).artifact("tensorrt_engine", precision="int8")
    assert entry["int8_mode"] == "explicit-qdq" and entry["onnx_file"] == "model.int8.trt.onnx"


def test_cached_engine_is_reused_and_timing_cache_fed_back(monkeypatch, int8_bundle):
    trt = install(monkeypatch, "8.2")
    device.add_engines(int8_bundle, ["fp16"])
    assert trt.builds[-1]["timing_cache_in"] is None
    device.add_engines(int8_bundle, ["fp32"])
    assert trt.builds[-1]["timing_cache_in"] > 0  # the cache from the first build was loaded
    lines = []
    device.add_engines(int8_bundle, ["fp16"], log=lines.append)
    assert len(trt.builds) == 2 and any("cached" in line for line in lines)
    assert len(Bundle.load(int8_bundle).artifacts("tensorrt_engine")) == 2


def test_engine_key_depends_on_everything_that_ties_an_engine_to_a_device():
    base = ("sha", "8.2.1.8", "NVIDIA Tegra X1", "5.3", "fp16", (1, 1, 1))
    keys = {device.engine_key(*base)}
    for index, other in enumerate(["sha2", "10.3.0", "Orin", "8.7", "int8", (1, 4, 8)]):
        changed = list(base)
        changed[index] = other
        keys.add(device.engine_key(*changed))
    assert len(keys) == 7 and device.engine_key(*base) == device.engine_key(*base)


def test_opset_above_13_fails_on_tensorrt_82_with_the_parser_message(monkeypatch, tmp_path, export_checkpoint,
                                                                    export_run):
    out = str(tmp_path / "b17")
    assert export_run([export_checkpoint, "-o", out, "--opset", "17"])[0] == 0
    install(monkeypatch, "8.2")
    before = manifest_bytes(out)
    with pytest.raises(EdgeError, match="cannot parse.*opset 17"):
        device.add_engines(out, ["fp16"])
    assert manifest_bytes(out) == before and not [f for f in os.listdir(out) if f.endswith(".plan")]


def test_dynamic_batch_gets_an_optimisation_profile(monkeypatch, tmp_path, export_checkpoint, export_run):
    out = str(tmp_path / "dyn")
    assert export_run([export_checkpoint, "-o", out, "--dynamic-batch", "8"])[0] == 0
    trt = install(monkeypatch, "10.3")
    device.add_engines(out, ["fp16"])
    assert trt.builds[-1]["profiles"] == [{"input": [[1, 3, 32, 32], [1, 3, 32, 32], [8, 3, 32, 32]]}]
    assert Bundle.load(out).artifact("tensorrt_engine")["batch"] == {"min": 1, "opt": 1, "max": 8}


def test_without_tensorrt_nothing_is_touched(monkeypatch, int8_bundle):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as on a desktop without it
    before = manifest_bytes(int8_bundle)
    with pytest.raises(MissingDependency, match="comes with JetPack"):
        device.add_engines(int8_bundle, ["fp16"])
    assert manifest_bytes(int8_bundle) == before


def test_unknown_precision(monkeypatch, int8_bundle):
    install(monkeypatch, "10.3")
    with pytest.raises(EdgeError, match="unknown engine precision"):
        device.add_engines(int8_bundle, ["fp8"])


@pytest.mark.parametrize("generation", GENERATIONS)
def test_calibration_cache_from_batches(monkeypatch, int8_bundle, generation):
    trt = install(monkeypatch, generation)
    batches = [np.random.RandomState(i).rand(1, 3, 32, 32).astype(np.float32) for i in range(5)]
    entry = device.write_calibration_cache(int8_bundle, "model.onnx", batches, "entropy")
    assert entry["kind"] == "calibration_cache" and entry["images"] == 5
    with open(os.path.join(int8_bundle, entry["file"]), "rb") as handle:
        assert handle.read() == b"fake-trt-calibration:5"
    assert trt.builds[-1]["calibrator"] and "INT8" in trt.builds[-1]["flags"]
    with pytest.raises(EdgeError, match="percentile"):
        device.write_calibration_cache(int8_bundle, "model.onnx", batches, "percentile")


def test_edge_export_cli_adds_engines_to_a_bundle(monkeypatch, int8_bundle, capsys):
    from export.cli import main
    install(monkeypatch, "8.2", fast_int8=False)
    assert main([int8_bundle, "--engine", "fp16,int8"]) == 0
    out = capsys.readouterr()
    assert "no fast INT8" in out.err + out.out
    precisions = sorted(e["precision"] for e in Bundle.load(int8_bundle).artifacts("tensorrt_engine"))
    assert precisions == ["fp16"]  # int8 became fp16 on this GPU: the same engine, built once


@pytest.mark.tensorrt
def test_real_tensorrt_builds_and_runs_an_fp16_engine(int8_bundle):
    """On a machine with TensorRT and a GPU (a Jetson): build for real, run, compare with ONNX Runtime."""
    from edge.runners.onnxruntime_runner import OnnxRuntimeRunner
    from edge.runners.tensorrt_runner import TensorRTRunner

    device.add_engines(int8_bundle, ["fp16"])
    bundle = Bundle.load(int8_bundle)
    batch = np.random.RandomState(0).rand(1, 3, 32, 32).astype(np.float32)
    with TensorRTRunner(bundle, "fp16") as trt_runner, OnnxRuntimeRunner(bundle) as ort_runner:
        assert np.abs(trt_runner.infer(batch) - ort_runner.infer(batch)).max() < 0.05
