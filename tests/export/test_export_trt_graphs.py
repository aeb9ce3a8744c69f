"""The graphs edge-export writes are ones TensorRT's ONNX parser reads (rules in shared/TENSORRT_API.md).

- A uint8 network input may only feed a Cast (8.5+/10.x: "TensorRT does not support UINT8 types
  for intermediate tensors"); TensorRT 8.2 has no uint8 at all, so a fused bundle also carries
  float-pixel models for it (float32 NHWC BGR, 0..255, normalised in the graph), and the manifest
  says which model takes which input.
- The TensorRT INT8 flavor keeps weights float with Q/DQ pairs: the 8.0/8.2 parser rejects int8
  initializers read by a DequantizeLinear ("invalid weights type of Int8"); zero points are int8 0.
"""

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8


def _graph(path):
    import onnx

    return onnx.load(str(path))


def _consumers(model, tensor):
    return [node for node in model.graph.node if tensor in node.input]


def _initializers(model):
    from onnx import numpy_helper

    return dict((init.name, numpy_helper.to_array(init)) for init in model.graph.initializer)


@pytest.fixture
def fused_int8_bundle(export_fused_int8_bundle):
    return Bundle.load(export_fused_int8_bundle)


def test_uint8_input_feeds_only_cast_nodes(fused_int8_bundle):
    bundle = fused_int8_bundle
    fused = [entry for entry in bundle.artifacts("onnx") if bundle.model_input_format(entry) == INPUT_UINT8]
    assert sorted((e["precision"], e.get("flavor")) for e in fused) == [
        ("fp32", None), ("int8", "ort-qdq-u8s8"), ("int8", "tensorrt-qdq-s8s8")]
    for entry in fused:
        model = _graph(bundle.file(entry))
        name = model.graph.input[0].name
        assert model.graph.input[0].type.tensor_type.elem_type == 2   # uint8
        consumers = _consumers(model, name)
        assert consumers and all(node.op_type == "Cast" for node in consumers), (entry["file"], consumers)
        for node in consumers:
            to = [attr.i for attr in node.attribute if attr.name == "to"]
            assert to in ([1], [10]), to                                 # float or float16


def test_fused_bundle_carries_float_pixel_models_for_tensorrt_82(fused_int8_bundle):
    bundle = fused_int8_bundle
    fp32 = bundle.onnx("fp32", input_format=INPUT_PIXELS)
    int8 = bundle.onnx("int8", flavor="tensorrt-qdq-s8s8", input_format=INPUT_PIXELS)
    assert (fp32["file"], int8["file"]) == ("model.pixels.onnx", "model.int8.trt.pixels.onnx")
    for entry in (fp32, int8):
        bundle.check(entry)
        model = _graph(bundle.file(entry))
        assert model.graph.input[0].type.tensor_type.elem_type == 1               # float
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims[1:] == [32, 32, 3]                                             # NHWC, the frame's layout
        consumers = [node.op_type for node in _consumers(model, model.graph.input[0].name)]
        assert "Cast" not in consumers, consumers          # Cast-first is the uint8 graph's need, not this one's
        assert bundle.item_shape(INPUT_PIXELS) == [32, 32, 3]
    assert bundle.onnx("int8", flavor="ort-qdq-u8s8", input_format=INPUT_PIXELS) is None   # ORT takes uint8
    # No family normalised on the host any more: every model of a fused bundle normalises in its graph.
    assert not [e for e in bundle.artifacts("onnx") if bundle.model_input_format(e) == INPUT_FLOAT]
    assert bundle.artifact("calibration_cache") is None or \
        bundle.artifact("calibration_cache")["onnx_file"] == "model.pixels.onnx"
    figures = bundle.manifest["verification"]["float_pixels"]
    assert figures["fp32"]["max_abs_diff"] < 1e-4 and figures["fp32"]["input_format"] == INPUT_PIXELS
    assert "unfused PyTorch" in figures["fp32"]["reference"]
    assert figures["int8"]["tensorrt-qdq-s8s8"]["top1_agreement"] >= 0.98
    assert "float_input" not in bundle.manifest["verification"]


def test_float_pixel_model_matches_the_uint8_one_on_widened_frames(fused_int8_bundle, export_images):
    import onnxruntime as ort

    from edge.bundle.preprocess import read_image, resize_and_crop
    from export.verify import list_images

    bundle = fused_int8_bundle
    frames = np.stack([resize_and_crop(read_image(path), bundle.spec) for path, _ in list_images(export_images)[:8]])
    fused = ort.InferenceSession(bundle.file(bundle.onnx("fp32")), providers=["CPUExecutionProvider"])
    pixels = ort.InferenceSession(bundle.file(bundle.onnx("fp32", input_format=INPUT_PIXELS)),
                                  providers=["CPUExecutionProvider"])
    want = fused.run(None, {"input": frames})[0]
    got = pixels.run(None, {"input": frames.astype(np.float32)})[0]
    assert np.abs(want - got).max() < 1e-4 and (want.argmax(1) == got.argmax(1)).all()


@pytest.mark.parametrize("fixture", ["export_int8_bundle", "fused_int8_bundle"])
def test_tensorrt_int8_flavor_has_float_weights_with_qdq_pairs(request, fixture):
    bundle = request.getfixturevalue(fixture)
    bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    entries = [e for e in bundle.artifacts("onnx") if e.get("flavor") == "tensorrt-qdq-s8s8"]
    assert entries
    for entry in entries:
        model = _graph(bundle.file(entry))
        values = _initializers(model)
        dequantize = [node for node in model.graph.node if node.op_type == "DequantizeLinear"]
        quantize = [node for node in model.graph.node if node.op_type == "QuantizeLinear"]
        assert dequantize and quantize
        for node in dequantize:
            data = values.get(node.input[0])
            assert data is None or data.dtype != np.int8, "{} reads an int8 initializer".format(node.name)
        conv_weights = [node.input[1] for node in model.graph.node if node.op_type == "Conv"]
        weight_quantizers = [node for node in quantize if node.input[0] in values]
        assert len(weight_quantizers) >= len(conv_weights)          # every weight: float -> Q -> DQ
        for node in quantize + dequantize:
            zero = values[node.input[2]]
            assert zero.dtype == np.int8 and not zero.any(), node.name
