"""The TensorRT runner, runtime choice and bench rows on fakes of TensorRT 8.2 and 10.3 (tests/fakes)."""

import json
import shutil

import numpy as np
import pytest

from edge.bundle import Bundle
from edge.errors import EdgeError
from edge.runners.onnxruntime_runner import OnnxRuntimeRunner
from edge.runners.select import make_runner
from edge.runners.tensorrt_runner import TensorRTRunner, unavailable_reason
from export import device
from tests.fakes.tensorrt_fake import install


@pytest.fixture
def bundle_dir(tmp_path, export_int8_bundle):
    target = str(tmp_path / "bundle")
    shutil.copytree(export_int8_bundle, target)
    return target


def _frames(export_images):
    from edge.preprocess import read_image
    from export.verify import list_images
    entries = list_images(export_images)[:6]
    return [read_image(path) for path, _ in entries]


@pytest.mark.parametrize("generation", ["8.2", "10.3"])
def test_runner_matches_onnxruntime_and_reports_stage_split(monkeypatch, bundle_dir, export_images, generation):
    install(monkeypatch, generation, device="nano")
    device.add_engines(bundle_dir, ["fp16"], log=lambda text: None)
    bundle = Bundle.load(bundle_dir)
    from edge.preprocess import preprocess_batch
    batch = preprocess_batch(_frames(export_images), bundle.spec)
    with TensorRTRunner(bundle) as trt_runner, OnnxRuntimeRunner(bundle) as ort_runner:
        assert trt_runner.precision == "fp16" and "TensorRT" in trt_runner.describe()
        assert np.allclose(trt_runner.infer(batch), ort_runner.infer(batch), atol=1e-5)
        assert set(trt_runner.timings) == {"h2d", "compute", "d2h"}
    assert not trt_runner.buffers  # everything it allocated was freed


def test_engine_for_another_gpu_is_refused_with_the_rebuild_command(monkeypatch, bundle_dir):
    install(monkeypatch, "8.2", device="nano")
    device.add_engines(bundle_dir, ["fp16"], log=lambda text: None)
    install(monkeypatch, "8.2", device="tx2")  # the bundle moved to another Jetson
    with pytest.raises(EdgeError) as error:
        TensorRTRunner(Bundle.load(bundle_dir)).activate()
    message = str(error.value)
    assert "NVIDIA Tegra X1" in message and "NVIDIA Tegra X2" in message
    assert "edge-export {} --engine fp16".format(bundle_dir) in message and "--build-engine" in message


def test_build_engine_builds_once_then_reuses(monkeypatch, bundle_dir):
    trt = install(monkeypatch, "10.3", device="orin")
    with TensorRTRunner(Bundle.load(bundle_dir), build_engine=True) as runner:
        assert runner.precision == "fp16"
    builds = len(trt.builds)
    with TensorRTRunner(Bundle.load(bundle_dir), build_engine=True) as runner:
        assert runner.precision == "fp16"
    assert len(trt.builds) == builds == 1


def test_auto_prefers_tensorrt_when_the_bundle_has_an_engine(monkeypatch, bundle_dir):
    install(monkeypatch, "10.3", device="orin")
    runner, why = make_runner(Bundle.load(bundle_dir))
    assert runner.__class__.__name__ == "OnnxRuntimeRunner" and "--engine fp16" in why
    device.add_engines(bundle_dir, ["int8"], log=lambda text: None)
    runner, why = make_runner(Bundle.load(bundle_dir))
    assert isinstance(runner, TensorRTRunner) and "has engines" in why
    with runner:
        assert runner.precision == "int8"


def test_predict_with_tensorrt(monkeypatch, bundle_dir, export_images, capsys):
    from edge.predict import main
    install(monkeypatch, "8.2", device="nano")
    device.add_engines(bundle_dir, ["fp16"], log=lambda text: None)
    assert main([bundle_dir, export_images, "--runtime", "tensorrt", "--json"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert "runtime: tensorrt fp16" in captured.err and len(rows) == 36


def test_bench_rows_say_why_tensorrt_precisions_cannot_run(monkeypatch, bundle_dir):
    install(monkeypatch, "8.2", device="nano")
    bundle = Bundle.load(bundle_dir)
    assert "INT8: no fast INT8 on this GPU" in unavailable_reason(bundle, "int8")
    assert "edge-export {} --engine fp16".format(bundle_dir) in unavailable_reason(bundle, "fp16")
    device.add_engines(bundle_dir, ["fp16"], log=lambda text: None)
    assert unavailable_reason(Bundle.load(bundle_dir), "fp16") is None
