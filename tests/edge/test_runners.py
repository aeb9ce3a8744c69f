"""Runners on a real exported bundle: the protocol, runtime choice, and PyTorch/ORT agreement."""

import sys

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.tasks.classifier import Classifier
from edge.errors import EdgeError
from edge.bundle.preprocess import preprocess_batch, read_image
from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
from train.reference_runner import PyTorchRunner
from edge.runners.select import make_runner
from export.verify import list_images


def _batch(bundle, folder, limit=12):
    entries = list_images(folder)[:limit]
    return preprocess_batch([read_image(p) for p, _ in entries], bundle.spec), entries


def test_protocol_states_and_context_manager(export_fp32_bundle):
    runner = OnnxRuntimeRunner(Bundle.load(export_fp32_bundle))
    with pytest.raises(EdgeError, match="activated"):
        runner.infer(np.zeros((1, 3, 32, 32), np.float32))
    with runner:
        assert runner.is_active
        with pytest.raises(EdgeError, match="already active"):
            runner.activate()
        assert runner.infer(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 3)
    assert not runner.is_active


def test_onnxruntime_and_pytorch_agree_on_real_images(export_int8_bundle, export_images):
    bundle = Bundle.load(export_int8_bundle)
    batch, entries = _batch(bundle, export_images, limit=36)
    with PyTorchRunner(bundle) as reference, OnnxRuntimeRunner(bundle, "fp32") as fp32, \
            OnnxRuntimeRunner(bundle, "int8", threads=1) as int8:
        want = reference.infer(batch)
        got = fp32.infer(batch)   # static batch 1 model: run image by image inside the runner
        assert np.abs(got - want).max() < 1e-4
        assert (int8.infer(batch).argmax(1) == want.argmax(1)).mean() >= 0.95
        assert int8.entry["flavor"] == "ort-qdq-u8s8"
        assert set(reference.timings) == {"h2d", "compute", "d2h"} and "compute" in fp32.timings


def test_auto_picks_verified_int8_on_onnxruntime_without_tensorrt(export_int8_bundle, export_fp32_bundle,
                                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)   # as on a desktop, even where TensorRT is installed
    runner, why = make_runner(Bundle.load(export_int8_bundle))
    assert isinstance(runner, OnnxRuntimeRunner) and runner.precision == "int8"
    assert "TensorRT is not installed" in why
    runner, _ = make_runner(Bundle.load(export_fp32_bundle))
    assert runner.precision == "fp32"


@pytest.mark.parametrize("runtime, precision, message", [
    ("onnxruntime", "fp16", "TensorRT engine precision"),
    ("pytorch", "int8", "fp32 desktop reference"),
    ("onnxruntime", "int8", "no int8 ONNX model"),
    ("openvino", "auto", "unknown --runtime"),
])
def test_impossible_choices_say_why(export_fp32_bundle, runtime, precision, message):
    with pytest.raises(EdgeError, match=message):
        make_runner(Bundle.load(export_fp32_bundle), runtime, precision)


def test_pytorch_runner_refuses_a_changed_checkpoint(export_int8_bundle, tmp_path):
    import shutil

    bundle = Bundle.load(export_int8_bundle)
    source = bundle.manifest["model"]["source"]["path"]
    copy = str(tmp_path / "model.pt")
    shutil.copy(source, copy)
    bundle.manifest["model"]["source"]["path"] = copy
    with open(copy, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(EdgeError, match="changed since the bundle was exported"):
        PyTorchRunner(bundle).activate()


def test_classifier_returns_top_k_and_stage_timings(export_fp32_bundle, export_images):
    bundle = Bundle.load(export_fp32_bundle)
    images = [read_image(p) for p, _ in list_images(export_images)[:3]]
    with OnnxRuntimeRunner(bundle) as runner:
        results, timings = Classifier(bundle, runner, k=2).classify(images)
        everything, _ = Classifier(bundle, runner, k=10).classify(images[:1])
    assert len(results) == 3 and all(len(top) == 2 for top in results)
    assert results[0][0]["confidence"] >= results[0][1]["confidence"]
    assert len(everything[0]) == 3 and sum(item["confidence"] for item in everything[0]) == pytest.approx(1, abs=1e-4)
    assert set(timings) == {"preprocess", "inference", "postprocess"}
