"""edge-serve on the TensorRT runner, with concurrent clients, through each CUDA binding's fake.

The service activates the runner on its main thread and runs every batch on the batcher's own
thread. CUDA contexts are per thread (tests/fakes/cuda/contexts.py): with `pycuda.autoinit`'s
context, current on the importing thread only, every request failed on a Jetson with "invalid
device context" (inducer/pycuda#242, NVIDIA/TensorRT#475) while readiness said 200. The runner now
makes its own context current around each call, whichever thread calls.

With cuda-python the runtime API picks the device's primary context by itself on a thread with
none current (CUDA runtime API, "Interactions with the CUDA Driver API"), so that binding worked
across threads already; the test holds it to the same answers.
"""

import json
import threading

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
from edge.tensorrt.engines import add_engines
from tests.edge.serving import serving
from tests.fakes.trt import install
from tests.fakes.tiny_bundle import write_tiny_bundle

CLIENTS, REQUESTS_EACH = 6, 3
BINDINGS = [("pycuda", "8.2", "nano"), ("cuda-python", "10.3", "orin")]


class ThreadRecorder(object):
    """The runner, recording which thread each infer ran on."""

    def __init__(self, runner):
        self.runner, self.threads = runner, []

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def infer(self, batch):
        self.threads.append(threading.current_thread().name)
        return self.runner.infer(batch)


def _body(rows):
    return json.dumps({"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                                   "data": rows.ravel().tolist()}]}).encode("utf-8")


def _concurrently(server, inputs):
    """[(status, answer)] of one KServe infer request per input, sent by CLIENTS threads at once."""
    answers, start = {}, threading.Barrier(CLIENTS)

    def client(index):
        start.wait(30)
        for number in range(index, len(inputs), CLIENTS):
            answers[number] = server.json("POST", "/v2/models/tiny/infer", _body(inputs[number]),
                                          {"Content-Type": "application/json"})
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return [(answers[n][0], answers[n][2]) for n in range(len(inputs))]


@pytest.mark.parametrize("binding, generation, device", BINDINGS)
def test_concurrent_requests_on_the_tensorrt_runner_are_all_answered(monkeypatch, tmp_path, binding, generation,
                                                                     device):
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, generation, device=device, cuda=binding)
    add_engines(folder, ["fp32"], log=lambda text: None)
    rng = np.random.RandomState(7)
    inputs = [rng.rand(1 + n % 2, 3, 32, 32).astype(np.float32) for n in range(CLIENTS * REQUESTS_EACH)]
    recorders = []
    with serving(folder, runtime="tensorrt", precision="fp32", model_name="tiny", max_batch=4,
                 runner_wrapper=lambda runner: recorders.append(ThreadRecorder(runner)) or recorders[0]) as server:
        assert server.request("GET", "/v2/health/ready")[0] == 200
        answers = _concurrently(server, inputs)
    failed = [answer for status, answer in answers if status != 200]
    assert not failed, "{} of {} requests failed, the first: {}".format(len(failed), len(answers), failed[0])
    with OnnxRuntimeRunner(Bundle.load(folder)) as reference:
        for rows, (_, answer) in zip(inputs, answers):
            output, = answer["outputs"]
            got = np.array(output["data"], np.float32).reshape(output["shape"])
            assert np.allclose(got, reference.infer(rows), atol=1e-5)
    recorder, = recorders
    assert recorder.threads[0] == threading.current_thread().name   # the warm-up, on the activating thread
    assert set(recorder.threads[1:]) == {"serve-batcher"}             # every request: the batcher's thread
    assert trt.fake_memory.live() == []                               # deactivated: everything freed


def test_a_fused_bundle_on_82_is_served_uint8_frames_its_engine_takes_as_float_pixels(monkeypatch, tmp_path,
                                                                                    export_fused_int8_bundle):
    import shutil

    from edge.bundle.schema import INPUT_PIXELS

    folder = str(tmp_path / "fused")
    shutil.copytree(export_fused_int8_bundle, folder)
    install(monkeypatch, "8.2", device="nano")
    engine, = add_engines(folder, ["fp32"], log=lambda text: None)
    assert engine["input_format"] == INPUT_PIXELS
    frames = np.random.RandomState(3).randint(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    body = json.dumps({"inputs": [{"name": "input", "shape": list(frames.shape), "datatype": "UINT8",
                                   "data": frames.ravel().tolist()}]}).encode("utf-8")
    with serving(folder, runtime="tensorrt", precision="fp32", model_name="fused", max_batch=4) as server:
        status, _, answer = server.json("POST", "/v2/models/fused/infer", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    output, = answer["outputs"]
    got = np.array(output["data"], np.float32).reshape(output["shape"])
    with OnnxRuntimeRunner(Bundle.load(folder)) as reference:   # the uint8 model, normalising in its graph
        want = reference.infer(frames)
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
