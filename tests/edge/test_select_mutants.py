"""Which runtime and precision the automatic choice takes, and why it says so.

Written against the survivors of `make mutation` (tests/mutation.py): an INT8 model that export never
verified must not run by default, one it verified must not be skipped, and a bad request is refused."""

import json
import os

import pytest

import edge.runners.onnxruntime.runtime as onnxruntime_runtime
import edge.runners.plugins as plugins
import edge.runners.tensorrt.loader as tensorrt_loader
import edge.runners.tensorrt.runner as tensorrt_runner
import edge.util.lazy as lazy
from edge.bundle.bundle import Bundle
from edge.bundle.schema import ORT_INT8, TENSORRT_INT8
from edge.errors import EdgeError
from edge.runners.onnxruntime.runtime import choose_precision as onnxruntime_precision
from edge.runners.onnxruntime.runtime import int8_verified
from edge.runners.select import auto_runtime, make_runner
from tests.fakes.tiny_bundle import write_tiny_bundle


def manifest_only(artifacts, int8=None, kind=None):
    """A bundle as the chooser sees it: artifacts, what export verified, its output kind when given (the task
    that reads the record; none: a classifier's); no files are read."""
    manifest = {"artifacts": artifacts, "verification": {"int8": int8} if int8 is not None else {}}
    if kind is not None:
        manifest["output"] = {"name": "out", "kind": kind}
    return Bundle("/nowhere", manifest)


def onnx(flavor):
    return {"file": flavor + ".onnx", "kind": "onnx", "precision": "int8", "flavor": flavor}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real bundle on disk (fp32 and a TensorRT-flavor INT8 model), read without the schema check."""
    folder = write_tiny_bundle(tmp_path_factory.mktemp("select") / "bundle", qdq=True)
    with open(os.path.join(folder, "manifest.json")) as handle:
        return folder, json.load(handle)


def tiny_bundle(tiny, int8=None):
    folder, manifest = tiny
    manifest = json.loads(json.dumps(manifest))
    manifest["verification"] = {"int8": int8} if int8 is not None else {}
    return Bundle(folder, manifest)


@pytest.mark.parametrize("record, verified", [
    ({"top1_agreement": 0.99, "min_agreement": 0.99}, True),     # exactly at its own bar
    ({"top1_agreement": 0.985, "min_agreement": 0.99}, False),
    ({"top1_agreement": 0.98}, True),                            # no recorded bar: export's default, 98%
    ({"top1_agreement": 0.979}, False),
    ({"min_agreement": 0.0}, False),                             # no recorded agreement: never verified
    ({"min_agreement": 0.5}, False),
    ({}, False),
])
def test_a_classifier_int8_model_counts_as_verified_only_by_its_recorded_agreement(record, verified):
    assert int8_verified(manifest_only([onnx(ORT_INT8)], {ORT_INT8: record})) is verified


@pytest.mark.parametrize("record, verified", [
    ({"judged_by": "mae_delta_px", "mae_delta_px": 0.5, "max_mae_increase_px": 0.5}, True),
    ({"judged_by": "mae_delta_px", "mae_delta_px": 0.6, "max_mae_increase_px": 0.5}, False),
    ({"judged_by": "mean_abs_diff_px", "mean_abs_diff_px": 1.0}, True),   # the default bar, 1 px
    ({"judged_by": "mean_abs_diff_px", "mean_abs_diff_px": 1.01}, False),
    ({"judged_by": "mae_delta_px", "mae_delta_px": -0.2, "top1_agreement": 0.0}, True),
])
def test_a_regression_int8_model_is_judged_by_its_mae_in_pixels(record, verified):
    assert int8_verified(manifest_only([onnx(TENSORRT_INT8)], {TENSORRT_INT8: record}, kind="regression")) is verified


def test_a_verified_record_counts_only_with_its_model_in_the_bundle():
    good = {"top1_agreement": 1.0}
    assert int8_verified(manifest_only([onnx(TENSORRT_INT8)], {ORT_INT8: good})) is False
    assert int8_verified(manifest_only([onnx(TENSORRT_INT8)], {TENSORRT_INT8: good})) is True
    assert int8_verified(manifest_only([onnx(ORT_INT8), onnx(TENSORRT_INT8)],
                                       {ORT_INT8: {"top1_agreement": 0.5}, TENSORRT_INT8: good})) is False   # ORT's decides
    assert int8_verified(manifest_only([onnx(TENSORRT_INT8)])) is False


def test_onnx_runtime_takes_the_verified_int8_model_and_says_why(tiny):
    pytest.importorskip("onnxruntime")
    verified = tiny_bundle(tiny, {TENSORRT_INT8: {"top1_agreement": 1.0}})
    assert onnxruntime_precision(verified) == ("int8", "int8 (verified INT8 model in the bundle)")
    unverified = tiny_bundle(tiny, {TENSORRT_INT8: {"top1_agreement": 0.5}})
    assert onnxruntime_precision(unverified) == ("fp32", "fp32 (no verified INT8 model)")


def test_onnx_runtime_falls_back_to_fp32_with_the_reason_it_cannot_load_int8(tiny, monkeypatch):
    verified = tiny_bundle(tiny, {TENSORRT_INT8: {"top1_agreement": 1.0}})
    monkeypatch.setattr(onnxruntime_runtime, "load_problem",
                        lambda bundle, entry: "opset 99 is newer than this ONNX Runtime")
    assert onnxruntime_precision(verified) == (
        "fp32", "fp32 (instead of the verified INT8 model: opset 99 is newer than this ONNX Runtime)")


@pytest.mark.parametrize("options, message", [
    ({"runtime": "tensorflow"}, "unknown --runtime 'tensorflow'; choose from auto, tensorrt, onnxruntime, pytorch"),
    ({"precision": "fp64"}, "unknown --precision 'fp64'; choose from auto, fp32, fp16, int8"),
    ({"runtime": "onnxruntime", "precision": "fp16"},
     "ONNX Runtime runs the bundle's fp32 or int8 models; fp16 is a TensorRT engine precision (--runtime tensorrt)"),
    ({"runtime": "pytorch", "precision": "int8"}, "the PyTorch runner is the fp32 desktop reference; use --precision fp32"),
])
def test_a_bad_runtime_or_precision_through_the_api_is_refused_in_one_line(tiny, options, message):
    with pytest.raises(EdgeError) as caught:
        make_runner(tiny_bundle(tiny), **options)
    assert str(caught.value) == message


def test_onnx_runtime_spins_by_default_and_not_when_told(tiny):
    runner, why = make_runner(tiny_bundle(tiny), "onnxruntime", "fp32", threads=2)
    assert (runner.name, runner.precision, runner.threads, runner.spinning, why) == (
        "onnxruntime", "fp32", 2, True, "asked for")
    runner, _ = make_runner(tiny_bundle(tiny), "onnxruntime", "fp32", spinning=False)
    assert runner.spinning is False


def test_auto_on_a_cpu_machine_takes_onnx_runtime_and_the_verified_int8(tiny, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(lazy, "available", lambda name: name == "onnxruntime")
    runner, why = make_runner(tiny_bundle(tiny, {TENSORRT_INT8: {"top1_agreement": 1.0}}))
    assert (runner.name, runner.precision, runner.spinning) == ("onnxruntime", "int8", True)
    assert why == "TensorRT is not installed; int8 (verified INT8 model in the bundle)"


def fake_tensorrt(monkeypatch, onnxruntime=True, entry=None, why=None, raises=None):
    monkeypatch.setattr(lazy, "available", lambda name: name == "tensorrt" or (onnxruntime and name == "onnxruntime"))

    def engine_for_this_device(bundle, precision):
        if raises:
            raise EdgeError(raises)
        return entry, why
    monkeypatch.setattr(tensorrt_loader, "engine_for_this_device", engine_for_this_device)


def test_auto_takes_an_engine_that_fits_this_gpu(monkeypatch):
    fake_tensorrt(monkeypatch, entry={"file": "engine-fp16-abc.plan"})
    assert auto_runtime(manifest_only([])) == ("tensorrt", "engine-fp16-abc.plan fits this GPU and TensorRT")


def test_auto_with_no_engine_builds_one_when_asked_else_falls_back_to_onnx_runtime(monkeypatch):
    fake_tensorrt(monkeypatch, why="the bundle has no TensorRT engine")
    assert auto_runtime(manifest_only([]), build_engine=True) == (
        "tensorrt", "no engine fits this device yet; --build-engine builds it")
    assert auto_runtime(manifest_only([])) == (
        "onnxruntime", "no TensorRT engine for this device (the bundle has no TensorRT engine)")
    fake_tensorrt(monkeypatch, raises="nvidia-smi not found")
    assert auto_runtime(manifest_only([])) == ("onnxruntime", "no TensorRT engine for this device (nvidia-smi not found)")


def test_auto_on_a_jetson_without_an_engine_names_the_command(monkeypatch):
    fake_tensorrt(monkeypatch, onnxruntime=False, why="build it with: edge-export b --engine fp16")
    with pytest.raises(EdgeError) as caught:
        auto_runtime(manifest_only([]))
    assert str(caught.value) == ("build it with: edge-export b --engine fp16 (or run with --build-engine; "
                                 "ONNX Runtime is not installed to fall back to)")


def test_auto_with_no_runtime_at_all_says_what_to_install(monkeypatch):
    monkeypatch.setattr(lazy, "available", lambda name: False)
    with pytest.raises(EdgeError) as caught:
        auto_runtime(manifest_only([]))
    assert str(caught.value) == "no runtime available: install onnxruntime, or TensorRT (comes with JetPack)"


class Recorder(object):
    """Stands in for a runner class: keeps what make_runner built it with."""
    made = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        Recorder.made.append(self)


def test_tensorrt_asked_for_gets_the_bundle_precision_engine_building_and_log(monkeypatch):
    monkeypatch.setattr(tensorrt_runner, "TensorRTRunner", Recorder)
    bundle, log = manifest_only([]), [].append
    runner, why = make_runner(bundle, "tensorrt", "fp16", log=log)
    assert (runner.args, runner.kwargs, why) == ((bundle,), {"precision": "fp16", "build_engine": False, "log": log},
                                                "asked for")
    runner, _ = make_runner(bundle, "tensorrt", build_engine=True)
    assert runner.kwargs == {"precision": "auto", "build_engine": True, "log": None}


def test_auto_hands_the_bundle_and_precision_to_the_engine_lookup(monkeypatch):
    seen = []
    monkeypatch.setattr(lazy, "available", lambda name: name == "tensorrt")
    monkeypatch.setattr(tensorrt_loader, "engine_for_this_device",
                        lambda bundle, precision: seen.append((bundle, precision)) or ({"file": "e.plan"}, None))
    monkeypatch.setattr(tensorrt_runner, "TensorRTRunner", Recorder)
    bundle = manifest_only([])
    runner, why = make_runner(bundle, precision="int8")
    assert (seen, why, runner.kwargs["precision"]) == ([(bundle, "int8")], "e.plan fits this GPU and TensorRT", "int8")
    assert auto_runtime(bundle)[0] == "tensorrt" and seen[-1] == (bundle, "auto")
    monkeypatch.setattr(tensorrt_loader, "engine_for_this_device", lambda bundle, precision: (None, "none here"))
    runner, why = make_runner(bundle, build_engine=True)
    assert why == "no engine fits this device yet; --build-engine builds it" and runner.kwargs["build_engine"] is True


def test_the_pytorch_reference_gets_the_bundle_checkpoint_and_threads(monkeypatch):
    asked = []
    monkeypatch.setattr(plugins, "plugin_runner", lambda name, hint="": asked.append(name) or Recorder)
    bundle = manifest_only([])
    for precision in ("auto", "fp32"):
        runner, why = make_runner(bundle, "pytorch", precision, threads=3, checkpoint="model.pt")
        assert (runner.args, runner.kwargs, why) == ((bundle,), {"checkpoint": "model.pt", "threads": 3}, "asked for")
    assert asked == ["pytorch", "pytorch"]
