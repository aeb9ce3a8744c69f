"""edge-export end to end on a tiny model: bundles, verification figures, errors, atomic replacement."""

import json
import os
import sys
import types

import numpy as np
import pytest

from edge.bundle.bundle import Bundle, artifact_entry, put_artifact, read_manifest, write_manifest
from edge.bundle.preprocess import preprocess, read_image
from tests.helpers import STAND_IN_ENGINES, run_blocked


def _one_error_line(err):
    """The one error line, last on stderr; any line before it is progress (an error found mid-export)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("edge-export: error: ")]
    assert errors == lines[-1:] and all(line.startswith("edge-export: ") for line in lines), err
    return lines[-1]


def _leftovers(parent):
    """Staging or moved-aside folders left in `parent`."""
    return [name for name in os.listdir(parent) if ".staging-" in name or ".old-" in name]


# ----------------------------------------------------------------------------- fp32

def test_fp32_bundle_is_complete_and_hashed(export_fp32_bundle):
    bundle = Bundle.load(export_fp32_bundle)
    files = sorted(entry["file"] for entry in bundle.manifest["artifacts"])
    assert files == ["golden.npz", "labels.txt", "model.onnx"]
    for entry in bundle.manifest["artifacts"]:
        bundle.check(entry)  # exists and sha256 matches
    onnx_entry = bundle.artifact("onnx", precision="fp32")
    assert onnx_entry["opset"] == 13
    assert bundle.classes == ["blue", "green", "red"]
    with open(os.path.join(export_fp32_bundle, "labels.txt")) as handle:
        assert handle.read().splitlines() == bundle.classes
    assert bundle.input_name == "input" and bundle.output_name == "logits"
    assert bundle.batch_range == (1, 1, 1)
    assert bundle.manifest["input"]["shape"] == [1, 3, 32, 32]
    assert bundle.fused_preprocess is False


def test_fp32_verification_figures(export_fp32_bundle):
    fp32 = read_manifest(export_fp32_bundle)["verification"]["fp32"]
    assert fp32["source"] == "random" and fp32["inputs"] == 32
    assert fp32["max_abs_diff"] < 1e-4
    assert fp32["top1_agreement"] == 1.0
    assert fp32["max_abs_diff"] <= fp32["tolerance"]


def test_onnx_matches_pytorch_on_a_real_image(export_fp32_bundle, export_model, export_images, export_spec):
    import onnxruntime as ort
    import torch

    image = read_image(os.path.join(export_images, "red", "red_000.png"))
    batch = preprocess(image, export_spec)[None]
    session = ort.InferenceSession(os.path.join(export_fp32_bundle, "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": batch})[0]
    with torch.no_grad():
        want = export_model(torch.from_numpy(batch)).numpy()
    assert np.abs(got - want).max() < 1e-4
    assert got.argmax() == want.argmax() == 2


def test_summary_table_printed(export_run, export_checkpoint, tmp_path):
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--verify-count", "4"])
    assert code == 0, err
    assert "edge-export: exporting ONNX fp32 (opset 13" in err   # progress on stderr, the table on stdout
    header = [line for line in out.splitlines() if line.startswith("artifact")]
    assert header and "verification" in header[0]
    assert any(line.startswith("model.onnx") and "max|diff|" in line for line in out.splitlines())


# ----------------------------------------------------------------------------- int8

def test_int8_bundle_figures(export_int8_bundle):
    manifest = read_manifest(export_int8_bundle)
    bundle = Bundle(export_int8_bundle, manifest)
    for entry in manifest["artifacts"]:
        bundle.check(entry)
    trt = bundle.artifact("onnx", flavor="tensorrt-qdq-s8s8")
    ort_entry = bundle.artifact("onnx", flavor="ort-qdq-u8s8")
    assert trt["file"] == "model.int8.trt.onnx" and ort_entry["file"] == "model.int8.ort.onnx"
    assert trt["precision"] == ort_entry["precision"] == "int8"
    assert trt["opset"] == ort_entry["opset"] == 13
    assert trt["calibration"]["method"] == "minmax"
    int8 = manifest["verification"]["int8"]
    for flavor in ("tensorrt-qdq-s8s8", "ort-qdq-u8s8"):
        record = int8[flavor]
        assert record["holdout_images"] == 9           # 25% of 36 images, never used to calibrate
        assert record["top1_agreement"] >= 0.98
        assert record["accuracy_fp32"] is not None     # class folders name the model's classes
        assert record["accuracy_delta"] == pytest.approx(record["accuracy_int8"] - record["accuracy_fp32"])
    assert trt["calibration"]["images"] == 27
    # fp32 was checked on the real hold-out images, not random ones
    assert manifest["verification"]["fp32"]["source"] == "images"


def _initializers(path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return model, values


def test_tensorrt_flavor_is_symmetric_int8(export_int8_bundle):
    model, values = _initializers(os.path.join(export_int8_bundle, "model.int8.trt.onnx"))
    quant_nodes = [node for node in model.graph.node if node.op_type == "QuantizeLinear"]
    assert quant_nodes
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    for node in quant_nodes:
        zero_point = values[node.input[2]]
        assert zero_point.dtype == np.int8
        assert not zero_point.any()


def test_ort_flavor_has_uint8_activations(export_int8_bundle):
    model, values = _initializers(os.path.join(export_int8_bundle, "model.int8.ort.onnx"))
    activation_q = [node for node in model.graph.node
                    if node.op_type == "QuantizeLinear" and node.input[0] not in values]
    assert activation_q
    assert all(values[node.input[2]].dtype == np.uint8 for node in activation_q)


def test_int8_on_flat_folder_has_no_accuracy(export_run, export_checkpoint, export_make_images, tmp_path):
    calib = export_make_images(str(tmp_path / "flat"), per_class=4, seed=5, flat=True)
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--int8", "--calib", calib,
                                 "--int8-flavors", "ort-qdq-u8s8", "--calib-method", "minmax",
                                 "--int8-min-agreement", "0"])
    assert code == 0, err
    manifest = read_manifest(str(tmp_path / "b"))
    record = manifest["verification"]["int8"]["ort-qdq-u8s8"]
    assert record["accuracy_fp32"] is None and record["holdout_images"] == 2
    assert list(manifest["verification"]["int8"]) == ["ort-qdq-u8s8"]
    assert not os.path.exists(str(tmp_path / "b" / "model.int8.trt.onnx"))


# ----------------------------------------------------------------------------- failures write nothing

def test_failed_verification_leaves_previous_bundle(export_run, export_checkpoint, export_bundle_copy,
                                                    export_snapshot):
    before = export_snapshot(export_bundle_copy)
    code, out, err = export_run([export_checkpoint, "-o", export_bundle_copy, "--fp32-tolerance", "1e-12"])
    assert code == 3
    assert "diverge" in _one_error_line(err)
    assert export_snapshot(export_bundle_copy) == before
    assert _leftovers(os.path.dirname(export_bundle_copy)) == []


def test_int8_below_agreement_threshold_fails_with_3(export_run, export_checkpoint, export_images,
                                                     export_bundle_copy, export_snapshot, monkeypatch):
    from export import verify

    real = verify.int8_figures

    def pessimistic(source, calibration, fp32_logits, int8_logits):
        record = real(source, calibration, fp32_logits, int8_logits)
        record["top1_agreement"] = 0.5
        return record

    monkeypatch.setattr(verify, "int8_figures", pessimistic)
    before = export_snapshot(export_bundle_copy)
    code, out, err = export_run([export_checkpoint, "-o", export_bundle_copy, "--int8", "--calib", export_images,
                                 "--int8-flavors", "ort-qdq-u8s8", "--calib-method", "minmax"])
    assert code == 3
    assert "--int8-min-agreement" in _one_error_line(err)
    assert export_snapshot(export_bundle_copy) == before
    assert _leftovers(os.path.dirname(export_bundle_copy)) == []


@pytest.mark.parametrize("extra, needle", [
    (["--opset", "9"], "--opset 9 is not supported"),
    (["--opset", "21"], "--opset 21 is not supported"),
    (["--int8", "--opset", "12", "--calib", "IMAGES"], "opset 13 or higher"),
    (["--int8"], "--calib DIR"),
    (["--calib", "IMAGES"], "only apply with --int8"),
    (["--int8", "--calib", "EMPTY"], "has no images"),
    (["--int8", "--calib", "MISSING"], "not found"),
    (["--holdout-fraction", "1.5", "--int8", "--calib", "IMAGES"], "--holdout-fraction"),
    (["--size", "64"], "carries its own preprocessing"),
    (["--arch", "resnet50"], "not resnet50"),
    (["--classes", "a,b,c"], "does not match the classes"),
    (["--workspace-mb", "64"], "only apply with --engine"),
    (["--engine", "fp64"], "invalid"),
    (["--no-such-flag"], "unrecognized arguments"),
])
def test_user_errors_are_one_line_exit_2_and_write_nothing(export_run, export_checkpoint, export_images,
                                                           tmp_path, extra, needle):
    (tmp_path / "empty").mkdir()
    paths = {"IMAGES": export_images, "EMPTY": str(tmp_path / "empty"), "MISSING": str(tmp_path / "nope")}
    extra = [paths.get(arg, arg) for arg in extra]
    out_dir = tmp_path / "out" / "bundle"
    code, out, err = export_run([export_checkpoint, "-o", out_dir] + extra)
    assert code == 2
    assert needle in _one_error_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    (b"\x00\x01 not a checkpoint at all" * 50, "is not a PyTorch checkpoint"),
    (b"hello\n", "is not a PyTorch checkpoint"),
])
def test_bad_input_files(export_run, tmp_path, content, needle):
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    code, out, err = export_run([path, "-o", tmp_path / "bundle"])
    assert code == 2
    assert needle in _one_error_line(err)
    assert not (tmp_path / "bundle").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_bundle(export_run, export_checkpoint, tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"x")
    code, out, err = export_run([export_checkpoint, "-o", precious])
    assert code == 2
    assert "is not a bundle" in _one_error_line(err)
    assert os.listdir(str(precious)) == ["holiday.jpg"]


def test_replaces_an_existing_bundle(export_run, export_checkpoint, export_bundle_copy):
    old = read_manifest(export_bundle_copy)
    code, out, err = export_run([export_checkpoint, "-o", export_bundle_copy, "--dynamic-batch", "4",
                                 "--verify-count", "5"])
    assert code == 0, err
    new = read_manifest(export_bundle_copy)
    assert new["input"]["batch"] == {"min": 1, "opt": 1, "max": 4}
    assert old["input"]["batch"]["max"] == 1
    assert new["verification"]["fp32"]["inputs"] == 5
    assert _leftovers(os.path.dirname(export_bundle_copy)) == []


def test_dynamic_batch_model_runs_several_images_at_once(export_run, export_checkpoint, tmp_path):
    import onnxruntime as ort

    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--dynamic-batch", "4",
                                 "--verify-count", "4"])
    assert code == 0, err
    for name, batch in (("model.onnx", np.zeros((3, 32, 32, 3), np.uint8)),      # the default: fused
                        ("model.pixels.onnx", np.zeros((3, 32, 32, 3), np.float32))):
        session = ort.InferenceSession(str(tmp_path / "b" / name), providers=["CPUExecutionProvider"])
        assert session.run(None, {"input": batch})[0].shape == (3, 3)


def test_high_opset_warns_about_tensorrt_82(export_run, export_checkpoint, tmp_path):
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--opset", "17", "--verify-count", "2"])
    assert code == 0, err
    assert "TensorRT 8.2" in err
    assert read_manifest(str(tmp_path / "b"))["artifacts"][0]["opset"] == 17


# ----------------------------------------------------------------------------- TensorRT half (faked)

@pytest.fixture
def export_no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # importing it now raises ImportError


@pytest.fixture
def export_fake_device(monkeypatch):
    """Stand-ins for edge.tensorrt's engines and calibration cache, an importable 'tensorrt'; records the calls."""
    calls = []

    def add_engines(bundle_dir, precisions, workspace_mb=256, strict=False, dynamic=None, timing_cache=None,
                    log=print):
        calls.append(("add_engines", bundle_dir, list(precisions), workspace_mb, strict, timing_cache))
        manifest = read_manifest(bundle_dir)
        entries = []
        for precision in precisions:
            name = "model.{}.engine".format(precision)
            with open(os.path.join(bundle_dir, name), "wb") as handle:
                handle.write(b"fake engine " + precision.encode())
            entries.append(put_artifact(manifest, artifact_entry(
                bundle_dir, name, "tensorrt_engine", precision=precision, requested_precision=precision,
                tensorrt_version="8.2.1", gpu="FakeGPU")))
        write_manifest(bundle_dir, manifest)
        return entries

    def write_calibration_cache(bundle_dir, onnx_file, batches, method, log=print):
        calls.append(("calibration", bundle_dir, onnx_file, len(batches), batches[0].shape, batches[0].dtype,
                      method))
        with open(os.path.join(bundle_dir, "calibration.cache"), "wb") as handle:
            handle.write(b"cache")
        return artifact_entry(bundle_dir, "calibration.cache", "calibration_cache", method=method,
                              images=len(batches), tensorrt_version="8.2.1")

    engines = types.ModuleType("edge.tensorrt.engines")
    engines.add_engines = add_engines
    calibration = types.ModuleType("edge.tensorrt.calibration_cache")
    calibration.write_calibration_cache = write_calibration_cache
    monkeypatch.setitem(sys.modules, "edge.tensorrt.engines", engines)
    monkeypatch.setitem(sys.modules, "edge.tensorrt.calibration_cache", calibration)
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    return calls


def test_engine_without_tensorrt_fails_first(export_run, export_checkpoint, tmp_path, monkeypatch,
                                             export_no_tensorrt):
    import export.model_source

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the TensorRT check")

    monkeypatch.setattr(export.model_source, "load_source", must_not_load)
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "out" / "b", "--engine", "fp16"])
    assert code == 2
    assert "TensorRT" in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_engine_on_existing_bundle_without_tensorrt(export_run, export_bundle_copy, export_snapshot,
                                                    export_no_tensorrt):
    before = export_snapshot(export_bundle_copy)
    code, out, err = export_run([export_bundle_copy, "--engine", "fp16"])
    assert code == 2
    assert "tensorrt is needed" in _one_error_line(err)
    assert export_snapshot(export_bundle_copy) == before


def test_bundle_input_goes_to_device_half_without_torch(export_run, export_bundle_copy, export_fake_device,
                                                        monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # the device has no torch: importing it must not happen
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, out, err = export_run([export_bundle_copy, "--engine", "fp16,int8", "--engine", "fp16",
                                 "--workspace-mb", "128", "--strict", "--timing-cache", "/tmp/tc"])
    assert code == 0, err
    assert export_fake_device == [("add_engines", export_bundle_copy, ["fp16", "int8"], 128, True, "/tmp/tc")]
    assert "model.fp16.engine" in out and "FakeGPU" in out


@pytest.mark.parametrize("extra, needle", [
    ([], "--engine fp16"),
    (["--engine", "fp16", "--opset", "17"], "only apply when exporting from a model"),
    (["--engine", "fp16", "-o", "elsewhere"], "only apply when exporting from a model"),
])
def test_bundle_input_flag_errors(export_run, export_bundle_copy, export_fake_device, extra, needle):
    code, out, err = export_run([export_bundle_copy] + extra)
    assert code == 2
    assert needle in _one_error_line(err)
    assert export_fake_device == []


@pytest.mark.parametrize("flags, calibrated", [
    ([], ("model.pixels.onnx", 29, (1, 32, 32, 3), np.float32, "minmax")),      # fused: TensorRT 8.2's family
    (["--no-fuse-preprocess"], ("model.onnx", 29, (1, 3, 32, 32), np.float32, "minmax"))])
def test_new_export_builds_engines_and_cache_in_staging(export_run, export_checkpoint, export_images, tmp_path,
                                                        export_fake_device, flags, calibrated):
    target = str(tmp_path / "b")
    code, out, err = export_run([export_checkpoint, "-o", target, "--int8", "--calib", export_images,
                                 "--int8-flavors", "ort-qdq-u8s8", "--calib-method", "minmax",
                                 "--engine", "fp16"] + flags)
    assert code == 0, err
    kinds = [call[0] for call in export_fake_device]
    assert kinds == ["calibration", "add_engines"]
    calibration, engines = export_fake_device
    assert calibration[1] != target and ".staging-" in calibration[1]   # written before the swap
    assert calibration[2:] == calibrated
    assert engines[1] == calibration[1]
    bundle = Bundle.load(target)
    assert bundle.artifact("tensorrt_engine", precision="fp16") is not None
    assert bundle.artifact("calibration_cache") is not None
    for entry in bundle.manifest["artifacts"]:
        bundle.check(entry)


def test_engine_failure_leaves_previous_bundle(export_run, export_checkpoint, export_bundle_copy, export_snapshot,
                                               export_fake_device, monkeypatch):
    from edge.errors import EdgeError

    def broken(*args, **kwargs):
        raise EdgeError("TensorRT could not parse model.onnx")

    monkeypatch.setattr(sys.modules["edge.tensorrt.engines"], "add_engines", broken)
    before = export_snapshot(export_bundle_copy)
    code, out, err = export_run([export_checkpoint, "-o", export_bundle_copy, "--engine", "fp16",
                                 "--verify-count", "2"])
    assert code == 2
    assert "could not parse" in _one_error_line(err)
    assert export_snapshot(export_bundle_copy) == before
    assert _leftovers(os.path.dirname(export_bundle_copy)) == []


def test_manifest_is_plain_json(export_int8_bundle):
    with open(os.path.join(export_int8_bundle, "manifest.json")) as handle:
        text = handle.read()
    assert json.loads(text)["schema"] == "edge-toolkit/bundle"
    assert "NaN" not in text and "Infinity" not in text


def test_bundle_dispatch_in_an_interpreter_without_torch(export_bundle_copy):
    """As on a Jetson: torch, onnx and onnxruntime cannot be imported; the device half still runs."""
    code = STAND_IN_ENGINES + """
from export.cli import main
status = main([sys.argv[1], '--engine', 'fp16'])
print('status', status, 'calls', calls)
"""
    result = run_blocked(code, ("torch", "onnx", "onnxruntime", "onnxscript", "train"), [export_bundle_copy])
    assert result.returncode == 0, result.stderr
    assert "status 0 calls [({!r}, ['fp16'])]".format(export_bundle_copy) in result.stdout
