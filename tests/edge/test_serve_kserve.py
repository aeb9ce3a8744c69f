"""edge-serve speaks KServe v2 as Triton's own client reads it: tritonclient.http, unchanged, against a
real server on 127.0.0.1, and logits equal to ONNX Runtime fp32 run directly on the bundle's model."""

import glob
import os

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.preprocess import preprocess, read_image, resize_and_crop
from tests.edge.serving import serving

httpclient = pytest.importorskip("tritonclient.http", reason="needs tritonclient[http] (the dev extra)")
from tritonclient.utils import InferenceServerException  # noqa: E402


def fixture_images(folder, count):
    return sorted(glob.glob(os.path.join(folder, "*", "*.png")))[:count]


def onnx_logits(bundle_path, batch):
    """The bundle's fp32 ONNX model run directly with ONNX Runtime: the reference."""
    import onnxruntime

    bundle = Bundle.load(bundle_path)
    session = onnxruntime.InferenceSession(bundle.file(bundle.artifact("onnx", precision="fp32")),
                                           providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {bundle.input_name: batch[i:i + 1]})[0] for i in range(len(batch))])


@pytest.fixture(scope="module")
def fp32_server(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours") as server:
        yield server


@pytest.fixture(scope="module")
def batch(export_fp32_bundle, export_images):
    spec = Bundle.load(export_fp32_bundle).spec
    return np.stack([preprocess(read_image(path), spec) for path in fixture_images(export_images, 3)])


def test_tritonclient_sees_the_server_live_and_ready_and_reads_the_metadata(fp32_server):
    client = httpclient.InferenceServerClient(url=fp32_server.address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("colours") and client.is_model_ready("colours", model_version="1")
    assert not client.is_model_ready("other")
    metadata = client.get_model_metadata("colours")
    assert metadata["name"] == "colours" and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert metadata["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 3]}]
    server = client.get_server_metadata()
    assert server["name"] == "edge-serve" and "binary_tensor_data" in server["extensions"]
    client.close()


@pytest.mark.parametrize("binary_in, binary_out", [(True, True), (False, False), (True, False), (False, True)])
def test_logits_for_preprocessed_images_match_onnx_runtime_fp32(fp32_server, export_fp32_bundle, batch, binary_in,
                                                                 binary_out):
    client = httpclient.InferenceServerClient(url=fp32_server.address)
    tensor = httpclient.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary_in)
    result = client.infer("colours", [tensor], request_id="req-7",
                          outputs=[httpclient.InferRequestedOutput("logits", binary_data=binary_out)])
    logits = result.as_numpy("logits")
    reference = onnx_logits(export_fp32_bundle, batch)
    assert logits.dtype == np.float32 and logits.shape == (3, 3)
    assert np.abs(logits - reference).max() <= 1e-4, np.abs(logits - reference).max()
    assert result.get_response()["id"] == "req-7" and result.get_response()["model_name"] == "colours"
    client.close()


def test_the_default_request_gets_binary_logits(fp32_server, export_fp32_bundle, batch):
    # No outputs named: tritonclient asks for every output as binary data (binary_data_output).
    client = httpclient.InferenceServerClient(url=fp32_server.address)
    tensor = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(batch[:1])
    result = client.infer("colours", [tensor])
    assert result.get_output("logits")["parameters"]["binary_data_size"] == 3 * 4
    assert np.abs(result.as_numpy("logits") - onnx_logits(export_fp32_bundle, batch[:1])).max() <= 1e-4
    client.close()


@pytest.mark.parametrize("binary_out", [True, False])
def test_the_classification_extension_names_the_best_classes(fp32_server, export_fp32_bundle, batch, binary_out):
    client = httpclient.InferenceServerClient(url=fp32_server.address)
    tensor = httpclient.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = client.infer("colours", [tensor], outputs=[
        httpclient.InferRequestedOutput("logits", binary_data=binary_out, class_count=2)])
    classes = Bundle.load(export_fp32_bundle).classes
    reference = onnx_logits(export_fp32_bundle, batch)
    answers = result.as_numpy("logits")
    assert answers.shape == (3, 2)
    for row, expected in zip(answers, reference):
        first = row[0].decode("utf-8") if isinstance(row[0], bytes) else row[0]
        value, index, label = first.split(":")
        assert int(index) == int(np.argmax(expected)) and label == classes[int(index)]
        assert abs(float(value) - expected.max()) <= 1e-4
    client.close()


@pytest.mark.parametrize("shape, datatype, message", [
    ([1, 3, 16, 16], "FP32", "shape [1, 3, 16, 16]"),
    ([1, 32, 32, 3], "FP32", "shape [1, 32, 32, 3]"),
    ([1, 3, 32, 32], "FP64", "is FP64"),
])
def test_a_wrong_tensor_is_a_400_naming_what_the_model_takes(fp32_server, shape, datatype, message):
    client = httpclient.InferenceServerClient(url=fp32_server.address)
    tensor = httpclient.InferInput("input", shape, datatype)
    tensor.set_data_from_numpy(np.zeros(shape, np.float64 if datatype == "FP64" else np.float32))
    with pytest.raises(InferenceServerException) as error:
        client.infer("colours", [tensor])
    assert error.value.status() == "400"
    assert message in error.value.message() and "'input' FP32 [N,3,32,32]" in error.value.message()
    assert client.is_server_ready()   # and the server answers on
    client.close()


def test_a_fused_preprocessing_bundle_takes_uint8_frames(export_fused_int8_bundle, export_images):
    bundle = Bundle.load(export_fused_int8_bundle)
    frames = np.stack([resize_and_crop(read_image(path), bundle.spec) for path in fixture_images(export_images, 2)])
    with serving(export_fused_int8_bundle, model_name="fused") as server:
        client = httpclient.InferenceServerClient(url=server.address)
        metadata = client.get_model_metadata("fused")
        assert metadata["inputs"] == [{"name": "input", "datatype": "UINT8", "shape": [-1, 32, 32, 3]}]
        tensor = httpclient.InferInput("input", list(frames.shape), "UINT8")
        tensor.set_data_from_numpy(np.ascontiguousarray(frames))
        logits = client.infer("fused", [tensor]).as_numpy("logits")
        import onnxruntime

        session = onnxruntime.InferenceSession(bundle.file(bundle.onnx("fp32")), providers=["CPUExecutionProvider"])
        reference = session.run(None, {bundle.input_name: np.ascontiguousarray(frames)})[0]
        assert np.abs(logits - reference).max() <= 1e-4

        floats = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
        floats.set_data_from_numpy(np.zeros((1, 3, 32, 32), np.float32))
        with pytest.raises(InferenceServerException) as error:
            client.infer("fused", [floats])
        assert error.value.status() == "400" and "'input' UINT8 [N,32,32,3]" in error.value.message()
        client.close()
