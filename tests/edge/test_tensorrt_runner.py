"""The TensorRT runner, runtime choice and bench rows on the strict fakes of TensorRT 8.2, 8.6 and 10.3.

The fakes (tests/fakes/trt) do what the real library does: fp16 engines round, shape setters
answer False outside the profile, create_execution_context answers None when memory is short,
and async copies land only when the stream is synchronized.
"""

import json
import os
import shutil

import numpy as np
import pytest

from edge.bundle.bundle import Bundle, read_manifest, write_manifest
from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8
from edge.errors import EdgeError
from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
from edge.runners.select import make_runner
from edge.runners.tensorrt.loader import unavailable_reason
from edge.runners.tensorrt.runner import TensorRTRunner
from edge.tensorrt.engines import add_engines
from edge.tensorrt.matching import engine_key
from tests.fakes.trt import install
from tests.fakes.tiny_bundle import write_tiny_bundle

QUIET = {"log": lambda text: None}
# (generation, device) as shipped: JetPack 4.6 on a Nano, JetPack 6.0 and 6.1 on an Orin.
SHIPPED = [("8.2", "nano"), ("8.6", "orin"), ("10.3", "orin")]


@pytest.fixture
def bundle_dir(tmp_path, export_int8_bundle):
    target = str(tmp_path / "bundle")
    shutil.copytree(export_int8_bundle, target)
    return target


@pytest.fixture
def fused_dir(tmp_path, export_fused_int8_bundle):
    target = str(tmp_path / "fused")
    shutil.copytree(export_fused_int8_bundle, target)
    return target


def _frames(export_images, count=6):
    from edge.bundle.preprocess import read_image
    from export.verify import list_images

    return [read_image(path) for path, _ in list_images(export_images)[:count]]


def _close_to_fp16(got, want):
    """Within fp16 rounding of the logits, and the same top-1."""
    scale = max(1.0, float(np.abs(want).max()))
    return np.abs(got - want).max() <= 5e-3 * scale and (got.argmax(1) == want.argmax(1)).all()


# ----------------------------------------------------------------------------- running engines

@pytest.mark.parametrize("generation, device", SHIPPED)
def test_fp16_engine_agrees_with_onnxruntime_within_fp16(monkeypatch, bundle_dir, export_images, generation,
                                                         device):
    from edge.bundle.preprocess import preprocess_batch

    trt = install(monkeypatch, generation, device=device)
    add_engines(bundle_dir, ["fp16"], **QUIET)
    bundle = Bundle.load(bundle_dir)
    batch = preprocess_batch(_frames(export_images), bundle.spec)
    with TensorRTRunner(bundle) as trt_runner, OnnxRuntimeRunner(bundle) as ort_runner:
        got, want = trt_runner.infer(batch), ort_runner.infer(batch)
        assert trt_runner.precision == "fp16" and "TensorRT" in trt_runner.describe()
        assert set(trt_runner.timings) == {"h2d", "compute", "d2h"}
    assert _close_to_fp16(got, want)
    assert np.abs(got - want).max() > 0          # the engine really computed in fp16
    assert trt.fake_memory.live() == []          # everything activation allocated was freed


@pytest.mark.parametrize("cuda", ["pycuda", "cuda-python"])
def test_runner_through_each_cuda_binding(monkeypatch, tmp_path, cuda):
    """edge.cuda.memory's real pycuda and cuda-python backends, against fakes of their documented APIs."""
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, "10.3" if cuda == "cuda-python" else "8.2", device="orin" if cuda == "cuda-python"
                  else "nano", cuda=cuda)
    add_engines(folder, ["fp32"], **QUIET)
    batch = np.random.RandomState(0).rand(6, 3, 32, 32).astype(np.float32)
    bundle = Bundle.load(folder)
    with TensorRTRunner(bundle) as runner, OnnxRuntimeRunner(bundle) as reference:
        assert np.allclose(runner.infer(batch), reference.infer(batch), atol=1e-5)
    assert trt.fake_memory.live() == []


def test_a_batch_larger_than_the_profile_runs_in_chunks_with_a_partial_last_one(monkeypatch, tmp_path):
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(2, 2, 4))
    install(monkeypatch, "8.6", device="orin")
    add_engines(folder, ["fp32"], **QUIET)
    bundle = Bundle.load(folder)
    rng = np.random.RandomState(1)
    with TensorRTRunner(bundle) as runner, OnnxRuntimeRunner(bundle) as reference:
        one = rng.rand(1, 3, 32, 32).astype(np.float32)          # below the profile's minimum of 2: padded
        assert np.allclose(runner.infer(one), reference.infer(one), atol=1e-5)
        ten = rng.rand(10, 3, 32, 32).astype(np.float32)         # 4 + 4 + 2
        assert np.allclose(runner.infer(ten), reference.infer(ten), atol=1e-5)
        three = rng.rand(3, 3, 32, 32).astype(np.float32)        # a smaller batch after a larger one
        assert np.allclose(runner.infer(three), reference.infer(three), atol=1e-5)


@pytest.mark.parametrize("generation", ["8.2", "10.3"])
def test_a_shape_outside_the_engines_profile_is_refused(monkeypatch, tmp_path, generation):
    """An engine whose manifest claims more than its profile takes: TensorRT's False is an error, not stale shapes."""
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, generation, device="nano" if generation == "8.2" else "orin")
    entry, = add_engines(folder, ["fp32"], **QUIET)
    manifest = read_manifest(folder)
    listed = [a for a in manifest["artifacts"] if a["file"] == entry["file"]][0]
    listed["batch"] = {"min": 1, "opt": 2, "max": 8}
    listed["key"] = engine_key(listed["onnx_sha256"], trt.__version__, listed["gpu"], listed["compute_capability"],
                               "fp32", listed["batch"], listed["input_shape"])
    write_manifest(folder, manifest)
    with TensorRTRunner(Bundle.load(folder)) as runner:
        with pytest.raises(EdgeError, match="refused input shape .*8, 3, 32, 32"):
            runner.infer(np.zeros((8, 3, 32, 32), np.float32))


def test_no_memory_for_an_execution_context_is_one_line_and_frees_everything(monkeypatch, tmp_path):
    folder = write_tiny_bundle(tmp_path / "b")
    trt = install(monkeypatch, "8.2", device="nano")
    add_engines(folder, ["fp16"], **QUIET)
    trt.fake_memory.free_bytes = 0             # a 4 GB Nano with the desktop and another process running
    with pytest.raises(EdgeError) as error:
        TensorRTRunner(Bundle.load(folder)).activate()
    message = str(error.value)
    assert "could not create an execution context" in message and "MB" in message and "\n" not in message
    assert trt.fake_memory.live() == []


def test_activation_failing_halfway_frees_what_it_allocated(monkeypatch, tmp_path):
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(1, 1, 4))
    trt = install(monkeypatch, "10.3", device="orin")
    add_engines(folder, ["fp32"], **QUIET)
    runner = TensorRTRunner(Bundle.load(folder))
    memory = trt.fake_memory
    real_alloc, calls = memory.alloc, []

    def second_alloc_fails(nbytes):
        calls.append(nbytes)
        if len(calls) == 2:
            raise EdgeError("CUDA cudaMalloc failed: out of memory")
        return real_alloc(nbytes)

    monkeypatch.setattr(memory, "alloc", second_alloc_fails)
    with pytest.raises(EdgeError, match="out of memory"):
        runner.activate()
    assert not runner.is_active and memory.live() == []


def test_gpu_memory_is_the_engines_activations_plus_its_io_buffers(monkeypatch, tmp_path):
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, "10.3", device="orin")
    add_engines(folder, ["fp32"], **QUIET)
    activations = trt.builds[-1]["device_memory_size"]
    with TensorRTRunner(Bundle.load(folder)) as runner:
        io_bytes = 4 * (4 * 3 * 32 * 32 + 4 * 3)            # float32 input and logits for a batch of 4
        assert activations > 0
        assert runner.gpu_memory_mb() == pytest.approx((activations + io_bytes) / 2.0 ** 20)


# ----------------------------------------------------------------------------- fused bundles

@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_fused_bundle_on_82_runs_its_float_pixel_engine_widening_only(monkeypatch, fused_dir, export_images,
                                                                      precision):
    from edge.tasks.classifier import Classifier

    trt = install(monkeypatch, "8.2", device="xavier")
    lines = []
    entry, = add_engines(fused_dir, [precision], log=lines.append)
    assert entry["input_format"] == INPUT_PIXELS
    assert entry["onnx_file"] == {"fp16": "model.pixels.onnx", "int8": "model.int8.trt.pixels.onnx"}[precision]
    assert entry["input_shape"] == [32, 32, 3]
    assert trt.builds[-1]["inputs"][0][1:] == [[-1, 32, 32, 3], "FLOAT"]   # NHWC float: 8.2 takes it
    assert any("no uint8 inputs" in line and "only widens" in line for line in lines)
    bundle = Bundle.load(fused_dir)
    frames = _frames(export_images, 12)
    import edge.runners.tensorrt.runner as runner_module

    monkeypatch.setattr(runner_module, "normalize_batch", None)   # the host must not normalise
    with TensorRTRunner(bundle) as trt_runner, OnnxRuntimeRunner(bundle, "fp32") as ort_runner:
        assert "widened to float32 on the host" in trt_runner.describe() and not trt_runner.host_normalises
        assert trt_runner.model_io()[2] == INPUT_PIXELS and trt_runner.input.dtype == np.float32
        batch = np.stack([Classifier(bundle, trt_runner).prepare(frame) for frame in frames])
        assert batch.dtype == np.uint8                       # callers feed a fused bundle uint8 frames
        got, want = trt_runner.infer(batch), ort_runner.infer(batch)   # ONNX Runtime: the uint8 fp32 model
    if precision == "fp16":
        assert _close_to_fp16(got, want)
    else:
        assert (got.argmax(1) == want.argmax(1)).mean() >= 0.98


def _old_style(fused_dir, plain_dir):
    """`fused_dir` as an older edge-export wrote it: its TensorRT 8.2 family takes normalised float NCHW
    (model.float.onnx, model.int8.trt.float.onnx: the plain export of the same checkpoint, static batch 1) instead
    of pixels."""
    from edge.bundle.bundle import artifact_entry, put_artifact

    manifest = read_manifest(fused_dir)
    manifest["artifacts"] = [e for e in manifest["artifacts"] if e.get("input_format") != INPUT_PIXELS and
                             e["kind"] != "calibration_cache"]
    manifest["verification"]["float_input"] = manifest["verification"].pop("float_pixels")
    for source, target, extra in (("model.onnx", "model.float.onnx", {"precision": "fp32"}),
                                  ("model.int8.trt.onnx", "model.int8.trt.float.onnx",
                                   {"precision": "int8", "flavor": "tensorrt-qdq-s8s8"})):
        shutil.copyfile(os.path.join(plain_dir, source), os.path.join(fused_dir, target))
        put_artifact(manifest, artifact_entry(fused_dir, target, "onnx", input_format=INPUT_FLOAT, opset=13,
                                              **extra))
    for name in ("model.pixels.onnx", "model.int8.trt.pixels.onnx"):
        os.unlink(os.path.join(fused_dir, name))
    write_manifest(fused_dir, manifest)
    return fused_dir


def test_an_older_fused_bundle_on_82_still_normalises_on_the_host(monkeypatch, fused_dir, export_int8_bundle,
                                                                  export_images):
    from edge.tasks.classifier import Classifier

    old = _old_style(fused_dir, export_int8_bundle)
    install(monkeypatch, "8.2", device="xavier")
    lines = []
    entry, = add_engines(old, ["fp16"], dynamic=(1, 1, 1), log=lines.append)   # the plain export's static batch
    assert entry["input_format"] == INPUT_FLOAT and entry["onnx_file"] == "model.float.onnx"
    assert any("no uint8 inputs" in line and "normalises frames on the host" in line for line in lines)
    bundle = Bundle.load(old)
    frames = _frames(export_images)
    with TensorRTRunner(bundle) as trt_runner, OnnxRuntimeRunner(bundle) as ort_runner:
        assert "normalised on the host" in trt_runner.describe()
        batch = np.stack([Classifier(bundle, trt_runner).prepare(frame) for frame in frames])
        assert batch.dtype == np.uint8
        assert _close_to_fp16(trt_runner.infer(batch), ort_runner.infer(batch))


@pytest.mark.parametrize("generation", ["8.6", "10.3"])
def test_fused_bundle_on_85_and_later_takes_uint8_in_the_engine(monkeypatch, fused_dir, export_images, generation):
    trt = install(monkeypatch, generation, device="orin")
    entry, = add_engines(fused_dir, ["int8"], **QUIET)
    assert entry["input_format"] == INPUT_UINT8 and entry["onnx_file"] == "model.int8.trt.onnx"
    assert trt.builds[-1]["inputs"][0][2] == "UINT8"
    bundle = Bundle.load(fused_dir)
    from edge.bundle.preprocess import resize_and_crop
    batch = np.stack([resize_and_crop(frame, bundle.spec) for frame in _frames(export_images, 12)])
    with TensorRTRunner(bundle) as trt_runner, OnnxRuntimeRunner(bundle, "fp32") as ort_runner:
        assert "host" not in trt_runner.describe()
        agreement = (trt_runner.infer(batch).argmax(1) == ort_runner.infer(batch).argmax(1)).mean()
    assert agreement >= 0.98


# ----------------------------------------------------------------------------- which engine, which runtime

def test_engine_for_another_gpu_is_refused_with_the_rebuild_command(monkeypatch, bundle_dir):
    install(monkeypatch, "8.2", device="nano")
    add_engines(bundle_dir, ["fp16"], **QUIET)
    install(monkeypatch, "8.2", device="tx2")  # the bundle moved to another Jetson
    with pytest.raises(EdgeError) as error:
        TensorRTRunner(Bundle.load(bundle_dir)).activate()
    message = str(error.value)
    assert "NVIDIA Tegra X1" in message and "NVIDIA Tegra X2" in message
    assert "edge-export {} --engine fp16".format(bundle_dir) in message and "--build-engine" in message


def test_an_engine_keyed_from_nvidia_smi_runs_where_cuda_answers(monkeypatch, tmp_path):
    """JetPack 6: nvidia-smi says "Orin (nvgpu)", CUDA says "Orin"; either way it is this GPU."""
    folder = write_tiny_bundle(tmp_path / "b")
    install(monkeypatch, "10.3", device="orin", cuda=None)      # building needs no CUDA binding
    entry, = add_engines(folder, ["fp16"], **QUIET)
    assert entry["gpu"] == "Orin"
    install(monkeypatch, "10.3", device="orin", cuda="cuda-python")
    with TensorRTRunner(Bundle.load(folder)) as runner:
        assert runner.infer(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 3)


def test_an_engine_recorded_with_the_nvidia_smi_name_is_still_accepted(monkeypatch, tmp_path):
    """A manifest written before names were made canonical ("Orin (nvgpu)") keeps working."""
    folder = write_tiny_bundle(tmp_path / "b")
    trt = install(monkeypatch, "10.3", device="orin")
    entry, = add_engines(folder, ["fp16"], **QUIET)
    manifest = read_manifest(folder)
    listed = [a for a in manifest["artifacts"] if a["file"] == entry["file"]][0]
    listed["gpu"] = "Orin (nvgpu)"
    listed["key"] = engine_key(listed["onnx_sha256"], trt.__version__, "Orin (nvgpu)", "8.7", "fp16",
                               listed["batch"], listed["input_shape"])
    write_manifest(folder, manifest)
    with TensorRTRunner(Bundle.load(folder)) as runner:
        assert runner.entry["gpu"] == "Orin (nvgpu)"


def test_a_nano_without_nvidia_smi_or_cuda_binding_keys_engines_like_cuda(monkeypatch, tmp_path):
    folder = write_tiny_bundle(tmp_path / "b")
    install(monkeypatch, "8.2", device="nano", cuda=None)       # device tree only
    entry, = add_engines(folder, ["fp16"], **QUIET)
    install(monkeypatch, "8.2", device="nano", cuda="pycuda")
    with TensorRTRunner(Bundle.load(folder)) as runner:
        assert runner.entry["file"] == entry["file"]


def test_build_engine_builds_once_then_reuses(monkeypatch, bundle_dir):
    trt = install(monkeypatch, "10.3", device="orin")
    with TensorRTRunner(Bundle.load(bundle_dir), build_engine=True) as runner:
        assert runner.precision == "fp16"
    builds = len(trt.builds)
    with TensorRTRunner(Bundle.load(bundle_dir), build_engine=True) as runner:
        assert runner.precision == "fp16"
    assert len(trt.builds) == builds == 1


def test_auto_takes_tensorrt_only_with_an_engine_for_this_device(monkeypatch, bundle_dir):
    install(monkeypatch, "10.3", device="orin")
    runner, why = make_runner(Bundle.load(bundle_dir))
    assert isinstance(runner, OnnxRuntimeRunner) and "--engine fp16" in why
    add_engines(bundle_dir, ["int8"], **QUIET)
    runner, why = make_runner(Bundle.load(bundle_dir))
    assert isinstance(runner, TensorRTRunner) and "fits this GPU and TensorRT" in why
    with runner:
        assert runner.precision == "int8"
    install(monkeypatch, "8.6", device="orin")        # JetPack 6.0: the 10.3 engine does not load here
    runner, why = make_runner(Bundle.load(bundle_dir))
    assert isinstance(runner, OnnxRuntimeRunner)
    assert "TensorRT 10.3" in why and "edge-export {} --engine".format(bundle_dir) in why


def test_auto_on_a_jetson_without_onnxruntime_names_the_build_command(monkeypatch, bundle_dir):
    import sys

    install(monkeypatch, "8.2", device="nano")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EdgeError) as error:
        make_runner(Bundle.load(bundle_dir))
    message = str(error.value)
    assert "edge-export {} --engine fp16".format(bundle_dir) in message and "--build-engine" in message
    assert "\n" not in message
    runner, why = make_runner(Bundle.load(bundle_dir), build_engine=True)
    assert isinstance(runner, TensorRTRunner) and "--build-engine" in why


def test_predict_with_tensorrt(monkeypatch, bundle_dir, export_images, capsys):
    from edge.predict import main
    install(monkeypatch, "8.2", device="nano")
    add_engines(bundle_dir, ["fp16"], **QUIET)
    assert main([bundle_dir, export_images, "--runtime", "tensorrt", "--json", "-"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["results"]
    assert "edge-predict: runtime: tensorrt fp16" in captured.err and len(rows) == 36


def test_bench_rows_say_why_tensorrt_precisions_cannot_run(monkeypatch, bundle_dir):
    install(monkeypatch, "8.2", device="nano")
    bundle = Bundle.load(bundle_dir)
    assert "INT8: no fast INT8 on this GPU" in unavailable_reason(bundle, "int8")
    assert "edge-export {} --engine fp16".format(bundle_dir) in unavailable_reason(bundle, "fp16")
    add_engines(bundle_dir, ["fp16"], **QUIET)
    assert unavailable_reason(Bundle.load(bundle_dir), "fp16") is None
