"""edge-doctor on a bundle: every runtime here against the golden set, and the report it writes.

The machine checks have their own tests (test_doctor_machine.py); here the verdicts that matter:
a good bundle passes, a swapped model or an edited golden set fails, TensorRT engines pass within
their precision's tolerance or are skipped with the command that rebuilds them.
"""

import json
import os
import re
import shutil

import numpy as np
import pytest

from edge.util.atomic import sha256_file
from edge.bundle.bundle import read_manifest, write_manifest
from edge.doctor.cli import main


@pytest.fixture
def bundle_dir(tmp_path, export_int8_bundle):
    target = str(tmp_path / "bundle")
    shutil.copytree(export_int8_bundle, target)
    return target


def run(argv, capsys, tmp_path):
    """(exit code, {check name: check dict}, printed text) of edge-doctor with a JSON report."""
    report = str(tmp_path / "report.json")
    code = main(list(argv) + ["--json", report])
    out = capsys.readouterr().out
    with open(report) as handle:
        document = json.load(handle)
    return code, dict((check["name"], check) for check in document["checks"]), out, document


def rehash(bundle_dir, file_name):
    """The manifest made to agree with a changed file, as someone re-hashing a swapped model would."""
    manifest = read_manifest(bundle_dir)
    for entry in manifest["artifacts"]:
        if entry["file"] == file_name:
            entry["sha256"] = sha256_file(os.path.join(bundle_dir, file_name))
            entry["bytes"] = os.path.getsize(os.path.join(bundle_dir, file_name))
    write_manifest(bundle_dir, manifest)


def test_a_good_bundle_passes_the_onnxruntime_rows_with_their_figures(bundle_dir, capsys, tmp_path):
    code, checks, out, document = run([bundle_dir], capsys, tmp_path)
    assert code == 0 and document["verdict"] == "pass"
    for name in ("golden set", "preprocessing", "onnxruntime fp32", "onnxruntime int8"):
        assert checks[name]["status"] == "pass", checks[name]
    fp32, int8 = checks["onnxruntime fp32"]["data"], checks["onnxruntime int8"]["data"]
    assert fp32["max_abs_diff"] < 1e-4 and fp32["top1_agreement"] == 1.0 and fp32["p50_ms"] > 0
    assert fp32["threshold"]["max_abs_diff"] == pytest.approx(1e-3 * max(1.0, fp32["max_abs_golden"]))
    assert int8["top1_agreement"] >= 0.98 and int8["threshold"]["top1_agreement"] == 0.98
    assert "top-1 100.0%" in out and "PASS" in out and "verdict: PASS" in out
    assert checks["tensorrt fp16"]["status"] == "skip" and "not installed" in checks["tensorrt fp16"]["detail"]
    assert document["schema"] == "edge-toolkit/doctor" and document["bundle"]["classes"] == 3
    assert "libraries" in document["environment"] and document["counts"]["fail"] == 0


def test_a_model_swapped_for_another_of_the_same_shape_fails(bundle_dir, export_fp32_bundle, capsys, tmp_path):
    import onnx

    model = onnx.load(os.path.join(bundle_dir, "model.onnx"))
    for init in model.graph.initializer:          # another network: its own (random) weights, same shapes
        if len(init.dims) == 4:                   # the convolutions (BatchNorm is folded into them)
            array = onnx.numpy_helper.to_array(init)
            init.CopyFrom(onnx.numpy_helper.from_array(
                np.random.RandomState(0).randn(*array.shape).astype(np.float32) * array.std(), init.name))
    onnx.save(model, os.path.join(bundle_dir, "model.onnx"))
    code, checks, out, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1 and checks["onnxruntime fp32"]["status"] == "fail"
    assert "does not match its sha256" in checks["onnxruntime fp32"]["detail"]   # swapped, not re-hashed
    rehash(bundle_dir, "model.onnx")
    code, checks, out, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1 and checks["onnxruntime fp32"]["status"] == "fail"
    assert "max |diff|" in checks["onnxruntime fp32"]["detail"] and "verdict: FAIL" in out


def test_slightly_perturbed_weights_with_the_manifest_rehashed_are_caught(bundle_dir, capsys, tmp_path):
    import onnx

    path = os.path.join(bundle_dir, "model.onnx")
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.name.endswith("weight") and len(init.dims) == 2:      # the classifier: 1% noise
            array = onnx.numpy_helper.to_array(init)
            noise = 1 + 0.01 * np.random.RandomState(1).randn(*array.shape).astype(np.float32)
            init.CopyFrom(onnx.numpy_helper.from_array(array * noise, init.name))
    onnx.save(model, path)
    rehash(bundle_dir, "model.onnx")
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1 and checks["onnxruntime fp32"]["status"] == "fail"
    assert checks["onnxruntime fp32"]["data"]["max_abs_diff"] > checks["onnxruntime fp32"]["data"]["threshold"][
        "max_abs_diff"]


def test_a_golden_set_edited_to_disagree_fails(bundle_dir, capsys, tmp_path):
    path = os.path.join(bundle_dir, "golden.npz")
    with np.load(path) as data:
        frames, reference = data["frames"], data["reference"].copy()
    reference[:, [0, 1]] = reference[:, [1, 0]]                      # the desktop "said" other classes
    np.savez_compressed(path, frames=frames, reference=reference)
    rehash(bundle_dir, "golden.npz")
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1
    assert checks["onnxruntime fp32"]["status"] == "fail" and checks["onnxruntime int8"]["status"] == "fail"


def test_preprocessing_that_differs_from_the_desktops_fails(bundle_dir, capsys, tmp_path):
    manifest = read_manifest(bundle_dir)
    [entry for entry in manifest["artifacts"] if entry["kind"] == "golden"][0]["inputs_sha256"] = "0" * 64
    write_manifest(bundle_dir, manifest)
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1 and checks["preprocessing"]["status"] == "fail"


def test_a_bundle_without_a_golden_set_says_to_re_export(bundle_dir, capsys, tmp_path):
    manifest = read_manifest(bundle_dir)
    manifest["artifacts"] = [entry for entry in manifest["artifacts"] if entry["kind"] != "golden"]
    write_manifest(bundle_dir, manifest)
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1 and checks["golden set"]["status"] == "fail" and "re-export" in checks["golden set"]["detail"]


# ----------------------------------------------------------------------------- TensorRT, on the fakes

def test_tensorrt_engines_pass_within_their_precision_or_are_skipped_with_the_rebuild_command(
        monkeypatch, bundle_dir, capsys, tmp_path):
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    install(monkeypatch, "8.2", device="nano")
    add_engines(bundle_dir, ["fp16"], log=lambda text: None)
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 0 and checks["tensorrt fp16"]["status"] == "pass"
    fp16 = checks["tensorrt fp16"]["data"]
    assert 0 < fp16["max_abs_diff"] <= fp16["threshold"]["max_abs_diff"] and fp16["top1_agreement"] == 1.0
    assert "no fast INT8" in checks["tensorrt int8"]["detail"]
    install(monkeypatch, "8.2", device="tx2")                        # the bundle moved to another Jetson
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    row = checks["tensorrt fp16"]
    assert row["status"] == "skip" and "edge-export {} --engine fp16".format(bundle_dir) in row["detail"]
    assert "--build-engine" in row["fix"]


def test_build_engine_builds_what_this_gpu_lacks_then_checks_it(monkeypatch, bundle_dir, capsys, tmp_path):
    from tests.fakes.trt import install

    trt = install(monkeypatch, "10.3", device="orin")
    code, checks, _, _ = run([bundle_dir, "--build-engine"], capsys, tmp_path)
    assert code == 0 and checks["build engines"]["status"] == "pass" and len(trt.builds) == 3
    for precision in ("fp32", "fp16", "int8"):
        assert checks["tensorrt " + precision]["status"] == "pass", checks["tensorrt " + precision]


def test_the_thresholds_per_precision():
    from tests.edge.golden_judges import judge

    reference = np.random.RandomState(0).randn(100, 3).astype(np.float32) * 5
    scale = max(1.0, float(np.abs(reference).max()))
    assert judge("x", "fp32", reference + 0.9e-3 * scale, reference).status == "pass"
    assert judge("x", "fp32", reference + 1.1e-3 * scale, reference).status == "fail"
    assert judge("x", "fp32", reference * np.nan, reference).status == "fail"
    assert judge("x", "fp16", reference + 1.9e-2 * scale, reference).status == "pass"
    assert judge("x", "fp16", reference + 2.1e-2 * scale, reference).status == "fail"
    near_tie = reference.copy()
    near_tie[0] = near_tie[0].max()                                   # one top-1 changes, tiny difference
    near_tie[0, np.argmax(reference[0])] += 1e-3
    near_tie[0, np.argsort(reference[0])[-2]] += 2e-3
    assert judge("x", "fp16", near_tie, reference).status == "fail"  # fp16: top-1 everywhere
    flipped = lambda count: np.where(np.arange(100)[:, None] < count, -reference, reference)
    assert judge("x", "int8", flipped(2), reference).status == "pass"   # 98%
    assert judge("x", "int8", flipped(3), reference).status == "fail"   # 97%


# ----------------------------------------------------------------------------- source and usage

def test_source_reports_rate_and_size(tmp_path, capsys):
    from tests.edge.realparts import FFMPEG, make_video
    if FFMPEG is None:
        pytest.skip("needs Debian's ffmpeg (apt install ffmpeg)")
    video = make_video(tmp_path / "clip.mp4", seconds=2, rate=30)
    code, checks, _, _ = run(["--source", video, "--seconds", "1.5"], capsys, tmp_path)
    row = checks["source " + video]
    assert code == 0 and row["status"] == "pass" and 15 <= row["data"]["fps"] <= 45 and row["data"]["width"] > 0


def test_a_camera_that_does_not_open_fails(tmp_path, capsys):
    code, checks, _, _ = run(["--source", "/dev/video9", "--seconds", "0.5"], capsys, tmp_path)
    assert code == 1 and checks["source /dev/video9"]["status"] == "fail"


def test_the_source_is_read_with_the_camera_flags(tmp_path, capsys):
    from edge.sources.gstreamer import opencv_has_gstreamer

    assert main(["--source", "rtsp://127.0.0.1:9/cam", "--capture-backend", "vlc"]) == 2
    err = capsys.readouterr().err
    assert "--capture-backend must be one of auto, gstreamer, ffmpeg" in err and err.count("\n") == 1
    if opencv_has_gstreamer():
        return   # the refusal below is for an OpenCV without GStreamer (pip's)
    code, checks, _, _ = run(["--source", "rtsp://127.0.0.1:9/cam", "--capture-backend", "gstreamer",
                              "--seconds", "0.5"], capsys, tmp_path)
    row = checks["source rtsp://127.0.0.1:9/cam"]
    assert code == 1 and row["status"] == "fail" and "GStreamer" in row["detail"]


def test_usage_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and err.count("\n") == 1
    assert main(["--seconds", "0"]) == 2


def test_the_verdict_never_counts_a_skip_as_a_pass():
    from edge.doctor import report
    from edge.doctor.checks import FAIL, INFO, PASS, SKIP, Check

    skipped = [Check("a", SKIP, "not here"), Check("b", INFO, "a fact")]
    assert report.verdict(skipped) == "nothing verified" and "NOTHING VERIFIED" in report.summary_line(skipped)
    assert report.verdict(skipped + [Check("c", PASS, "ok")]) == "pass"
    assert report.verdict(skipped + [Check("c", PASS, "ok"), Check("d", FAIL, "broken")]) == "fail"


# ----------------------------------------------------------------------------- regression bundles

def test_a_regression_bundle_passes_with_its_points_compared_in_pixels(regression_bundle, capsys, tmp_path):
    code, checks, out, document = run([regression_bundle], capsys, tmp_path)
    assert code == 0 and document["verdict"] == "pass", out
    fp32, int8 = checks["onnxruntime fp32"]["data"], checks["onnxruntime int8"]["data"]
    assert fp32["max_abs_diff"] < 1e-4 and "top1_agreement" not in fp32
    assert int8["threshold"] == {"mean_abs_diff_px": 5.0} and int8["mean_abs_diff_px"] <= 5.0
    assert "points" in checks["onnxruntime int8"]["detail"] and "the bundle's INT8 bar" in out
    assert document["bundle"]["output"] == "regression" and document["bundle"]["targets"] == ["x", "y"]


def test_a_regression_golden_set_edited_to_disagree_fails(regression_bundle, capsys, tmp_path):
    bundle_dir = str(tmp_path / "bundle")
    shutil.copytree(regression_bundle, bundle_dir)
    path = os.path.join(bundle_dir, "golden.npz")
    with np.load(path) as data:
        frames, reference = data["frames"], data["reference"].copy()
    reference += 0.5                       # the desktop "said" every point 8 px further right and down
    np.savez_compressed(path, frames=frames, reference=reference)
    rehash(bundle_dir, "golden.npz")
    code, checks, _, _ = run([bundle_dir], capsys, tmp_path)
    assert code == 1
    assert checks["onnxruntime fp32"]["status"] == "fail" and checks["onnxruntime int8"]["status"] == "fail"
    assert re.search(r"mean \|diff\| [78]\.\d+ px > 5 px", checks["onnxruntime int8"]["detail"])


def test_the_regression_thresholds_per_precision():
    from tests.edge.golden_judges import judge_points
    from edge.bundle.preprocess import PreprocessSpec

    spec = PreprocessSpec(size=(20, 40), resize="stretch")          # 20 px per unit across x, 10 down y
    reference = np.random.RandomState(0).uniform(-1, 1, size=(50, 2)).astype(np.float32)
    assert judge_points("x", "fp32", reference + 0.9e-3, reference, spec, 1.0).status == "pass"
    assert judge_points("x", "fp32", reference + 1.1e-3, reference, spec, 1.0).status == "fail"
    assert judge_points("x", "fp16", reference + 1.9e-2, reference, spec, 1.0).status == "pass"
    assert judge_points("x", "fp16", reference + 2.1e-2, reference, spec, 1.0).status == "fail"
    # int8: x off by 0.06 units (1.2 px), y exact: a mean of 0.6 px over the coordinates.
    moved = reference + np.array([0.06, 0.0], np.float32)
    check = judge_points("x", "int8", moved, reference, spec, 1.0)
    assert check.status == "pass" and check.data["mean_abs_diff_px"] == pytest.approx(0.6, abs=1e-4)
    assert judge_points("x", "int8", moved, reference, spec, 0.5).status == "fail"
    assert judge_points("x", "int8", moved * np.nan, reference, spec, 1.0).status == "fail"
