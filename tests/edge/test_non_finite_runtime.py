"""ONNX models with NaN or Inf weights (a bundle from an export that let them through) are refused on the device:
by ONNX Runtime when it activates, and by the TensorRT engine build. No torch here (edge/ only)."""

import os

import numpy as np
import pytest

from edge.bundle.bundle import read_manifest, write_manifest
from edge.errors import EXIT_UNUSABLE, Unusable
from tests.fakes.tiny_bundle import snapshot, write_tiny_bundle


@pytest.fixture
def nan_bundle(tmp_path):
    """The tiny bundle whose fp32 model.onnx holds 3 NaN in fc_w, its manifest's sha256 updated to match."""
    onnx = pytest.importorskip("onnx", reason="the tiny test models are written with the onnx package")
    from onnx import numpy_helper

    from edge.util.atomic import sha256_file

    folder = write_tiny_bundle(tmp_path / "bundle")
    path = os.path.join(folder, "model.onnx")
    model = onnx.load(path)
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == "fc_w":
            values = numpy_helper.to_array(tensor).copy()
            values[1, :3] = np.nan
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, "fc_w"))
    onnx.save(model, path)
    manifest = read_manifest(folder)
    for entry in manifest["artifacts"]:
        if entry["file"] == "model.onnx":
            entry["sha256"] = sha256_file(path)
    write_manifest(folder, manifest)
    return folder


def test_onnx_runtime_refuses_nan_weights(nan_bundle, tmp_path, capsys):
    import cv2

    from edge.predict import main

    image = str(tmp_path / "x.png")
    cv2.imwrite(image, np.full((40, 48, 3), 100, np.uint8))
    code = main([nan_bundle, image, "--runtime", "onnxruntime", "--precision", "fp32"])
    out, err = capsys.readouterr()
    assert code == EXIT_UNUSABLE and "nan" not in out.lower(), (out, err)
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and os.path.join(nan_bundle, "model.onnx") in line, err
    assert "3 non-finite weights (NaN or Inf): 3 of 12 values in fc_w" in line, line


def test_the_engine_build_refuses_nan_weights(nan_bundle, monkeypatch):
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    install(monkeypatch, "8.2", device="nano")
    before = snapshot(nan_bundle)
    with pytest.raises(Unusable, match="non-finite weights .* in fc_w"):
        add_engines(nan_bundle, ["fp16"], log=lambda line: None)
    assert snapshot(nan_bundle) == before


def test_the_onnx_weights_are_read_without_the_onnx_package():
    from edge.bundle.onnx_io import float_initializers
    from tests.fakes.tiny_bundle import fixture_path

    weights = dict(float_initializers(fixture_path()))
    assert sorted(weights) == ["conv_b", "conv_w", "fc_b", "fc_w"]
    assert weights["conv_w"].size == 4 * 3 * 3 * 3 and np.isfinite(weights["conv_w"]).all()
