"""A model this ONNX Runtime cannot load: the automatic choice takes the next one and says why; a
precision asked for by name fails with one line; edge-doctor skips that row with ORT's reason.

The INT8 model is stamped with ai.onnx.ml 99, an opset no ONNX Runtime knows: what ONNX Runtime 1.10
(JetPack 4.6's era) sees in a bundle from before export.onnx_export.keep_used_opsets (ai.onnx.ml 5).
"""

import json
import os
import shutil
import sys

import pytest

from edge.bundle.bundle import Bundle, read_manifest, write_manifest
from edge.util.atomic import sha256_file
from edge.errors import EdgeError
from edge.runners.onnxruntime.loader import CannotLoad, load_error_text
from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
from edge.runners.select import make_runner

ORT_INT8_FILE = "model.int8.ort.onnx"


@pytest.fixture
def unloadable_int8(tmp_path, export_int8_bundle):
    """A copy of the INT8 bundle whose ORT INT8 model imports ai.onnx.ml 99 (the manifest re-hashed)."""
    onnx = pytest.importorskip("onnx")
    folder = str(tmp_path / "bundle")
    shutil.copytree(export_int8_bundle, folder)
    path = os.path.join(folder, ORT_INT8_FILE)
    proto = onnx.load(path)
    proto.opset_import.extend([onnx.helper.make_opsetid("ai.onnx.ml", 99)])
    onnx.save(proto, path)
    manifest = read_manifest(folder)
    for entry in manifest["artifacts"]:
        if entry["file"] == ORT_INT8_FILE:
            entry["sha256"], entry["bytes"] = sha256_file(path), os.path.getsize(path)
    write_manifest(folder, manifest)
    return folder


def test_auto_falls_back_to_fp32_and_says_why(unloadable_int8, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)   # as on a desktop, even where TensorRT is installed
    runner, why = make_runner(Bundle.load(unloadable_int8))
    assert isinstance(runner, OnnxRuntimeRunner) and runner.precision == "fp32"
    assert "instead of the verified INT8 model" in why and "Opset 99 is under development" in why, why
    assert "\n" not in why and "onnxruntime_src" not in why
    with runner:
        assert runner.infer(runner_input(runner)).shape == (1, 3)
    runner, why = make_runner(Bundle.load(unloadable_int8), "onnxruntime")   # --runtime given, precision auto
    assert runner.precision == "fp32" and "Opset 99" in why


def runner_input(runner):
    import numpy as np

    return np.zeros([1] + runner.bundle.item_shape(), np.float32)


def test_a_precision_asked_for_fails_with_one_line(unloadable_int8):
    runner, why = make_runner(Bundle.load(unloadable_int8), "onnxruntime", "int8")
    assert why == "asked for" and runner.precision == "int8"
    with pytest.raises(CannotLoad) as caught:
        runner.activate()
    message = str(caught.value)
    assert isinstance(caught.value, EdgeError) and ORT_INT8_FILE in message and "Opset 99" in message
    assert "\n" not in message and "onnxruntime_src" not in message and "[ONNXRuntimeError]" not in message


def test_edge_predict_with_int8_asked_for_exits_with_one_line(unloadable_int8, export_images, capsys):
    from edge.predict import main

    image = os.path.join(export_images, "red", "red_000.png")
    assert main([unloadable_int8, image, "--runtime", "onnxruntime", "--precision", "int8"]) != 0
    err = capsys.readouterr().err
    assert "Opset 99" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert main([unloadable_int8, image, "--runtime", "onnxruntime"]) == 0
    err = capsys.readouterr().err
    assert "onnxruntime-cpu fp32" in err and "instead of the verified INT8 model" in err, err


def test_edge_doctor_skips_the_int8_row_with_the_reason(unloadable_int8, capsys, tmp_path):
    from edge.doctor.cli import main

    report = str(tmp_path / "report.json")
    assert main([unloadable_int8, "--json", report]) == 0
    capsys.readouterr()
    with open(report) as handle:
        checks = dict((check["name"], check) for check in json.load(handle)["checks"])
    int8 = checks["onnxruntime int8"]
    assert int8["status"] == "skip" and "Opset 99 is under development" in int8["detail"], int8
    assert "re-export" in int8["fix"] and checks["onnxruntime fp32"]["status"] == "pass"


def test_ort_errors_lose_their_source_location():
    text = ("[ONNXRuntimeError] : 1 : FAIL : Load model from /b/model.int8.ort.onnx failed:/onnxruntime_src/"
            "onnxruntime/core/graph/model_load_utils.h:47 void onnxruntime::model_load_utils::ValidateOpsetForDomain("
            "const std::unordered_map<std::basic_string<char>, int>&, const onnxruntime::logging::Logger&, bool, "
            "const string&, int) ONNX Runtime only *guarantees* support for models stamped with official released "
            "onnx opset versions. Opset 5 is under development and support for this is limited. The operator "
            "schemas and or other functionality may change before next ONNX release and in this case ONNX Runtime "
            "will not guarantee backward compatibility. Current official support for domain ai.onnx.ml is till "
            "opset 2.\n")
    assert load_error_text(RuntimeError(text)) == (
        "Opset 5 is under development and support for this is limited. Current official support for domain "
        "ai.onnx.ml is till opset 2.")
    assert load_error_text(RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from m.onnx failed:"
                                        "This is an invalid model.\nmore")) == "This is an invalid model."
    assert load_error_text(RuntimeError("")) == "RuntimeError"
