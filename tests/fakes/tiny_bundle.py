"""Tiny ONNX models and bundles made with the `onnx` helper API (no torch), for the TensorRT tests.

Conv(3->4, 3x3) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(4->3): input "input" N x 3 x 32 x 32,
output "logits" N x 3. Variants: a dynamic batch axis, a QDQ INT8 model (symmetric int8, as
TensorRT wants, or asymmetric uint8 as ONNX Runtime's u8s8 flavor), another opset.

A Jetson has no `onnx` package: the opset-13 variants are also kept as files in tests/fixtures
(made by tiny_model; a test checks they still match), so the real-hardware tests run there too.
"""

import hashlib
import importlib.util
import os

import numpy as np

from edge.bundle.bundle import artifact_entry, new_manifest, write_manifest
from edge.bundle.preprocess import PreprocessSpec

CLASSES = ["blue", "green", "red"]
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def tiny_model(dynamic=False, qdq=None, opset=13, size=32):
    """An onnx.ModelProto. qdq: None, "s8s8" (symmetric int8) or "u8s8" (uint8 activations, zero point 128)."""
    import pytest

    pytest.importorskip("onnx", reason="the tiny test models are written with the onnx package")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(0)
    batch = "batch" if dynamic else 1
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, len(CLASSES)])]
    inits = [numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32) * 0.3, "conv_w"),
             numpy_helper.from_array(np.zeros(4, np.float32), "conv_b"),
             numpy_helper.from_array(rng.randn(len(CLASSES), 4).astype(np.float32), "fc_w"),
             numpy_helper.from_array(np.zeros(len(CLASSES), np.float32), "fc_b")]
    nodes = []
    conv_input = "input"
    if qdq:
        zero_type, zero = (np.int8, 0) if qdq == "s8s8" else (np.uint8, 128)
        inits += [numpy_helper.from_array(np.array(0.02, np.float32), "act_scale"),
                  numpy_helper.from_array(np.array(zero, zero_type), "act_zero")]
        nodes += [helper.make_node("QuantizeLinear", ["input", "act_scale", "act_zero"], ["input_q"], name="q_in"),
                  helper.make_node("DequantizeLinear", ["input_q", "act_scale", "act_zero"], ["input_dq"],
                                   name="dq_in")]
        conv_input = "input_dq"
    nodes += [helper.make_node("Conv", [conv_input, "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1], name="conv"),
              helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
              helper.make_node("GlobalAveragePool", ["relu"], ["pool"], name="pool"),
              helper.make_node("Flatten", ["pool"], ["flat"], axis=1, name="flatten"),
              helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


def _tiny_weights():
    """The weights tiny_model draws, in its order (rng seeded 0)."""
    rng = np.random.RandomState(0)
    conv_w = rng.randn(4, 3, 3, 3).astype(np.float32) * 0.3
    fc_w = rng.randn(len(CLASSES), 4).astype(np.float32)
    return conv_w, fc_w


def tiny_logits(batch):
    """tiny_model's float logits computed with numpy alone (a reference where onnxruntime is absent)."""
    conv_w, fc_w = _tiny_weights()
    batch = np.asarray(batch, np.float32)
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)))
    height, width = batch.shape[2:]
    conv = np.zeros((batch.shape[0], 4, height, width), np.float32)
    for dy in range(3):
        for dx in range(3):
            window = padded[:, :, dy:dy + height, dx:dx + width]
            conv += np.einsum("nchw,oc->nohw", window, conv_w[:, :, dy, dx])
    pooled = np.maximum(conv, 0).mean(axis=(2, 3))
    return pooled @ fc_w.T


def fixture_path(dynamic=False, qdq=None, opset=13):
    return os.path.join(FIXTURES, "tiny-{}-{}-opset{}.onnx".format("dynamic" if dynamic else "static",
                                                                   qdq or "fp32", opset))


def tiny_model_bytes(dynamic=False, qdq=None, opset=13):
    """tiny_model serialized: made with `onnx` where it is installed, else read from tests/fixtures."""
    if importlib.util.find_spec("onnx") is None:
        path = fixture_path(dynamic, qdq, opset)
        if not os.path.isfile(path):
            import pytest
            pytest.skip("the onnx package is not installed and {} is not a stored fixture".format(
                os.path.basename(path)))
        with open(path, "rb") as handle:
            return handle.read()
    return tiny_model(dynamic=dynamic, qdq=qdq, opset=opset).SerializeToString()


def _write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)


def write_tiny_bundle(folder, dynamic=False, batch=None, qdq=True, opset=13, calibration_cache=None):
    """A bundle folder with model.onnx (+ model.int8.trt.onnx when qdq) and a manifest; returns its path.

    batch: (min, opt, max) for the manifest (default (1, 1, 1), or (1, 1, 8) when dynamic).
    calibration_cache: bytes for calibration.cache (listed with method entropy), or None.
    """
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    batch = batch or ((1, 1, 8) if dynamic else (1, 1, 1))
    manifest = new_manifest("tiny-cnn", CLASSES, PreprocessSpec(size=32), "input", "logits", batch=batch)
    _write(folder, "model.onnx", tiny_model_bytes(dynamic=dynamic, opset=opset))
    manifest["artifacts"].append(artifact_entry(folder, "model.onnx", "onnx", precision="fp32", opset=opset))
    if qdq:
        flavor = "s8s8" if qdq is True else qdq
        _write(folder, "model.int8.trt.onnx", tiny_model_bytes(dynamic=dynamic, qdq=flavor, opset=opset))
        manifest["artifacts"].append(artifact_entry(folder, "model.int8.trt.onnx", "onnx", precision="int8",
                                                    opset=opset, flavor="tensorrt-qdq-s8s8"))
    if calibration_cache is not None:
        with open(os.path.join(folder, "calibration.cache"), "wb") as handle:
            handle.write(calibration_cache)
        manifest["artifacts"].append(artifact_entry(folder, "calibration.cache", "calibration_cache",
                                                    method="entropy", images=8, tensorrt_version="8.2.1.8"))
    write_manifest(folder, manifest)
    return folder


def snapshot(folder):
    """{file name: sha256} of every file in `folder` (to prove nothing changed)."""
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as handle:
            found[name] = hashlib.sha256(handle.read()).hexdigest()
    return found
