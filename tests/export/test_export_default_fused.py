"""edge-export fuses the preprocessing by default: pixels go straight into the model on every runtime.

No flag: the models take the resized uint8 BGR frame, beside a float32-pixel family for TensorRT 8.2, all
verified against the unfused PyTorch model. --no-fuse-preprocess: the plain float NCHW input. An ONNX input
stays plain (tests/export/test_export_model_source.py).
"""

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.schema import FUSED_INPUT, INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8
from edge.errors import EdgeError
from export.cli import build_parser
from export.options import ExportOptions


@pytest.mark.parametrize("flags, value", [([], None), (["--fuse-preprocess"], True),
                                          (["--no-fuse-preprocess"], False)])
def test_the_flags_and_what_they_mean_for_each_input(flags, value):
    options = ExportOptions(fuse_preprocess=build_parser().parse_args(["model.pt"] + flags).fuse_preprocess)
    assert options.fuse_preprocess is value
    assert options.fuses("torch") is (value is not False)          # fused unless turned off
    assert options.fuses("onnx") is bool(value)                    # an ONNX input: plain unless asked (refused)


def test_the_two_flags_exclude_each_other():
    with pytest.raises(EdgeError, match="not allowed with"):
        build_parser().parse_args(["model.pt", "--fuse-preprocess", "--no-fuse-preprocess"])


def test_help_says_fused_is_the_default():
    text = " ".join(build_parser().format_help().split())
    assert "--no-fuse-preprocess" in text and "the default for a PyTorch model" in text


def test_no_flag_writes_the_fused_bundle(export_run, export_checkpoint, tmp_path):
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--verify-count", "4"])
    assert code == 0, err
    bundle = Bundle.load(str(tmp_path / "b"))
    assert bundle.fused_preprocess == FUSED_INPUT and bundle.input_format == INPUT_UINT8
    assert bundle.manifest["input"]["shape"] == [1, 32, 32, 3]
    formats = dict((e["file"], e["input_format"]) for e in bundle.artifacts("onnx"))
    assert formats == {"model.onnx": INPUT_UINT8, "model.pixels.onnx": INPUT_PIXELS}
    assert INPUT_FLOAT not in formats.values()                      # nothing left for the host to normalise
    checks = bundle.manifest["verification"]
    for record in (checks["fp32"], checks["float_pixels"]["fp32"]):   # the fidelity check of fusing
        assert record["reference"].startswith("unfused PyTorch model") and record["max_abs_diff"] < 1e-4
    assert "verified against the unfused PyTorch model" in err
    assert err.count("ONNX Runtime vs PyTorch (the unfused model") == 2
    assert "float32 pixels (for TensorRT 8.2)" in out                 # the summary table's row


def test_the_pixel_family_is_the_uint8_graph_on_float_values(export_run, export_checkpoint, tmp_path):
    import onnxruntime as ort

    code, _, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--verify-count", "2", "--dynamic-batch",
                               "4"])
    assert code == 0, err
    frames = np.random.RandomState(5).randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    run = [ort.InferenceSession(str(tmp_path / "b" / name), providers=["CPUExecutionProvider"])
           for name in ("model.onnx", "model.pixels.onnx")]
    want = run[0].run(None, {"input": frames})[0]
    got = run[1].run(None, {"input": frames.astype(np.float32)})[0]
    assert np.abs(got - want).max() < 1e-5


def test_no_fuse_preprocess_writes_the_plain_bundle(export_fp32_bundle):
    bundle = Bundle.load(export_fp32_bundle)   # exported with --no-fuse-preprocess (tests/bundle_fixtures.py)
    assert bundle.fused_preprocess is False and bundle.input_format == INPUT_FLOAT
    assert [e["input_format"] for e in bundle.artifacts("onnx")] == [INPUT_FLOAT]
    assert "float_pixels" not in bundle.manifest["verification"]
