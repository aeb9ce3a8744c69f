"""Small pieces of the export: sampling, opset rules, staged writes, judging, the summary table."""

import os

import numpy as np
import pytest

from edge.errors import EdgeError


def test_split_sample_is_seeded_and_disjoint():
    from export.quantize import split_sample

    entries = [("img{}.png".format(i), None) for i in range(50)]
    first = split_sample(entries, 40, 0.25, seed=7)
    again = split_sample(entries, 40, 0.25, seed=7)
    other = split_sample(entries, 40, 0.25, seed=8)
    assert first.calibration == again.calibration and first.holdout == again.holdout
    assert first.holdout != other.holdout
    assert len(first.holdout) == 10 and len(first.calibration) == 30
    assert not set(first.holdout) & set(first.calibration)
    tiny = split_sample(entries[:2], 500, 0.2, seed=0)
    assert len(tiny.holdout) == 1 and len(tiny.calibration) == 1
    with pytest.raises(EdgeError):
        split_sample(entries[:1], 500, 0.2, seed=0)


def test_list_images_flat_and_class_folders(tmp_path, export_make_images):
    from edge.tasks.classification import label_indices
    from export.verify import list_images

    nested = export_make_images(str(tmp_path / "nested"), per_class=2, seed=0)
    (tmp_path / "nested" / "notes.txt").write_text("not an image")
    entries = list_images(nested)
    assert len(entries) == 6 and {label for _, label in entries} == {"blue", "green", "red"}
    assert list(label_indices(entries, ["red", "green", "blue"])[:2]) == [2, 2]
    assert label_indices(entries, ["blue", "green"]) is None     # a folder that is not a class
    flat = export_make_images(str(tmp_path / "flat"), per_class=1, seed=0, flat=True)
    assert [label for _, label in list_images(flat)] == [None, None, None]
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_text("no images here")
    with pytest.raises(EdgeError, match="has no images"):
        list_images(str(tmp_path / "texts"))
    with pytest.raises(EdgeError, match="not found"):
        list_images(str(tmp_path / "missing"))


def test_read_images_skips_undecodable(tmp_path, export_make_images):
    from export.verify import list_images, read_images

    root = export_make_images(str(tmp_path / "imgs"), per_class=1, seed=0, flat=True)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    lines = []
    images, kept = read_images(list_images(root), log=lines.append)
    assert len(images) == 3 and len(kept) == 3 and "skipped 1" in lines[0]
    with pytest.raises(EdgeError, match="could be decoded"):
        read_images([(str(tmp_path / "imgs" / "broken.png"), None)])


@pytest.mark.parametrize("opset, int8, outcome", [
    (13, False, None), (11, False, None), (17, False, "warn"), (20, True, "warn"),
    (10, False, "error"), (21, False, "error"), (12, True, "error"),
])
def test_check_opset(opset, int8, outcome):
    from export.onnx_export import check_opset

    if outcome == "error":
        with pytest.raises(EdgeError):
            check_opset(opset, int8=int8)
    elif outcome == "warn":
        assert "TensorRT 8.2" in check_opset(opset, int8=int8)
    else:
        assert check_opset(opset, int8=int8) is None


def test_verify_fp32_tolerance_scales_with_logits():
    from export.verify import VerificationFailed, verify_fp32

    reference = np.array([[20.0, -3.0], [1.0, 0.5]], np.float32)
    record = verify_fp32(reference, reference + 1e-3, 1e-4, "random")     # 1e-3 <= 1e-4 * 20
    assert record["tolerance"] == pytest.approx(2e-3) and record["top1_agreement"] == 1.0
    small = np.array([[0.2, -0.3]], np.float32)
    with pytest.raises(VerificationFailed) as info:
        verify_fp32(small, small + 2e-4, 1e-4, "random")                  # small logits: absolute 1e-4
    assert info.value.exit_code == 3
    with pytest.raises(VerificationFailed):
        verify_fp32(small, small * np.nan, 1e-4, "random")


def test_int8_figures_and_judge():
    from edge.tasks.classification import ClassificationTask
    from export.verify import VerificationFailed, judge_int8

    task = ClassificationTask()
    fp32 = np.array([[3, 1, 0], [0, 2, 1], [0, 1, 4], [5, 0, 0]], np.float32)
    int8 = np.array([[3, 1, 0], [0, 2, 1], [0, 5, 4], [5, 0, 0]], np.float32)
    labels = np.array([0, 1, 2, 1])
    record = task.int8_figures(fp32, int8, None, labels, None, None)
    assert record["top1_agreement"] == 0.75 and record["holdout_images"] == 4
    assert record["accuracy_fp32"] == 0.75 and record["accuracy_int8"] == 0.5
    assert record["accuracy_delta"] == pytest.approx(-0.25)
    assert judge_int8(task, dict(record), "ort-qdq-u8s8", 0.75)["min_agreement"] == 0.75
    with pytest.raises(VerificationFailed, match="agrees with FP32 on 75.0%"):
        judge_int8(task, record, "ort-qdq-u8s8", 0.98)


def test_staged_bundle_cleans_up_on_failure(tmp_path):
    from export.bundle_writer import StagedBundle

    target = tmp_path / "a" / "b" / "bundle"
    with pytest.raises(RuntimeError):
        with StagedBundle(str(target)) as stage:
            assert os.path.isdir(stage.path)
            assert (tmp_path / "a" / "b").is_dir()
            raise RuntimeError("export failed")
    assert not (tmp_path / "a").exists()          # parents it created are gone too


def test_staged_bundle_swaps_in(tmp_path):
    from export.bundle_writer import StagedBundle

    target = tmp_path / "bundle"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    with StagedBundle(str(target)) as stage:
        with open(os.path.join(stage.path, "manifest.json"), "w") as handle:
            handle.write("new")
        assert (target / "manifest.json").read_text() == "old"     # untouched until commit
        stage.commit()
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(os.listdir(str(tmp_path))) == ["bundle"]
    assert oct(os.stat(str(target)).st_mode & 0o777) != oct(0o700)


def test_summary_rows_render():
    from edge.bundle.summary import format_table, summary_rows

    manifest = {
        "model": {"num_classes": 2},
        "artifacts": [
            {"file": "model.onnx", "kind": "onnx", "bytes": 3 * 1024 * 1024, "precision": "fp32", "opset": 13},
            {"file": "model.int8.ort.onnx", "kind": "onnx", "bytes": 1024, "precision": "int8", "opset": 13,
             "flavor": "ort-qdq-u8s8"},
            {"file": "labels.txt", "kind": "labels", "bytes": 4},
        ],
        "verification": {
            "fp32": {"max_abs_diff": 2e-6, "top1_agreement": 1.0, "inputs": 8, "source": "images"},
            "int8": {"ort-qdq-u8s8": {"top1_agreement": 0.99, "holdout_images": 100, "accuracy_fp32": 0.9,
                                      "accuracy_int8": 0.89, "accuracy_delta": -0.01}},
        },
    }
    rows = summary_rows(manifest)
    assert rows[0] == ("model.onnx", "3.0 MB", "fp32 onnx opset 13", "max|diff| 2.0e-06, top-1 100.0% (8 images)")
    assert "99.0%" in rows[1][3] and "-1.0 points" in rows[1][3]
    table = format_table(rows).splitlines()
    assert table[0].startswith("artifact") and set(table[1]) <= {"-", " "} and len(table) == 5


def test_tensorrt_flavor_has_only_symmetric_int8_qdq(export_int8_bundle):
    """TensorRT's ONNX parser reads Q/DQ only as int8 with zero points 0 (no int32 bias DQ)."""
    import os

    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(os.path.join(export_int8_bundle, "model.int8.trt.onnx"))
    initializers = dict((i.name, numpy_helper.to_array(i)) for i in model.graph.initializer)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zero_point = initializers[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
