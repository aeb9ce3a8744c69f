"""edge-serve within bounds: its threads do not grow with --max-queue; a request with more images than a
runner call takes is split into calls the model's batch range allows; JSON nested too deeply and
tensors holding NaN or infinities are 400s, not 500s or answers."""

import http.client
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

from tests.edge.realparts import free_port
from tests.edge.serving import serving
from tests.edge.test_serve_cli import start_server

THREADS_AT_MOST = 120   # the pool, its lanes, the batcher, ONNX Runtime's: nothing per queue slot


def thread_count(pid):
    try:
        return len(os.listdir("/proc/{}/task".format(pid)))
    except OSError:
        return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_a_queue_of_100000_and_batches_of_1024_start_a_fixed_number_of_threads(export_fp32_bundle):
    port = free_port()
    server = start_server([export_fp32_bundle, "--port", port, "--max-queue", "100000", "--max-batch", "1024",
                           "--runtime", "onnxruntime", "--precision", "fp32", "--threads", "1"])
    peak, done = [0], threading.Event()

    def watch():   # every 10 ms; a thread per queue slot is stopped before it takes the machine's pids
        while not done.is_set() and server.poll() is None:
            peak[0] = max(peak[0], thread_count(server.pid))
            if peak[0] > 10 * THREADS_AT_MOST:
                server.kill()
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    status = None
    try:
        deadline = time.time() + 90
        while status != 200 and time.time() < deadline and server.poll() is None:
            status = ready(port)
            time.sleep(0.05)
        time.sleep(0.5)
        alive = server.poll() is None
    finally:
        done.set()
        watcher.join(30)
        if server.poll() is None:
            server.kill()
        server.wait(30)
    print("edge-serve --max-queue 100000 --max-batch 1024: {} threads at most, ready: {}".format(
        peak[0], status == 200))
    assert peak[0] <= THREADS_AT_MOST
    assert alive and status == 200, server.stderr.read()[-2000:]


def ready(port):
    """/v2/health/ready's status, or None while the server does not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/v2/health/ready")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class Recording(object):
    """A runner that records how many rows each call gets."""

    def __init__(self, runner):
        self.runner, self.calls = runner, []
        self.name, self.describe = runner.name, runner.describe

    def activate(self):
        return self.runner.activate()

    def deactivate(self):
        return self.runner.deactivate()

    def infer(self, rows):
        self.calls.append(int(rows.shape[0]))
        return self.runner.infer(rows)


def binary_request(rows, datatype):
    head = json.dumps({"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": datatype,
                                   "parameters": {"binary_data_size": rows.nbytes}}]}).encode("utf-8")
    return head + rows.tobytes(), {"Content-Type": "application/octet-stream",
                                   "Inference-Header-Content-Length": str(len(head))}


def test_a_request_with_more_images_than_the_batch_range_runs_in_calls_within_it(export_fused_int8_bundle):
    recorded = []
    with serving(export_fused_int8_bundle, model_name="colours", max_batch=4,
                 runner_wrapper=lambda runner: recorded.append(Recording(runner)) or recorded[0]) as server:
        runner = recorded[0]
        rows = np.random.RandomState(0).randint(0, 256, size=(10, 32, 32, 3)).astype(np.uint8)
        single = [runner.runner.infer(rows[index:index + 1]) for index in range(10)]
        del runner.calls[:]
        status, _, answer = server.json("POST", "/v2/models/colours/infer", *binary_request(rows, "UINT8"))
    assert status == 200, answer
    logits = np.array(answer["outputs"][0]["data"], np.float32).reshape(answer["outputs"][0]["shape"])
    assert logits.shape == (10, 3)
    assert np.abs(logits - np.concatenate(single)).max() <= 1e-4
    assert runner.calls == [4, 4, 2]   # never more than the bundle's batch maximum (4) a call


@pytest.fixture(scope="module")
def server(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours") as running:
        yield running


def tensor_body(data, shape=(1, 3, 32, 32)):
    document = {"inputs": [{"name": "input", "shape": list(shape), "datatype": "FP32", "data": data}]}
    return json.dumps(document).encode("utf-8")   # allow_nan: NaN and Infinity as Python's json writes them


@pytest.mark.parametrize("body", [
    b'{"inputs": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    b'{"id": ' + b'{"a": ' * 50000 + b"1" + b"}" * 50000 + b"}",
    b'{"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": ' + b"[" * 700 + b"0"
    + b"]" * 700 + b"}]}",
], ids=["lists", "objects", "data"])
def test_json_nested_too_deeply_is_a_400(server, body):
    status, _, answer = server.json("POST", "/v2/models/colours/infer", body, {"Content-Type": "application/json"})
    assert status == 400, answer
    assert server.request("GET", "/v2/health/ready")[0] == 200


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e39])
def test_nan_or_infinite_input_values_are_a_400(server, value):
    data = [0.0] * (3 * 32 * 32)
    data[17] = value
    status, _, answer = server.json("POST", "/v2/models/colours/infer", tensor_body(data))
    assert status == 400 and "NaN or infinite" in answer["error"], answer
    rows = np.zeros((2, 3, 32, 32), np.float32)
    with np.errstate(over="ignore"):
        rows[1, 2, 5, 5] = value   # 1e39: FP32's infinity
    status, _, answer = server.json("POST", "/v2/models/colours/infer", *binary_request(rows, "FP32"))
    assert status == 400 and "NaN or infinite" in answer["error"], answer
    status, _, answer = server.json("POST", "/v2/models/colours/infer", tensor_body([0.5] * (3 * 32 * 32)))
    assert status == 200 and np.isfinite(answer["outputs"][0]["data"]).all()
