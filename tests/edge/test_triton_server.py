"""A real tritonserver loads the repositories edge-export writes, and serves them over KServe v2 HTTP.

The binary comes from the nvidia-pytriton wheel (Triton 2.51): set EDGE_PYTRITON_WHEEL to the wheel
(`make test-triton` downloads it, 55 MB), or install nvidia-pytriton; otherwise these tests skip.
That wheel carries Triton's core and its python backend only, so the onnxruntime and TensorRT
backends are stood in for by Python-based backends (tests/fakes/triton_backends): the core is real
(it parses config.pbtxt with its own protobuf, validates it, reads the label files, forms batches
with the dynamic batcher, answers classification requests with our labels); the onnxruntime
stand-in applies the real backend's load-time checks of the configuration against the model file
and runs ONNX Runtime. Nothing here runs a TensorRT engine.
"""

import ctypes.util
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.schema import ORT_INT8
from edge.bundle.golden import GoldenSet
from edge.triton.repo import write_repository
from tests.bundle_fixtures import EXPORT_CLASSES
from tests.helpers import ROOT

WHEEL_ENV = "EDGE_PYTRITON_WHEEL"
STAND_INS = os.path.join(ROOT, "tests", "fakes", "triton_backends")
BATCH_DELAY_US = 10 ** 7   # the batcher waits up to 10 s for 4 requests: they arrive within it on any machine
QUIET = {"log": lambda text: None}


def _installed_pytriton():
    return importlib.util.find_spec("pytriton")


# Decided at collection, so that without a tritonserver nothing is exported or built for these tests.
pytestmark = pytest.mark.skipif(
    not os.environ.get(WHEEL_ENV) and _installed_pytriton() is None,
    reason="needs a tritonserver binary: set {} to an nvidia-pytriton wheel (make test-triton downloads one, "
           "55 MB) or pip install nvidia-pytriton".format(WHEEL_ENV))


def _pytriton_root(tmp_path_factory):
    """The folder holding pytriton/ and nvidia_pytriton.libs/: the unpacked wheel, or the installed package's."""
    wheel = os.environ.get(WHEEL_ENV)
    if wheel:
        if not os.path.isfile(wheel):
            pytest.fail("{}={} is not a file".format(WHEEL_ENV, wheel))
        root = str(tmp_path_factory.mktemp("pytriton"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(root, [name for name in archive.namelist()
                                      if name.startswith(("pytriton/tritonserver/", "nvidia_pytriton.libs/"))])
        return root
    return os.path.dirname(list(_installed_pytriton().submodule_search_locations)[0])


def _missing_libraries(path, env):
    result = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, env=env)
    return [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    """(tritonserver path, backend folder, environment) with the real python backend and the stand-ins."""
    root = _pytriton_root(tmp_path_factory)
    server_dir = os.path.join(root, "pytriton", "tritonserver")
    server = os.path.join(server_dir, "bin", "tritonserver")
    version = "{}.{}".format(*sys.version_info[:2])
    stub = os.path.join(server_dir, "python_backend_stubs", version, "triton_python_backend_stub")
    if not os.path.isfile(stub):
        pytest.skip("this pytriton has no python backend stub for Python {}".format(version))
    if ctypes.util.find_library("python" + version) is None:
        pytest.skip("the python backend stub needs libpython{} (a shared Python), not found here".format(version))
    backends = str(tmp_path_factory.mktemp("backends"))
    shutil.copytree(os.path.join(server_dir, "backends", "python"), os.path.join(backends, "python"))
    shutil.copy(stub, os.path.join(backends, "python"))
    site = [os.path.dirname(os.path.dirname(module.__file__)) for module in (np, __import__("onnxruntime"))]
    for name in ("onnxruntime", "tensorrt"):
        shutil.copytree(os.path.join(STAND_INS, name), os.path.join(backends, name))
        with open(os.path.join(backends, name, "site.json"), "w") as handle:
            json.dump(sorted(set(site)), handle)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "nvidia_pytriton.libs"))
    for path in (server, os.path.join(backends, "python", "triton_python_backend_stub")):
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)   # a wheel's zip keeps no modes
        missing = _missing_libraries(path, env)
        if missing:
            pytest.skip("{} needs libraries this machine lacks: {}".format(os.path.basename(path), ", ".join(missing)))
    return server, backends, env


@pytest.fixture(scope="module")
def repositories(tmp_path_factory, export_fused_int8_bundle, export_fp32_bundle):
    """Two repositories: the fused bundle (uint8, batch 1..4, INT8) with an fp16 engine for this (fake) Orin;
    the static fp32 bundle. Returns {"fused", "static": (bundle dir, Repository)}."""
    pytest.importorskip("onnx", reason="the TensorRT fakes parse with onnx")
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    base = tmp_path_factory.mktemp("served")
    fused = str(base / "colours")
    shutil.copytree(export_fused_int8_bundle, fused)
    with pytest.MonkeyPatch.context() as monkeypatch:
        install(monkeypatch, "10.3", device="orin")
        add_engines(fused, ["fp16"], **QUIET)
        fused_repo = write_repository(fused, str(base / "repo-fused"), max_delay_us=BATCH_DELAY_US, **QUIET)
    static_repo = write_repository(export_fp32_bundle, str(base / "repo-static"), name="static", **QUIET)
    return {"fused": (fused, fused_repo), "static": (export_fp32_bundle, static_repo)}


@pytest.fixture(scope="module")
def server(triton, repositories, tmp_path_factory):
    """tritonserver on 127.0.0.1 serving both repositories; yields (tritonclient.http client, log path, url)."""
    import tritonclient.http as httpclient

    binary, backends, env = triton
    port = _free_port()
    log_path = str(tmp_path_factory.mktemp("triton-log") / "tritonserver.log")
    command = [binary, "--backend-directory", backends, "--http-address", "127.0.0.1", "--http-port", str(port),
               "--allow-grpc", "false", "--allow-metrics", "false", "--disable-auto-complete-config",
               "--exit-on-error", "false", "--exit-timeout-secs", "2"]
    for _, repository in repositories.values():
        command += ["--model-repository", repository.path]
    log = open(log_path, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = "127.0.0.1:{}".format(port)
    client = httpclient.InferenceServerClient(url, network_timeout=120.0)
    names = [model.config.name for _, repository in repositories.values() for model in repository.models]
    try:
        deadline = time.time() + 180
        while True:
            if process.poll() is not None:
                pytest.fail("tritonserver exited with {}:\n{}".format(process.returncode, _tail(log_path)))
            try:
                states = dict((model["name"], model.get("state")) for model in client.get_model_repository_index())
                if all(states.get(name) in ("READY", "UNAVAILABLE") for name in names):
                    break
            except Exception:
                pass
            if time.time() > deadline:
                pytest.fail("tritonserver did not load the repositories in 180 s:\n" + _tail(log_path))
            time.sleep(0.5)
        yield client, log_path, url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _tail(path, lines=40):
    with open(path) as handle:
        return "".join(handle.readlines()[-lines:])


def _infer(client, name, batch, class_count=0):
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("input", list(batch.shape), "UINT8" if batch.dtype == np.uint8 else "FP32")
    tensor.set_data_from_numpy(batch)
    output = httpclient.InferRequestedOutput("logits", class_count=class_count)
    return client.infer(name, [tensor], outputs=[output]).as_numpy("logits")


def test_every_model_loads_and_triton_reports_our_configuration(server, repositories):
    client, log_path, _ = server
    index = dict((model["name"], model) for model in client.get_model_repository_index())
    assert sorted(index) == ["colours", "colours_image", "colours_int8", "colours_int8_image", "colours_trt_fp16",
                             "static", "static_image"]
    assert [(name, model.get("reason")) for name, model in sorted(index.items()) if model["state"] != "READY"] == []
    assert client.is_server_live() and client.is_server_ready()
    for _, repository in repositories.values():
        for model in repository.models:
            name = model.config.name
            served = client.get_model_config(name)
            ours = model.config
            assert (served["platform"], served["backend"], served["max_batch_size"]) == (
                ours.platform, ours.backend, ours.max_batch_size)
            for kind, tensors in (("input", ours.inputs), ("output", ours.outputs)):
                assert [(t["name"], t["data_type"], t["dims"], t.get("label_filename", "")) for t in served[kind]] == \
                    [(t.name, t.data_type, [int(d) for d in t.dims], t.label_file or "") for t in tensors]
            # The image input's format, as Triton's image clients read it (FORMAT_NONE would stop them); Triton
            # allows one only with batching (3 dims): the static model states none.
            assert served["input"][0].get("format", "FORMAT_NONE") == (ours.inputs[0].format or "FORMAT_NONE")
            assert bool(ours.inputs[0].format) == (ours.max_batch_size > 0)
            if ours.max_queue_delay_us is None:
                assert "dynamic_batching" not in served
            else:
                assert int(served["dynamic_batching"]["max_queue_delay_microseconds"]) == ours.max_queue_delay_us


def test_classification_uses_our_labels_and_the_logits_are_the_desktops(server, repositories):
    client = server[0]
    for key, name in (("fused", "colours"), ("static", "static")):
        bundle = Bundle.load(repositories[key][0])
        golden, _ = GoldenSet.load(bundle)
        count = 4 if key == "fused" else 1           # a full batch of the fused model; the static model takes 1
        inputs = golden.model_inputs(bundle)[:count]
        reference = golden.reference[:count]
        logits = _infer(client, name, inputs)
        scale = max(1.0, float(np.abs(reference).max()))
        assert np.abs(logits - reference).max() <= 1e-4 * scale, name
        top = _infer(client, name, inputs, class_count=len(EXPORT_CLASSES))
        # Triton's classification extension: "score:index:label" per class, best first, labels from labels.txt
        # (a model without batching gets the top classes of its whole output: one row here).
        for row, want in zip(np.asarray(top).reshape(count, -1), reference):
            entries = [item.decode("utf-8").split(":") for item in row]
            assert [int(index) for _, index, _ in entries] == list(np.argsort(-want))
            assert [label for _, _, label in entries] == [EXPORT_CLASSES[i] for i in np.argsort(-want)]


def test_the_int8_model_is_the_onnx_runtime_flavor(server, repositories):
    import onnxruntime

    client = server[0]
    bundle = Bundle.load(repositories["fused"][0])
    inputs = GoldenSet.load(bundle)[0].model_inputs(bundle)[:4]
    session = onnxruntime.InferenceSession(bundle.file(bundle.onnx("int8", flavor=ORT_INT8)),
                                           providers=["CPUExecutionProvider"])
    want = session.run(["logits"], {"input": inputs})[0]
    assert np.abs(_infer(client, "colours_int8", inputs) - want).max() <= 1e-5


def test_the_dynamic_batcher_joins_concurrent_requests_into_one_batch(server, repositories):
    import tritonclient.http as httpclient

    client = server[0]
    bundle = Bundle.load(repositories["fused"][0])
    frames = GoldenSet.load(bundle)[0].model_inputs(bundle)[:4]
    batcher = httpclient.InferenceServerClient(server[2], concurrency=4, network_timeout=120.0)
    try:
        before = client.get_inference_statistics("colours_int8")["model_stats"][0]
        pending = []
        for frame in frames:
            tensor = httpclient.InferInput("input", [1] + list(frame.shape), "UINT8")
            tensor.set_data_from_numpy(frame[None])
            pending.append(batcher.async_infer("colours_int8", [tensor]))
        results = [request.get_result().as_numpy("logits") for request in pending]
    finally:
        batcher.close()
    after = client.get_inference_statistics("colours_int8")["model_stats"][0]
    assert all(result.shape == (1, len(EXPORT_CLASSES)) for result in results)
    assert after["inference_count"] - before["inference_count"] == 4
    assert after["execution_count"] - before["execution_count"] == 1   # max_batch_size 4: one batch of 4


def test_the_engine_model_is_configured_and_never_run_here(server):
    client = server[0]
    bundle_input = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(Exception, match="stand-in TensorRT backend"):
        _infer(client, "colours_trt_fp16", bundle_input)


def test_image_client_gets_edge_predicts_top1_from_the_repository(server, repositories, export_images, tmp_path):
    """Triton's unchanged image_client.py (-s NONE, as README says) against the _image models of the exported
    repository: for each labelled image, the top-1 edge-predict gives with the same precision."""
    from tests.edge.image_clients import (edge_predict_top1, flat_image_folder, need_client_dependencies,
                                          run_image_client)

    need_client_dependencies()
    images = flat_image_folder(export_images, str(tmp_path / "images"))
    bundle = repositories["fused"][0]
    for name, precision in (("colours_image", "fp32"), ("colours_int8_image", "int8")):
        want = edge_predict_top1(bundle, images, precision=precision)
        assert len(want) == 36
        assert run_image_client(server[2], name, images, "HTTP", batch=4)[:len(want)] == want, name
