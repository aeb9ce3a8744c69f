"""Exporting a regression model: the manifest's regression fields, fp32 parity, INT8 judged by its MAE change."""

import json
import os
import shutil

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.schema import SCHEMA_VERSION
from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from edge.tasks.points import RegressionTargets
from tests.helpers import undocumented_manifest_keys


def test_the_manifest_says_regression_names_the_targets_and_their_pixels(regression_bundle):
    manifest = json.load(open(os.path.join(regression_bundle, "manifest.json")))
    assert manifest["schema_version"] == 2 == SCHEMA_VERSION
    assert manifest["output"] == {
        "name": "points", "kind": "regression", "targets": ["x", "y"], "points": [["x", "y"]],
        "units": "pixels of the input image",
        "normalization": {"frame": "model input", "range": [-1.0, 1.0],
                          "origin": "pixel centres; (0, 0) is the centre of the top-left pixel"}}
    assert manifest["model"]["classes"] == ["x", "y"] and manifest["model"]["num_classes"] == 2
    assert manifest["input"]["preprocess"]["resize"] == "stretch"
    bundle = Bundle.load(regression_bundle)
    assert bundle.output_kind == "regression" and bundle.targets == RegressionTargets(["x", "y"])
    assert open(os.path.join(regression_bundle, "labels.txt")).read().split() == ["x", "y"]


def test_fp32_is_compared_with_pytorch_by_max_abs_diff_and_has_no_top1(regression_bundle):
    fp32 = Bundle.load(regression_bundle).manifest["verification"]["fp32"]
    assert fp32["max_abs_diff"] <= fp32["tolerance"] and "top1_agreement" not in fp32
    assert fp32["max_abs_diff_input_px"] == pytest.approx(fp32["max_abs_diff"] * 16, rel=0.5)


def test_int8_is_judged_by_its_mae_change_on_the_labelled_holdout(regression_bundle):
    int8 = Bundle.load(regression_bundle).manifest["verification"]["int8"]
    assert sorted(int8) == ["ort-qdq-u8s8", "tensorrt-qdq-s8s8"]
    for record in int8.values():
        assert record["judged_by"] == "mae_delta_px" and record["holdout_images"] == 6
        assert record["mae_delta_px"] == pytest.approx(record["mae_int8_px"] - record["mae_fp32_px"])
        assert record["max_mae_increase_px"] == 5.0 and record["mae_delta_px"] <= 5.0
        # The MAE cannot change by more than the points move.
        assert abs(record["mae_delta_px"]) <= record["mean_abs_diff_px"] + 1e-9
        assert "top1_agreement" not in record


def test_int8_past_the_threshold_is_refused_and_nothing_is_written(regression_checkpoint, regression_images,
                                                                  tmp_path, export_run):
    # Unlabelled calibration images: INT8 is held to its mean distance from fp32, which no INT8 model keeps
    # within a thousandth of a pixel.
    flat = tmp_path / "unlabelled"
    flat.mkdir()
    for index, name in enumerate(sorted(os.listdir(regression_images))):
        shutil.copy(os.path.join(regression_images, name), str(flat / "img{:02d}.png".format(index)))
    out = str(tmp_path / "bundle")
    code, out_text, err = export_run([regression_checkpoint, "-o", out, "--int8", "--calib", str(flat),
                                      "--int8-flavors", "ort-qdq-u8s8", "--int8-max-mae-increase", "0.001"])
    assert code == 3 and not os.path.exists(out)
    assert "no labels: INT8 is held to its distance from FP32" in err
    assert "moves the points" in err and "past --int8-max-mae-increase 0.001 px; no bundle written" in err


def test_the_judgement_rule_itself():
    from edge.tasks.point_scores import int8_point_figures as int8_regression_figures
    from edge.tasks.regression import RegressionTask
    from export.verify import VerificationFailed, judge_int8

    def judge_int8_regression(record, flavor, bar):
        return judge_int8(RegressionTask(), record, flavor, bar)

    spec = PreprocessSpec(size=(10, 20), resize="stretch")
    fp32 = np.array([[0.0, 0.0], [0.5, -0.5]])
    int8 = fp32 + np.array([0.1, 0.0])        # x moves by 0.1 units: 0.1 * 40 / 2 = 2 px of a 40-wide image
    truth = np.array([[19.5, 9.5], [29.5, 4.5]])   # exactly fp32's points in a 20x40 image
    record = int8_regression_figures(fp32, int8, [(20, 40), (20, 40)], spec, truth, ["x", "y"])
    assert record["mae_fp32_px"] == pytest.approx(0.0) and record["mae_int8_px"] == pytest.approx(1.0)
    assert record["mean_abs_diff_px"] == pytest.approx(1.0) and record["judged_by"] == "mae_delta_px"
    assert judge_int8_regression(dict(record), "ort-qdq-u8s8", 1.0)["max_mae_increase_px"] == 1.0
    with pytest.raises(VerificationFailed, match=r"raises the MAE by 1.00 px \(fp32 0.00 -> int8 1.00 px\)"):
        judge_int8_regression(dict(record), "ort-qdq-u8s8", 0.5)
    unlabelled = int8_regression_figures(fp32, int8, [(20, 40), (20, 40)], spec)
    assert unlabelled["judged_by"] == "mean_abs_diff_px" and unlabelled["mae_delta_px"] is None


def test_a_classifiers_bar_is_refused_for_a_regression_model_and_the_other_way(
        regression_checkpoint, export_checkpoint, regression_images, export_images, tmp_path, export_run):
    code, _, err = export_run([regression_checkpoint, "-o", str(tmp_path / "a"), "--int8", "--calib",
                               regression_images, "--int8-min-agreement", "0.9"])
    assert code == 2 and "--int8-min-agreement is a classifier's bar" in err
    code, _, err = export_run([export_checkpoint, "-o", str(tmp_path / "b"), "--int8", "--calib", export_images,
                               "--int8-max-mae-increase", "2"])
    assert code == 2 and "--int8-max-mae-increase applies to regression models" in err


def test_calibration_labels_outside_their_image_are_one_clear_line(regression_checkpoint, tmp_path, export_run):
    from tests.helpers import spot_image, write_png

    folder = tmp_path / "calib"
    for index in range(4):
        write_png(str(folder / "{:02d}.png".format(index)), spot_image(40, 48, 10, 10, index))
    (folder / "labels.csv").write_text("file,x,y\n00.png,10,10\n01.png,10,10\n02.png,10,10\n03.png,99,10\n")
    code, _, err = export_run([regression_checkpoint, "-o", str(tmp_path / "b"), "--int8", "--calib",
                               str(folder), "--holdout-fraction", "0.5", "--seed", "1"])
    assert code == 2 and "03.png): x=99 is outside the image (width 48: 0 to 47)" in err


def test_an_unknown_output_kind_or_a_damaged_regression_description_is_refused(regression_bundle, tmp_path):
    for output, message in (({"name": "o", "kind": "heatmap"}, "output kind 'heatmap'"),
                            ({"name": "o", "kind": "regression"}, "lacks its target names")):
        copy = str(tmp_path / output["kind"])
        shutil.copytree(regression_bundle, copy)
        manifest = json.load(open(os.path.join(copy, "manifest.json")))
        manifest["output"] = output
        json.dump(manifest, open(os.path.join(copy, "manifest.json"), "w"))
        with pytest.raises(EdgeError, match=message):
            Bundle.load(copy)


def test_a_classifier_bundle_stays_at_schema_version_1(export_fp32_bundle):
    manifest = Bundle.load(export_fp32_bundle).manifest
    assert manifest["schema_version"] == 1 and manifest["output"] == {"name": "logits", "kind": "logits"}
    assert Bundle.load(export_fp32_bundle).targets is None


def test_the_schema_docstring_names_every_key_a_regression_export_writes(regression_bundle):
    manifest = Bundle.load(regression_bundle).manifest
    assert undocumented_manifest_keys(manifest, opaque=("int8", "metrics", "per_target")) == []


def test_the_regression_head_stays_float_in_both_int8_models(regression_bundle):
    import onnx

    bundle = Bundle.load(regression_bundle)
    assert bundle.fused_preprocess        # edge-export's default: the model sits inside export.fuse's wrapper
    head_name = "/inner/fc/Gemm"
    for entry in bundle.artifacts("onnx", precision="int8"):   # both flavors, and the float-pixel family's
        assert entry["calibration"]["float_nodes"] == [head_name], entry["file"]
        graph = onnx.load(bundle.file(entry)).graph
        producer = dict((output, node.op_type) for node in graph.node for output in node.output)
        head = [node for node in graph.node if node.name == head_name][0]
        assert head.input[1] not in producer                     # its weights: a float initializer
        assert producer[graph.output[0].name] == "Gemm"          # the points it writes: not 8-bit steps
        assert any(node.op_type == "QuantizeLinear" for node in graph.node)   # the rest is quantized


def test_a_classifiers_int8_models_quantize_everything(export_int8_bundle):
    for entry in Bundle.load(export_int8_bundle).artifacts("onnx", precision="int8"):
        assert entry["calibration"]["float_nodes"] == []
