"""Triton's unchanged image_client.py against edge-serve (HTTP and gRPC), and one name, one answer.

edge-serve runs as a user starts it (python -m edge.serve BUNDLE --port P --grpc-port G). image_client.py
reads the model's metadata and configuration, requires the input's format, scales nothing (-s NONE, the
mode README's Triton section names) and sends uint8 RGB pixels to NAME_image; its top-1 for each labelled
image must be edge-predict's. The same name means the same precision and answers on edge-serve and in
the repository edge-export writes: the repository's model file of that name, run by ONNX Runtime on the
CPU, gives edge-serve's outputs within fp32 tolerance. The real tritonserver's side of both is in
tests/edge/test_triton_server.py.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.golden import GoldenSet
from edge.bundle.preprocess import read_image, resize_and_crop
from edge.triton.repo import write_repository
from tests.bundle_fixtures import EXPORT_CLASSES
from tests.edge.image_clients import (edge_predict_top1, flat_image_folder, need_client_dependencies,
                                      run_image_client, true_labels)
from tests.edge.realparts import free_port
from tests.edge.serving import ROOT

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def colours(tmp_path_factory, export_fused_int8_bundle, export_images):
    """(the fused INT8 bundle copied as 'colours' (batch 1..4), its Triton repository, a flat folder of the
    labelled images)."""
    base = tmp_path_factory.mktemp("image-client")
    bundle = str(base / "colours")
    shutil.copytree(export_fused_int8_bundle, bundle)
    repository = write_repository(bundle, str(base / "repo"), log=lambda text: None)
    return bundle, repository, flat_image_folder(export_images, str(base / "images"))


class EdgeServe(object):
    """`python -m edge.serve` in a subprocess on free ports; stopped by SIGTERM."""

    def __init__(self, bundle, precision, grpc=True):
        self.port, self.grpc_port = free_port(), free_port()
        argv = [sys.executable, "-m", "edge.serve", bundle, "--port", str(self.port), "--runtime", "onnxruntime",
                "--precision", precision, "--threads", "1", "--max-batch", "4"]
        argv += ["--grpc-port", str(self.grpc_port)] if grpc else ["--no-grpc"]
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        universal_newlines=True)
        self.url = "127.0.0.1:{}".format(self.port)
        self.grpc_url = "127.0.0.1:{}".format(self.grpc_port)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                pytest.fail("edge-serve exited with {}:\n{}".format(self.process.returncode,
                                                                    self.process.stdout.read()))
            try:
                with urllib.request.urlopen("http://{}/v2/health/ready".format(self.url), timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        pytest.fail("edge-serve was not ready in {} s".format(timeout))

    def metadata(self, name):
        with urllib.request.urlopen("http://{}/v2/models/{}".format(self.url, name), timeout=10) as answer:
            return json.loads(answer.read().decode("utf-8"))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture(scope="module", params=["fp32", "int8"])
def edge_serve(request, colours):
    pytest.importorskip("grpc", reason="edge-serve's gRPC front end needs grpcio")
    server = EdgeServe(colours[0], request.param).wait_ready()
    try:
        yield request.param, server
    finally:
        server.stop()


@pytest.mark.parametrize("protocol", ["HTTP", "gRPC"])
def test_image_client_gets_edge_predicts_top1_from_edge_serve(edge_serve, colours, protocol):
    need_client_dependencies()
    precision, server = edge_serve
    bundle, _, images = colours
    name = "colours" if precision == "fp32" else "colours_int8"
    url = server.url if protocol == "HTTP" else server.grpc_url
    labels = run_image_client(url, name + "_image", images, protocol, batch=1)
    want = edge_predict_top1(bundle, images, precision=precision)
    truth = true_labels(images, EXPORT_CLASSES)
    assert len(labels) == len(want) == len(truth) == 36
    assert labels == want
    assert sum(label == answer for label, answer in zip(labels, truth)) >= 30   # the model works on them too
    # batches of 4 (the bundle's most): the same answers (image_client wraps around to fill the last batch)
    assert run_image_client(url, name + "_image", images, protocol, batch=4)[:len(want)] == want


def test_the_tensor_entry_is_not_for_rgb_clients_and_the_name_says_the_precision(edge_serve, colours):
    """NAME (the bundle's own input, BGR uint8 for this fused bundle) declares FORMAT_NHWC too, so image_client.py
    runs against it, but its RGB pixels land in the wrong channels: red and blue swap. README names NAME_image.
    The name says the precision: a server answers for NAME or NAME_int8, the precision it runs."""
    need_client_dependencies()
    precision, server = edge_serve
    bundle, _, images = colours
    swapped = run_image_client(server.url, "colours" if precision == "fp32" else "colours_int8", images)
    truth = true_labels(images, EXPORT_CLASSES)
    assert sum(label == answer for label, answer in zip(swapped, truth)) <= 12   # only green survives
    name = "colours" if precision == "fp32" else "colours_int8"
    other = "colours_int8" if precision == "fp32" else "colours"
    meta = server.metadata(name + "_image")
    assert meta["name"] == name + "_image" and meta["inputs"][0]["datatype"] == "UINT8"
    assert meta["inputs"][0]["shape"] == [-1, 32, 32, 3]
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.metadata(other)
    assert refused.value.code == 404 and name in refused.value.read().decode("utf-8")


def _ort_outputs(path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def _edge_serve_logits(server, name, inputs):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(server.url, network_timeout=60.0)
    try:
        tensor = httpclient.InferInput("input", list(inputs.shape), "UINT8")
        tensor.set_data_from_numpy(inputs)
        return client.infer(name, [tensor]).as_numpy("logits")
    finally:
        client.close()


def test_one_name_one_answer_edge_serve_and_the_repository(edge_serve, colours, export_images):
    """The repository's model file of edge-serve's model name (ONNX Runtime, CPU) gives edge-serve's outputs, for
    the tensor entry (BGR frames) and the image entry (the same frames as RGB)."""
    precision, server = edge_serve
    bundle_dir, repository, _ = colours
    bundle = Bundle.load(bundle_dir)
    name = "colours" if precision == "fp32" else "colours_int8"
    frames = np.stack([resize_and_crop(read_image(os.path.join(export_images, label, "{}_000.png".format(label))),
                                       bundle.spec) for label in EXPORT_CLASSES] +
                      list(GoldenSet.load(bundle)[0].model_inputs(bundle)[:1]))
    models = dict((model.config.name, model) for model in repository.models)
    for served, inputs in ((name, frames), (name + "_image", np.ascontiguousarray(frames[..., ::-1]))):
        assert served in models, sorted(models)
        want = _ort_outputs(os.path.join(repository.path, models[served].path), inputs)
        got = _edge_serve_logits(server, served, inputs)
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max())), served
    assert "int8" in models[name].what if precision == "int8" else "fp32" in models[name].what


def _binary(rows, datatype):
    head = json.dumps({"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": datatype,
                                   "parameters": {"binary_data_size": rows.nbytes}}]}).encode("utf-8")
    return head + rows.tobytes(), {"Content-Type": "application/octet-stream",
                                   "Inference-Header-Content-Length": str(len(head))}


def test_the_image_entry_is_the_tensor_entry_after_edge_predicts_preprocessing(tmp_path):
    """edge/ alone (no onnx, no tritonclient; it runs under Python 3.6 too): NAME_image's RGB pixels give what NAME
    gives for the same frames, BGR, normalised as edge.bundle.preprocess does; each entry states its layout."""
    from edge.bundle.preprocess import normalize_batch
    from tests.edge.serving import serving
    from tests.fakes.tiny_bundle import write_tiny_bundle

    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    frames = np.random.RandomState(3).randint(0, 256, size=(3, 32, 32, 3)).astype(np.uint8)   # BGR
    with serving(folder, model_name="tiny") as server:
        floats = normalize_batch(frames, Bundle.load(folder).spec)
        status, _, tensor = server.json("POST", "/v2/models/tiny/infer", *_binary(floats, "FP32"))
        assert status == 200, tensor
        status, _, image = server.json("POST", "/v2/models/tiny_image/infer",
                                       *_binary(np.ascontiguousarray(frames[..., ::-1]), "UINT8"))
        assert status == 200, image
        assert image["outputs"][0]["data"] == tensor["outputs"][0]["data"]
        assert server.json("GET", "/v2/models/tiny_image")[2]["inputs"] == [
            {"name": "input", "datatype": "UINT8", "shape": [-1, 32, 32, 3]}]
        formats = [server.json("GET", "/v2/models/{}/config".format(name))[2]["input"][0]["format"]
                   for name in ("tiny", "tiny_image")]
        assert formats == ["FORMAT_NCHW", "FORMAT_NHWC"]
        status, _, refused = server.json("POST", "/v2/models/tiny_image/infer", *_binary(floats, "FP32"))
        assert status == 400 and "UINT8 [N,32,32,3]" in refused["error"]


def test_the_served_name_is_the_repositorys_name_for_that_precision(tmp_path):
    """edge.triton.names is the one home of the names: edge-serve's runner and the repository's model agree."""
    from edge.runners.select import make_runner
    from edge.triton.names import precision_suffix, served_name
    from tests.fakes.tiny_bundle import write_tiny_bundle

    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=True)   # INT8: TensorRT's flavor only
    bundle = Bundle.load(folder)
    names = [served_name("tiny", make_runner(bundle, "onnxruntime", precision, threads=1)[0])
             for precision in ("fp32", "int8")]
    # The repository serves no TensorRT-flavor INT8 model: ONNX Runtime running it is named apart from tiny_int8.
    assert names == ["tiny", "tiny_int8_tensorrt-qdq-s8s8"]
    assert [precision_suffix("onnx", "int8", "ort-qdq-u8s8"), precision_suffix("tensorrt_engine", "fp16")] == [
        "_int8", "_trt_fp16"]
