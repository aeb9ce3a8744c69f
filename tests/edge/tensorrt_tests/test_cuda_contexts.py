"""CUDA contexts are per thread: TensorRT objects belong to theirs, and the code that runs inference
off the thread that loaded it makes its context current (edge.cuda.memory's `current()`).

The fakes' rules: test_cuda_context_rules.py. Here: the TensorRT fake's, then edge.cuda.memory's
scope, the TensorRT runner activated on one thread and called on others, the calibrator,
edge-doctor's round trip, edge-camera and edge-bench, each through the bindings' fakes.
"""

import sys
import threading
import warnings

import numpy as np
import pytest

import edge.cuda.memory
from edge.bundle.bundle import Bundle
from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
from edge.runners.tensorrt.runner import TensorRTRunner
from edge.tensorrt.engines import add_engines
from tests.edge.threads import on_thread
from tests.fakes.cuda import CudaFault
from tests.fakes.trt import install
from tests.fakes.tiny_bundle import write_tiny_bundle

QUIET = {"log": lambda text: None}
BINDINGS = ["backend", "pycuda", "cuda-python"]


def _tiny_engine(tmp_path, monkeypatch, generation="10.3", cuda="backend"):
    """(trt, bundle) with an fp32 engine of the tiny dynamic-batch model for an Orin (a Nano for 8.x)."""
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, generation, device="orin" if generation != "8.2" else "nano", cuda=cuda)
    add_engines(folder, ["fp32"], **QUIET)
    return trt, Bundle.load(folder)


# ----------------------------------------------------------------------------- TensorRT's rules

def test_tensorrt_runs_only_in_the_context_of_its_engine(monkeypatch, tmp_path):
    trt, bundle = _tiny_engine(tmp_path, monkeypatch)
    device = trt.fake_memory.device
    contexts = device.contexts
    with open(bundle.file(bundle.artifacts("tensorrt_engine")[0]), "rb") as handle:
        plan = handle.read()
    own = contexts.create()                              # the engine is deserialized in this context
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    x, y = device.alloc(4 * 3 * 32 * 32), device.alloc(4 * 3)
    stream = device.create_stream()
    assert context.set_input_shape("input", (1, 3, 32, 32))
    context.set_tensor_address("input", x)
    context.set_tensor_address("logits", y)
    contexts.pop()
    assert on_thread(context.execute_async_v3, stream) is False   # the primary context there, not its own
    assert "invalid resource handle" in trt.log_messages[-1][1]

    def in_own_context():
        contexts.push(own)
        try:
            ran = context.execute_async_v3(stream)
            device.synchronize(stream)
            return ran
        finally:
            contexts.pop()
    assert on_thread(in_own_context) is True
    primary_pointer = on_thread(lambda: (contexts.runtime_current(), device.alloc(4 * 3))[1])
    context.set_tensor_address("logits", primary_pointer)
    contexts.push(own)
    assert context.execute_async_v3(stream) is True     # queued; the kernel faults when it runs
    with pytest.raises(CudaFault, match="illegal memory access.*another CUDA context"):
        device.synchronize(stream)
    contexts.pop()


# ----------------------------------------------------------------------------- edge.cuda.memory

@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_the_backend_scope_is_per_thread_nests_and_restores_what_was_current(monkeypatch, binding):
    trt = install(monkeypatch, "8.6", device="orin", cuda=binding)
    contexts = trt.fake_memory.device.contexts
    memory = edge.cuda.memory.backend()
    assert contexts.current() is None and sys.modules.get("pycuda.autoinit") is None   # never imported
    with memory.current():
        assert contexts.current() is contexts.primary and on_thread(contexts.current) is None
        with memory.current():
            assert len(contexts.stack()) == 1          # nested: not pushed again
        assert contexts.current() is contexts.primary
    assert contexts.current() is None
    foreign = contexts.create()                        # something else's context, current on this thread
    with memory.current():
        assert contexts.current() is contexts.primary
    assert contexts.current() is foreign
    contexts.destroy(foreign)

    def scoped_alloc():
        with memory.current():
            return contexts.current(), memory.alloc(16)
    current, buffer = on_thread(scoped_alloc)
    assert current is contexts.primary
    with memory.current():
        memory.free(buffer)
    assert trt.fake_memory.live() == []


# ----------------------------------------------------------------------------- the TensorRT runner

@pytest.mark.parametrize("binding", BINDINGS + ["pycuda-2019"])
def test_the_runner_activated_on_one_thread_infers_and_deactivates_on_others(monkeypatch, tmp_path, binding):
    cuda = "pycuda" if binding == "pycuda-2019" else binding
    trt, bundle = _tiny_engine(tmp_path, monkeypatch, "8.2" if cuda == "pycuda" else "10.3", cuda=cuda)
    if binding == "pycuda-2019":   # no retain_primary_context before pycuda 2020.1: a context of its own, so
        monkeypatch.delattr(sys.modules["pycuda.driver"].Device, "retain_primary_context")   # TensorRT must
        monkeypatch.setattr(edge.cuda.memory, "_BACKEND", None)   # make the engine inside the runner's scope
    batch = np.random.RandomState(0).rand(6, 3, 32, 32).astype(np.float32)
    with OnnxRuntimeRunner(bundle) as reference:
        want = reference.infer(batch)
    runner = TensorRTRunner(bundle).activate()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert np.allclose(on_thread(runner.infer, batch), want, atol=1e-5)
        assert np.allclose(on_thread(runner.infer, batch[:1]), want[:1], atol=1e-5)
        assert np.allclose(runner.infer(batch[2:5]), want[2:5], atol=1e-5)
        on_thread(runner.deactivate)
    assert not [w for w in caught if "out-of-thread" in str(w.message)]   # pycuda could not free something
    assert trt.fake_memory.live() == []


def test_concurrent_infer_calls_take_turns_through_the_shared_buffers(monkeypatch, tmp_path):
    trt, bundle = _tiny_engine(tmp_path, monkeypatch, "8.2", cuda="pycuda")
    rng = np.random.RandomState(1)
    batches = [rng.rand(1 + n % 4, 3, 32, 32).astype(np.float32) for n in range(8)]
    with OnnxRuntimeRunner(bundle) as reference:
        wants = [reference.infer(batch) for batch in batches]
    results = {}
    with TensorRTRunner(bundle) as runner:
        def work(index):
            for _ in range(3):
                results[index] = runner.infer(batches[index])
        threads = [threading.Thread(target=work, args=(n,)) for n in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert all(np.allclose(results[n], wants[n], atol=1e-5) for n in range(len(batches)))
    assert trt.fake_memory.live() == []


# ----------------------------------------------------------------------------- calibration, doctor, camera, bench

def test_a_calibration_cache_is_written_from_a_worker_thread(monkeypatch, tmp_path):
    from edge.tensorrt.calibration_cache import write_calibration_cache

    folder = write_tiny_bundle(tmp_path / "tiny")
    trt = install(monkeypatch, "8.2", device="xavier", cuda="pycuda")
    batches = [np.full((1, 3, 32, 32), i / 10.0, np.float32) for i in range(4)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = on_thread(write_calibration_cache, folder, "model.onnx", batches, "entropy", lambda text: None)
    assert not [w for w in caught if "out-of-thread" in str(w.message)]
    assert entry["images"] == 4 and trt.builds[-1]["calibration"]["amax"] == {"input": pytest.approx(0.3)}
    assert trt.fake_memory.live() == []


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_edge_doctor_round_trip_from_a_worker_thread(monkeypatch, binding):
    from edge.doctor import machine

    trt = install(monkeypatch, "8.6", device="orin", cuda=binding)
    check = on_thread(machine.check_cuda_binding, True)
    assert (check.status, check.detail) == ("pass", "{}: 1.0 MiB round trip intact".format(binding))
    check = machine.check_cuda_binding(jetson=True)     # then on this thread, the backend already made
    assert check.status == "pass" and trt.fake_memory.live() == []


def test_edge_camera_runs_tensorrt_through_pycuda_without_autoinit(monkeypatch, tmp_path, video):
    """edge-camera activates and infers on its main thread (the grabber thread only reads frames);
    through pycuda that works without pycuda.autoinit, all in the runner's own context."""
    from edge import camera
    from edge.daemon.loop import CameraDaemon

    trt, bundle = _tiny_engine(tmp_path, monkeypatch, "8.2", cuda="pycuda")
    monkeypatch.setattr(CameraDaemon, "install_signal_handlers", lambda self: None)   # pytest keeps its own
    jsonl = str(tmp_path / "results.jsonl")
    code = camera.main([bundle.path, "--source", video, "--runtime", "tensorrt", "--precision", "fp32",
                        "--max-frames", "5", "--jsonl", jsonl, "--log-every", "60"])
    with open(jsonl) as handle:
        assert code == 0 and len(handle.readlines()) == 5
    assert trt.fake_memory.live() == [] and sys.modules.get("pycuda.autoinit") is None


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_edge_bench_rows_for_tensorrt_through_each_binding(monkeypatch, tmp_path, binding):
    """edge-bench runs each candidate on its calling thread: here a worker thread, not the main one."""
    from edge import bench

    trt, bundle = _tiny_engine(tmp_path, monkeypatch, "8.2" if binding == "pycuda" else "10.3", cuda=binding)
    out = str(tmp_path / "bench.json")
    code = on_thread(bench.main, [bundle.path, "--runtimes", "tensorrt", "--precisions", "fp32", "--warmup", "0.01", "--batch", "1,4",
                                  "--min-time", "0", "--min-iters", "2", "--json", out])
    assert code == 0 and trt.fake_memory.live() == []
