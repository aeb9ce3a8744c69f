"""export_bundle as a plain callable: ExportOptions in, a verified bundle out, progress to a log function."""

import os

import pytest

from edge.bundle.bundle import Bundle
from edge.errors import EdgeError


def test_export_bundle_without_the_cli(export_checkpoint, tmp_path):
    from export.options import ExportOptions
    from export.pipeline import export_bundle

    lines = []
    manifest = export_bundle(export_checkpoint, str(tmp_path / "b"), ExportOptions(verify_count=3, dynamic_batch=2),
                             log=lines.append)
    assert manifest["verification"]["fp32"]["inputs"] == 3
    assert manifest["input"]["batch"] == {"min": 1, "opt": 1, "max": 2}
    assert Bundle.load(str(tmp_path / "b")).manifest == manifest
    assert lines[0] == "loading {}".format(export_checkpoint) and lines[-1].startswith("wrote ")


def test_export_bundle_names_the_output_beside_the_input(export_checkpoint, tmp_path):
    from export.pipeline import default_output

    assert default_output(str(tmp_path / "runs" / "model.pt")) == str(tmp_path / "runs" / "bundle")


def test_export_options_defaults_and_unknown_names():
    from export.onnx_export import DEFAULT_OPSET
    from export.options import DEFAULTS, ExportOptions

    options = ExportOptions(size=[64, 64], engines=("fp16",))
    assert options.opset == DEFAULT_OPSET and options.engines == ["fp16"] and options.verify_count == 32
    assert options.spec_overrides() == {"size": [64, 64]}
    assert repr(options) == "ExportOptions(engines=['fp16'], size=[64, 64])"
    assert set(vars(ExportOptions())) == set(DEFAULTS)
    with pytest.raises(TypeError, match="calib_sise"):
        ExportOptions(calib_sise=10)


@pytest.mark.parametrize("values, kind, needle", [
    ({"int8": True}, "torch", "--calib DIR"),
    ({"fuse_preprocess": True}, "onnx", "--fuse-preprocess needs a PyTorch model"),
    ({"opset": 17}, "onnx", "--opset does not apply"),
    ({"verify_count": 0, "holdout_fraction": 1.0}, "torch", "--verify-count must be at least 1; --holdout-fraction"),
    ({"calib_method": "mse"}, "torch", "--calib-method must be one of entropy, minmax, percentile"),
    ({"int8_flavors": []}, "torch", "--int8-flavors"),
    ({"engines": ["fp64"]}, "bundle", "engines must be some of fp32, fp16, int8"),
])
def test_export_options_check(values, kind, needle):
    from export.options import ExportOptions

    with pytest.raises(EdgeError, match=needle.replace("(", r"\(")):
        ExportOptions(**values).check(kind)


def test_a_bundle_is_not_exported_again(export_fp32_bundle, tmp_path):
    from export.pipeline import export_bundle

    with pytest.raises(EdgeError, match="already a bundle"):
        export_bundle(export_fp32_bundle, str(tmp_path / "b"))
    assert not os.path.exists(str(tmp_path / "b"))


def test_classes_may_be_a_list():
    from export.model_source import parse_classes

    assert parse_classes(["cat", " dog "]) == ["cat", "dog"]
    assert parse_classes("cat,dog") == ["cat", "dog"]
    with pytest.raises(EdgeError, match="twice"):
        parse_classes(["cat", "cat"])
    with pytest.raises(EdgeError, match="empty name"):
        parse_classes(["cat", ""])
