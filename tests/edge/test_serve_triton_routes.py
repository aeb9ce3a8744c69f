"""Triton's configuration, repository-index and statistics routes of edge-serve, through the real
tritonclient.http on 127.0.0.1: the configuration is the exported config.pbtxt's content (both parsed with
tritonclient's ModelConfig message), and the statistics count and time what really ran."""

import contextlib
import http.client
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.golden import GoldenSet
from edge.serve.statistics import ModelStatistics
from edge.triton.repo import write_repository
from tests.edge.serving import serving
from tests.edge.test_triton_server import triton  # noqa: F401 (the fixture: a real tritonserver and its backends)

httpclient = pytest.importorskip("tritonclient.http", reason="needs tritonclient[http] (the dev extra)")
from google.protobuf import json_format, text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2, service_pb2  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

QUIET = {"log": lambda text: None}
PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


def pbtxt(path):
    with open(path) as handle:
        return text_format.Parse(handle.read(), model_config_pb2.ModelConfig())


def as_message(config_json):
    """A configuration route's JSON as tritonclient's ModelConfig message (unknown fields refused)."""
    return json_format.ParseDict(config_json, model_config_pb2.ModelConfig())


def frames(bundle_path, count):
    bundle = Bundle.load(bundle_path)
    return GoldenSet.load(bundle)[0].model_inputs(bundle)[:count]


def infer(client, name, batch):
    tensor = httpclient.InferInput("input", list(batch.shape), "UINT8" if batch.dtype == np.uint8 else "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer(name, [tensor]).as_numpy("logits")


def stats_of(client, name):
    models = client.get_inference_statistics(name)["model_stats"]
    assert [(model["name"], model["version"]) for model in models] == [(name, "1")]
    return models[0]


@pytest.mark.parametrize("precision, served_name, repo_name", [
    ("fp32", "colours", "colours"), ("int8", "colours_int8", "colours_int8"),
    ("fp32", "colours", "colours_image"), ("int8", "colours_int8", "colours_int8_image")])
def test_the_configuration_is_the_exported_config_pbtxt(export_fused_int8_bundle, tmp_path, precision, served_name,
                                                        repo_name):
    # edge-serve batching as the export's: the bundle's batch maximum (4), no delay (the export's default).
    pytest.importorskip("onnx", reason="the repository's image models are written with onnx")
    repository = write_repository(export_fused_int8_bundle, str(tmp_path / "repo"), name="colours", **QUIET)
    exported = pbtxt(str(tmp_path / "repo" / repo_name / "config.pbtxt"))
    with serving(export_fused_int8_bundle, precision=precision, model_name=served_name, max_batch=4,
                 max_delay_ms=0.0) as server:
        client = httpclient.InferenceServerClient(url=server.address)
        served = client.get_model_config(repo_name)
        message = as_message(served)
        assert served["version_policy"] == {"latest": {"num_versions": 1}}   # Triton's default, printed
        message.ClearField("version_policy")
        assert message == exported, (served, exported)
        assert client.get_model_config(repo_name, model_version="1") == served
        assert served["input"][0]["format"] == "FORMAT_NHWC" and served["input"][0]["data_type"] == "TYPE_UINT8"
        assert served["max_batch_size"] == 4 and served["dynamic_batching"] == {"max_queue_delay_microseconds": 0}
        client.close()
    assert repo_name in [model.config.name for model in repository.models]


def test_the_configuration_states_edge_serves_batching(export_fp32_bundle):
    # A static batch-1 bundle: edge-serve takes [N,...] requests one image a batch (max_batch_size 1, dims
    # without the batch axis), where the repository states the full shape with max_batch_size 0.
    with serving(export_fp32_bundle, model_name="colours") as server:
        client = httpclient.InferenceServerClient(url=server.address)
        served = client.get_model_config("colours")
        assert served["max_batch_size"] == 1 and "dynamic_batching" not in served
        assert served["input"] == [{"name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NCHW",
                                    "dims": [3, 32, 32], "is_shape_tensor": False, "allow_ragged_batch": False,
                                    "optional": False, "is_non_linear_format_io": False}]
        assert served["output"] == [{"name": "logits", "data_type": "TYPE_FP32", "dims": [3],
                                     "label_filename": "labels.txt", "is_shape_tensor": False,
                                     "is_non_linear_format_io": False}]
        assert (served["platform"], served["backend"]) == ("onnxruntime_onnx", "onnxruntime")
        as_message(served)
        client.close()


def test_the_repository_index_lists_the_served_models(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours") as server:
        client = httpclient.InferenceServerClient(url=server.address)
        want = [{"name": name, "version": "1", "state": "READY"} for name in ("colours", "colours_image")]
        assert client.get_model_repository_index() == want
        status, _, body = server.json("POST", "/v2/repository/index", b'{"ready": true}',
                                      {"Content-Type": "application/json"})
        assert (status, body) == (200, want)
        status, _, body = server.json("POST", "/v2/repository/index", b'{"ready": 1}')
        assert status == 400 and "ready" in body["error"]
        server.service.draining = True
        assert client.get_model_repository_index() == [dict(model, state="UNAVAILABLE", reason="shutting down")
                                                       for model in want]
        assert server.json("POST", "/v2/repository/index", b'{"ready": true}')[2] == []
        server.service.draining = False
        client.close()


def test_unknown_models_and_versions_get_404_with_tritons_error_json(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours") as server:
        client = httpclient.InferenceServerClient(url=server.address)
        for call in (lambda: client.get_model_config("other"), lambda: client.get_inference_statistics("other"),
                     lambda: client.get_model_config("colours", model_version="2")):
            with pytest.raises(InferenceServerException) as caught:
                call()
            assert caught.value.status() == "404"
        for path in ("/v2/models/other/config", "/v2/models/other/stats", "/v2/models/colours/versions/3/stats"):
            status, _, body = server.json("GET", path)
            assert status == 404 and set(body) == {"error"}, (path, body)
        assert "unknown model 'other'" in server.json("GET", "/v2/models/other/config")[2]["error"]
        assert server.json("POST", "/v2/models/colours/config")[0] == 405
        client.close()


def test_the_routes_need_the_token_as_the_other_v2_routes_do(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours", token="s3cret") as server:
        for method, path in (("GET", "/v2/models/colours/config"), ("GET", "/v2/models/colours/stats"),
                             ("GET", "/v2/models/stats"), ("POST", "/v2/repository/index")):
            assert server.request(method, path)[0] == 401, path
        client = httpclient.InferenceServerClient(url=server.address)
        auth = {"Authorization": "Bearer s3cret"}
        assert client.get_model_config("colours", headers=auth)["name"] == "colours"
        assert client.get_model_repository_index(headers=auth)[0]["state"] == "READY"
        assert client.get_inference_statistics(headers=auth)["model_stats"][0]["name"] == "colours"
        client.close()


def _check_times(model, successes):
    stats = model["inference_stats"]
    assert stats["success"]["count"] == successes
    for phase in PHASES:
        assert stats[phase]["count"] == successes, phase
    if successes:
        assert all(stats[phase]["ns"] > 0 for phase in ("success", "compute_infer"))
        assert sum(stats[phase]["ns"] for phase in PHASES) <= stats["success"]["ns"]


def test_statistics_count_and_time_what_ran(export_fused_int8_bundle):
    batch = frames(export_fused_int8_bundle, 4)
    with serving(export_fused_int8_bundle, model_name="colours", max_batch=4, max_delay_ms=0.0) as server:
        client = httpclient.InferenceServerClient(url=server.address)
        before = stats_of(client, "colours")
        assert (before["inference_count"], before["execution_count"], before["last_inference"]) == (0, 0, 0)
        assert before["batch_stats"] == [] and before["inference_stats"]["fail"] == {"count": 0, "ns": 0}
        _check_times(before, 0)
        started_ms = int(time.time() * 1000)
        for index in range(5):
            infer(client, "colours", batch[index % 4:index % 4 + 1])
        infer(client, "colours", batch[:3])
        after = stats_of(client, "colours")
        assert started_ms <= after["last_inference"] <= int(time.time() * 1000)
        assert (after["inference_count"], after["execution_count"]) == (8, 6)
        _check_times(after, 6)
        sizes = dict((entry["batch_size"], entry) for entry in after["batch_stats"])
        assert sorted(sizes) == [1, 3] and sizes[1]["compute_infer"]["count"] == 5
        assert sizes[3]["compute_input"]["count"] == sizes[3]["compute_output"]["count"] == 1
        # one request a batch: the requests' compute times are their batches'
        assert sum(entry["compute_infer"]["ns"] for entry in sizes.values()) == \
            after["inference_stats"]["compute_infer"]["ns"]
        everything = client.get_inference_statistics()["model_stats"]
        assert [model["name"] for model in everything] == ["colours", "colours_image"] and everything[0] == after
        assert everything[1]["inference_count"] == 0
        infer(client, "colours_image", np.zeros((2, 32, 32, 3), np.uint8))   # the image entry counts apart
        image = stats_of(client, "colours_image")
        assert (image["inference_count"], image["execution_count"]) == (2, 1)
        _check_times(image, 1)
        assert stats_of(client, "colours") == after
        assert server.json("GET", "/v2/models/colours/versions/1/stats")[2]["model_stats"] == [after]
        json_format.ParseDict(client.get_inference_statistics(), service_pb2.ModelStatisticsResponse())
        client.close()


def test_concurrent_requests_count_as_one_execution(export_fused_int8_bundle):
    batch = frames(export_fused_int8_bundle, 4)
    with serving(export_fused_int8_bundle, model_name="colours", max_batch=4, max_delay_ms=10000.0) as server:
        client = httpclient.InferenceServerClient(url=server.address, concurrency=4, network_timeout=120.0)
        pending = []
        for frame in batch:
            tensor = httpclient.InferInput("input", [1] + list(frame.shape), "UINT8")
            tensor.set_data_from_numpy(frame[None])
            pending.append(client.async_infer("colours", [tensor]))
        assert all(request.get_result().as_numpy("logits").shape == (1, 3) for request in pending)
        model = stats_of(client, "colours")
        assert (model["inference_count"], model["execution_count"]) == (4, 1)
        _check_times(model, 4)
        assert [(entry["batch_size"], entry["compute_infer"]["count"]) for entry in model["batch_stats"]] == [(4, 1)]
        # each request counts its batch's run, as Triton does
        assert model["inference_stats"]["compute_infer"]["ns"] == 4 * model["batch_stats"][0]["compute_infer"]["ns"]
        client.close()


class FailingRunner(object):
    """A runner whose calls fail once `fail` is set (the warm-up call before serving passes)."""

    def __init__(self, runner):
        self.runner, self.fail = runner, threading.Event()

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def infer(self, rows):
        if self.fail.is_set():
            raise RuntimeError("the model failed")
        return self.runner.infer(rows)


def test_failed_requests_count_as_fail(export_fp32_bundle, export_fused_int8_bundle):
    wrapped = []
    batch = frames(export_fp32_bundle, 1)
    with serving(export_fp32_bundle, model_name="colours",
                 runner_wrapper=lambda runner: wrapped.append(FailingRunner(runner)) or wrapped[0]) as server:
        client = httpclient.InferenceServerClient(url=server.address)
        infer(client, "colours", batch)
        with pytest.raises(InferenceServerException):   # input the model cannot take: not counted, as in Triton
            infer(client, "colours", np.zeros((1, 3, 8, 8), np.float32))
        assert stats_of(client, "colours")["inference_stats"]["fail"] == {"count": 0, "ns": 0}
        wrapped[0].fail.set()
        with pytest.raises(InferenceServerException, match="the model failed"):
            infer(client, "colours", batch)
        model = stats_of(client, "colours")
        assert model["inference_stats"]["fail"]["count"] == 1 and model["inference_stats"]["fail"]["ns"] > 0
        assert (model["inference_count"], model["execution_count"]) == (1, 1)
        _check_times(model, 1)
        client.close()


class BlockingRunner(object):
    """A runner whose calls wait for `release` once `block` is set; `entered` is set when one is waiting."""

    def __init__(self, runner):
        self.runner, self.block, self.entered, self.release = runner, threading.Event(), threading.Event(), \
            threading.Event()

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def infer(self, rows):
        if self.block.is_set():
            self.entered.set()
            self.release.wait(60)
        return self.runner.infer(rows)


def test_a_request_refused_for_a_full_queue_counts_as_fail(export_fp32_bundle):
    wrapped = []
    batch = frames(export_fp32_bundle, 1)
    with serving(export_fp32_bundle, model_name="colours", max_queue=1,
                 runner_wrapper=lambda runner: wrapped.append(BlockingRunner(runner)) or wrapped[0]) as server:
        runner = wrapped[0]
        runner.block.set()
        client = httpclient.InferenceServerClient(url=server.address, concurrency=2)
        tensor = httpclient.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        running = client.async_infer("colours", [tensor])
        assert runner.entered.wait(30)
        queued = client.async_infer("colours", [tensor])
        deadline = time.time() + 30
        while server.service.batcher.depth() < 1 and time.time() < deadline:
            time.sleep(0.01)
        with pytest.raises(InferenceServerException, match="server busy"):
            infer(httpclient.InferenceServerClient(url=server.address), "colours", batch)
        runner.release.set()
        assert [request.get_result().as_numpy("logits").shape for request in (running, queued)] == [(1, 3)] * 2
        model = stats_of(client, "colours")
        assert model["inference_stats"]["fail"]["count"] == 1
        assert (model["inference_count"], model["execution_count"]) == (2, 2)
        _check_times(model, 2)
        assert model["inference_stats"]["queue"]["ns"] > 0
        client.close()


def test_statistics_keep_counts_under_concurrent_updates():
    class Done(object):
        size, error, total_s, queue_s, input_s, inference_s, output_s = 1, None, 2e-3, 1e-3, 1e-4, 5e-4, 1e-4

    statistics = ModelStatistics()
    threads = [threading.Thread(target=lambda: [(statistics.request_finished(Done()),
                                                 statistics.batch_ran([Done()], 1)) for _ in range(500)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    view = statistics.view("m", "1")
    assert (view["inference_count"], view["execution_count"]) == (4000, 4000)
    assert view["inference_stats"]["success"] == {"count": 4000, "ns": 4000 * 2000000}
    assert view["batch_stats"][0]["compute_infer"] == {"count": 4000, "ns": 4000 * 500000}


# ----------------------------------------------------------------------------- against a real tritonserver

def _has_tritonserver():
    from tests.edge.test_triton_server import WHEEL_ENV, _installed_pytriton

    return bool(os.environ.get(WHEEL_ENV)) or _installed_pytriton() is not None


@contextlib.contextmanager
def tritonserver(triton, repository_path, model):
    """A real tritonserver (tests/edge/test_triton_server.py's) on 127.0.0.1 with only `model` loaded; yields its
    tritonclient.http client and address."""
    from tests.edge.test_triton_server import _free_port

    binary, backends, env = triton
    port = _free_port()
    command = [binary, "--backend-directory", backends, "--http-address", "127.0.0.1", "--http-port", str(port),
               "--allow-grpc", "false", "--allow-metrics", "false", "--disable-auto-complete-config",
               "--model-repository", repository_path, "--model-control-mode", "explicit", "--load-model", model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    client = httpclient.InferenceServerClient("127.0.0.1:{}".format(port), network_timeout=120.0)
    try:
        deadline = time.time() + 180
        while not _ready(client, model):
            assert process.poll() is None and time.time() < deadline, "tritonserver did not load {}".format(model)
            time.sleep(0.5)
        yield client, "127.0.0.1:{}".format(port)
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)


def _ready(client, model):
    try:
        return client.is_model_ready(model)
    except Exception:
        return False


def _keys(value):
    """The key structure of a JSON value: dicts by their keys (recursively), lists by their first item."""
    if isinstance(value, dict):
        return dict((key, _keys(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return type(value).__name__


@pytest.mark.skipif(not _has_tritonserver(), reason="needs a tritonserver binary (see tests/edge/test_triton_server.py)")
def test_the_answers_have_the_shapes_a_real_tritonserver_gives(triton, export_fused_int8_bundle, tmp_path):
    pytest.importorskip("onnx", reason="the repository's image models are written with onnx")
    repository = write_repository(export_fused_int8_bundle, str(tmp_path / "repo"), name="colours", **QUIET)
    batch = frames(export_fused_int8_bundle, 1)
    with tritonserver(triton, repository.path, "colours") as (real, real_address), \
            serving(export_fused_int8_bundle, model_name="colours", max_batch=4, max_delay_ms=0.0) as server:
        ours = httpclient.InferenceServerClient(url=server.address)
        theirs_config, ours_config = real.get_model_config("colours"), ours.get_model_config("colours")
        assert set(ours_config) <= set(theirs_config)
        for key in set(ours_config) - {"dynamic_batching"}:
            assert ours_config[key] == theirs_config[key], key   # the tensors with every field Triton prints
        assert ours_config["dynamic_batching"]["max_queue_delay_microseconds"] == \
            theirs_config["dynamic_batching"]["max_queue_delay_microseconds"]
        for client in (real, ours):
            infer(client, "colours", batch)
        theirs_stats, ours_stats = stats_of(real, "colours"), stats_of(ours, "colours")
        assert _keys(ours_stats) == _keys(theirs_stats)
        assert [(stats["inference_count"], stats["execution_count"], stats["inference_stats"]["success"]["count"])
                for stats in (theirs_stats, ours_stats)] == [(1, 1, 1)] * 2
        ready = [model for model in real.get_model_repository_index() if model["name"] == "colours"]
        assert ready == [model for model in ours.get_model_repository_index() if model["name"] == "colours"]
        for address in (real_address, server.address):
            connection = http.client.HTTPConnection(*address.split(":"))
            connection.request("GET", "/v2/models/nothing/config")
            response = connection.getresponse()
            assert (response.status, list(json.loads(response.read().decode("utf-8")))) == (404, ["error"])
            connection.close()
        ours.close()
