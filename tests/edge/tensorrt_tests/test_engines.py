"""export.device (add_engines, write_calibration_cache, engine_key, find_engine) against the fakes.

Bundles are made with the onnx helper API (tests/fakes/tiny_bundle.py): no torch anywhere.
"""

import os
import shutil
import sys
import warnings

import numpy as np
import pytest

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle, read_manifest, write_manifest
from edge.errors import EdgeError, MissingDependency
from edge.tensorrt.calibration_cache import write_calibration_cache
from edge.tensorrt.engines import add_engines
from edge.tensorrt.matching import engine_key, find_engine
from tests.fakes.trt import GENERATIONS, install
from tests.fakes.tiny_bundle import snapshot, write_tiny_bundle


def refused_unchanged(bundle, precisions, match, **options):
    """add_engines refuses with `match`, and the bundle is byte for byte as it was."""
    before = snapshot(bundle)
    with pytest.raises(EdgeError, match=match):
        add_engines(bundle, precisions, **options)
    assert snapshot(bundle) == before


@pytest.fixture
def bundle(tmp_path):
    return write_tiny_bundle(tmp_path / "bundle")


@pytest.fixture
def dynamic_bundle(tmp_path):
    return write_tiny_bundle(tmp_path / "dynamic", dynamic=True, batch=(1, 2, 8))


def here(trt, gpu="NVIDIA Tegra X1", capability="5.3"):
    return {"gpu": gpu, "compute_capability": capability, "tensorrt_version": trt.__version__}


def engines(bundle_dir):
    return Bundle.load(bundle_dir).artifacts("tensorrt_engine")


# ----------------------------------------------------------------------------- building

@pytest.mark.parametrize("generation", GENERATIONS)
def test_fp16_engine_with_that_generations_api(monkeypatch, bundle, generation):
    trt = install(monkeypatch, generation, device="nano")
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)   # 8.6 has both APIs: the new one is taken
        entries = add_engines(bundle, ["fp16"], workspace_mb=128, log=lines.append)
    record = trt.builds[-1]
    assert record["flags"] == ["FP16", "TF32"]
    assert record["workspace"] == ("max_workspace_size" if generation == "8.2" else "memory_pool_limit", 128 << 20)
    entry = engines(bundle)[0]
    assert entry == entries[0]
    assert entry["file"] == "engine-fp16-{}.plan".format(entry["key"]) and len(entry["key"]) == 12
    expected = {"precision": "fp16", "requested_precision": "fp16", "tensorrt_version": trt.__version__,
                "gpu": "NVIDIA Tegra X1", "compute_capability": "5.3", "onnx_file": "model.onnx",
                "batch": {"min": 1, "opt": 1, "max": 1}, "workspace_mb": 128, "int8_mode": None}
    assert dict((k, entry[k]) for k in expected) == expected
    assert entry["onnx_sha256"] == Bundle.load(bundle).artifact("onnx", precision="fp32")["sha256"]
    Bundle.load(bundle).check(entry)
    with open(os.path.join(bundle, entry["file"]), "rb") as handle:
        engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(handle.read())
    assert engine is not None
    assert any("fast FP16 yes, fast INT8 no" in line for line in lines)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_int8_on_a_nano_builds_fp16_and_says_so(monkeypatch, bundle, generation):
    trt = install(monkeypatch, generation, device="nano")
    lines = []
    add_engines(bundle, ["int8"], log=lines.append)
    warning = [line for line in lines if line.startswith("warning:")]
    assert len(warning) == 1 and "no fast INT8" in warning[0] and "building FP16 instead" in warning[0]
    entry, = engines(bundle)
    assert (entry["precision"], entry["requested_precision"]) == ("fp16", "int8")
    assert trt.builds[-1]["flags"] == ["FP16", "TF32"] and trt.builds[-1]["onnx"]["qdq"] is False
    assert find_engine(Bundle.load(bundle), "int8", here(trt))[0] == entry


@pytest.mark.parametrize("generation", GENERATIONS)
def test_strict_refuses_before_anything_is_written(monkeypatch, bundle, generation):
    trt = install(monkeypatch, generation, device="nano")
    refused_unchanged(bundle, ["fp16", "int8"], "no fast INT8.*--strict", strict=True)
    assert trt.builds == []


def test_fp16_without_fast_fp16_builds_fp32(monkeypatch, bundle):
    install(monkeypatch, "8.2", device="gtx1080")
    lines = []
    add_engines(bundle, ["fp16"], log=lines.append)
    entry, = engines(bundle)
    assert (entry["precision"], entry["requested_precision"]) == ("fp32", "fp16")
    assert any("no fast FP16" in line and "building FP32 instead" in line for line in lines)


def test_fp16_and_int8_on_a_nano_are_one_engine_serving_both(monkeypatch, bundle):
    trt = install(monkeypatch, "8.2", device="nano")
    add_engines(bundle, ["fp16", "int8"])
    entry, = engines(bundle)
    assert len(trt.builds) == 1 and entry["requested_precision"] == "fp16" and entry["also_requested"] == ["int8"]
    assert find_engine(Bundle.load(bundle), "int8", here(trt))[0]["file"] == entry["file"]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_int8_on_orin_is_explicit_from_the_qdq_model(monkeypatch, bundle, generation):
    trt = install(monkeypatch, generation, device="orin")
    add_engines(bundle, ["int8"])
    record = trt.builds[-1]
    assert record["flags"] == ["FP16", "INT8", "TF32"] and record["calibration"] is None and record["onnx"]["qdq"]
    entry, = engines(bundle)
    assert (entry["precision"], entry["int8_mode"], entry["onnx_file"]) == ("int8", "explicit-qdq",
                                                                            "model.int8.trt.onnx")


def test_int8_from_a_calibration_cache_on_82_only(monkeypatch, tmp_path):
    trt = install(monkeypatch, "8.2", device="xavier")
    source = write_tiny_bundle(tmp_path / "calib", qdq=False)
    batches = [np.random.RandomState(i).rand(1, 3, 32, 32).astype(np.float32) for i in range(4)]
    manifest = read_manifest(source)
    manifest["artifacts"].append(write_calibration_cache(source, "model.onnx", batches, "minmax"))
    write_manifest(source, manifest)
    add_engines(source, ["int8"])
    record = trt.builds[-1]
    assert record["flags"] == ["FP16", "INT8", "TF32"] and record["calibration"]["from"] == "cache"
    entry, = engines(source)
    assert entry["int8_mode"] == "implicit-calibration" and entry["onnx_file"] == "model.onnx"
    assert entry["calibration_cache_sha256"] == Bundle.load(source).artifact("calibration_cache")["sha256"]

    other = str(tmp_path / "other")
    shutil.copytree(source, other)
    install(monkeypatch, "10.3", device="orin")
    refused_unchanged(other, ["int8"], "INT8 from a QDQ model only.*--int8-flavors tensorrt-qdq-s8s8")


def test_int8_needs_a_qdq_model_or_cache(monkeypatch, tmp_path):
    install(monkeypatch, "8.2", device="orin")
    plain = write_tiny_bundle(tmp_path / "plain", qdq=False)
    with pytest.raises(EdgeError, match="re-export with --int8 --calib DIR"):
        add_engines(plain, ["int8"])


def test_dynamic_batch_profile_from_the_manifest_or_the_argument(monkeypatch, dynamic_bundle):
    trt = install(monkeypatch, "10.3", device="orin")
    add_engines(dynamic_bundle, ["fp32"])
    assert trt.builds[-1]["profiles"] == [{"input": [[1, 3, 32, 32], [2, 3, 32, 32], [8, 3, 32, 32]]}]
    add_engines(dynamic_bundle, ["fp32"], dynamic=(1, 4, 4))
    assert trt.builds[-1]["profiles"] == [{"input": [[1, 3, 32, 32], [4, 3, 32, 32], [4, 3, 32, 32]]}]
    batches = sorted((e["batch"]["opt"], e["batch"]["max"]) for e in engines(dynamic_bundle))
    assert batches == [(2, 8), (4, 4)]   # different shapes, different keys: both kept
    with pytest.raises(EdgeError, match="min <= opt <= max"):
        add_engines(dynamic_bundle, ["fp32"], dynamic=(4, 1, 8))


# ----------------------------------------------------------------------------- caches and keys

def test_timing_cache_written_in_the_bundle_and_reused(monkeypatch, tmp_path, bundle):
    trt = install(monkeypatch, "8.2", device="nano")
    add_engines(bundle, ["fp32"])
    caches = [name for name in os.listdir(bundle) if name.startswith("timing-")]
    assert len(caches) == 1 and trt.builds[-1]["timing_cache_hit"] is False
    # Listed like every other file in the bundle: sha256, and the device it belongs to.
    listed = [a for a in read_manifest(bundle)["artifacts"] if a["kind"] == "timing_cache"]
    assert [a["file"] for a in listed] == caches
    assert listed[0]["sha256"] == sha256_file(os.path.join(bundle, caches[0]))
    assert (listed[0]["gpu"], listed[0]["compute_capability"], listed[0]["tensorrt_version"]) == \
        ("NVIDIA Tegra X1", "5.3", "8.2.1.8")
    copy = str(tmp_path / "copy")
    shutil.copytree(bundle, copy)
    for entry in engines(copy):
        os.unlink(os.path.join(copy, entry["file"]))
    manifest = read_manifest(copy)
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["kind"] != "tensorrt_engine"]
    write_manifest(copy, manifest)
    lines = []
    add_engines(copy, ["fp32"], log=lines.append)
    assert trt.builds[-1]["timing_cache_hit"] is True and any("timing cache reused" in line for line in lines)


def test_explicit_timing_cache_path(monkeypatch, tmp_path, bundle):
    install(monkeypatch, "10.3", device="orin")
    path = str(tmp_path / "shared.cache")
    add_engines(bundle, ["fp16"], timing_cache=path)
    assert os.path.isfile(path) and not [n for n in os.listdir(bundle) if n.startswith("timing-")]
    assert not [a for a in read_manifest(bundle)["artifacts"] if a["kind"] == "timing_cache"]


def test_cached_engine_is_reused_and_a_damaged_one_rebuilt(monkeypatch, bundle):
    trt = install(monkeypatch, "8.2", device="nano")
    first, = add_engines(bundle, ["fp16"])
    lines = []
    again, = add_engines(bundle, ["fp16"], log=lines.append)
    assert len(trt.builds) == 1 and again == first
    assert any("reused, not rebuilt" in line for line in lines)
    with open(os.path.join(bundle, first["file"]), "ab") as handle:
        handle.write(b"damage")
    lines = []
    add_engines(bundle, ["fp16"], log=lines.append)
    assert len(trt.builds) == 2 and any("does not match its sha256: rebuilding" in line for line in lines)
    Bundle.load(bundle).check(engines(bundle)[0])


def test_engine_key_changes_with_everything_that_ties_an_engine_to_a_device():
    base = dict(onnx_sha256="a" * 64, tensorrt_version="8.2.1.8", gpu="NVIDIA Tegra X1", compute_capability="5.3",
                precision="fp16", batch=(1, 1, 1), input_shape=[3, 32, 32], extra=None)
    changes = dict(onnx_sha256="b" * 64, tensorrt_version="10.3.0.26", gpu="Orin", compute_capability="8.7",
                   precision="int8", batch=(1, 4, 8), input_shape=[3, 64, 64], extra="c" * 64)
    key = engine_key(**base)
    assert key == engine_key(**dict(base, batch={"min": 1, "opt": 1, "max": 1}))
    assert len(key) == 12 and int(key, 16) >= 0
    for name, value in changes.items():
        assert engine_key(**dict(base, **{name: value})) != key, name


def test_engines_for_two_devices_live_side_by_side(monkeypatch, bundle):
    nano = install(monkeypatch, "8.2", device="nano")
    nano_entry, = add_engines(bundle, ["fp16"])
    orin = install(monkeypatch, "10.3", device="orin")
    loaded = Bundle.load(bundle)
    entry, why = find_engine(loaded, "fp16", here(orin, "Orin", "8.7"))
    assert entry is None
    assert "built for NVIDIA Tegra X1 (sm_53) with TensorRT 8.2.1.8; this is Orin (sm_87) with TensorRT " \
           "10.3.0.26" in why
    assert why.endswith("rebuild it on this device with: edge-export {} --engine fp16".format(bundle))
    orin_entry, = add_engines(bundle, ["fp16"])
    assert orin_entry["key"] != nano_entry["key"] and len(engines(bundle)) == 2
    loaded = Bundle.load(bundle)
    assert find_engine(loaded, "fp16", here(orin, "Orin", "8.7"))[0]["file"] == orin_entry["file"]
    assert find_engine(loaded, "fp16", here(nano))[0]["file"] == nano_entry["file"]
    assert find_engine(loaded, "auto", here(nano))[0]["file"] == nano_entry["file"]
    entry, why = find_engine(loaded, "int8", here(nano))
    assert entry is None and why.endswith("no int8 engine: build it on this device with: edge-export {} "
                                          "--engine int8".format(bundle))


def test_an_engine_from_an_older_onnx_is_not_found(monkeypatch, bundle):
    trt = install(monkeypatch, "8.2", device="nano")
    add_engines(bundle, ["fp16"])
    manifest = read_manifest(bundle)
    manifest["artifacts"][0]["sha256"] = "0" * 64   # as if model.onnx had been re-exported
    write_manifest(bundle, manifest)
    entry, why = find_engine(Bundle.load(bundle), "fp16", here(trt))
    assert entry is None and "built from an older model.onnx" in why and "--engine fp16" in why


# ----------------------------------------------------------------------------- failures change nothing

def test_parse_failure_is_clear_and_leaves_the_bundle(monkeypatch, bundle):
    install(monkeypatch, "8.2", device="orin")
    with open(os.path.join(bundle, "model.onnx"), "wb") as handle:
        handle.write(b"not onnx at all")
    manifest = read_manifest(bundle)
    manifest["artifacts"][0]["sha256"] = sha256_file(os.path.join(bundle, "model.onnx"))
    write_manifest(bundle, manifest)
    refused_unchanged(bundle, ["fp16"], "cannot parse model.onnx \\(opset 13\\): .*Failed to parse ONNX model")


def test_a_failure_on_the_second_engine_removes_the_first(monkeypatch, tmp_path):
    install(monkeypatch, "8.6", device="orin")
    bad = write_tiny_bundle(tmp_path / "u8", qdq="u8s8")   # listed as the TensorRT flavor, but asymmetric
    refused_unchanged(bad, ["fp16", "int8"], "symmetric INT8")


def test_a_tampered_onnx_is_refused_before_building(monkeypatch, bundle):
    trt = install(monkeypatch, "8.2", device="nano")
    with open(os.path.join(bundle, "model.onnx"), "ab") as handle:
        handle.write(b"\0")
    refused_unchanged(bundle, ["fp16"], "does not match its sha256")
    assert trt.builds == []


def test_without_tensorrt_nothing_is_read_or_written(monkeypatch, bundle):
    monkeypatch.setitem(sys.modules, "tensorrt", None)   # import fails, as on a desktop without it
    before = snapshot(bundle)
    with pytest.raises(MissingDependency, match="tensorrt is needed.*comes with JetPack"):
        add_engines(bundle, ["fp64"])             # checked before the precisions
    with pytest.raises(MissingDependency, match="comes with JetPack"):
        write_calibration_cache(bundle, "model.onnx", [np.zeros((1, 3, 32, 32), np.float32)], "entropy")
    assert snapshot(bundle) == before


def test_unknown_precision_names_the_valid_ones(monkeypatch, bundle):
    install(monkeypatch, "10.3")
    with pytest.raises(EdgeError, match="unknown engine precision 'fp8'; choose from fp32, fp16, int8"):
        add_engines(bundle, ["fp16", "fp8"])
    with pytest.raises(EdgeError, match="no engine precision"):
        add_engines(bundle, [])


def test_no_way_to_tell_the_gpu_builds_nothing(monkeypatch, bundle):
    import edge.cuda.gpu

    install(monkeypatch, "8.2")
    monkeypatch.setattr(edge.cuda.gpu, "_from_cuda", lambda: None)
    monkeypatch.setattr(edge.cuda.gpu, "from_nvidia_smi", lambda timeout=10: None)
    monkeypatch.setattr(edge.cuda.gpu, "from_device_tree", lambda path=None: None)
    refused_unchanged(bundle, ["fp16"], "cannot tell which GPU")


def test_fused_uint8_input_needs_tensorrt_85(monkeypatch, bundle):
    manifest = read_manifest(bundle)
    manifest["input"]["fused_preprocess"] = {"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"}
    manifest["input"]["shape"] = [1, 32, 32, 3]   # a fused bundle's input is the NHWC frame (the schema checks it)
    write_manifest(bundle, manifest)
    install(monkeypatch, "8.2")
    with pytest.raises(EdgeError, match="uint8 input.*8.5\\+"):
        add_engines(bundle, ["fp16"])


# ----------------------------------------------------------------------------- calibration cache

@pytest.mark.parametrize("generation", ["8.2", "8.6"])
def test_write_calibration_cache(monkeypatch, bundle, generation):
    trt = install(monkeypatch, generation, device="xavier")
    batches = [np.full((1, 3, 32, 32), i / 10.0, np.float32) for i in range(5)]
    before = snapshot(bundle)
    entry = write_calibration_cache(bundle, "model.onnx", batches, "entropy")
    assert entry["file"] == "calibration.cache" and entry["kind"] == "calibration_cache"
    assert (entry["method"], entry["images"], entry["batch_size"]) == ("entropy", 5, 1)
    assert entry["tensorrt_version"] == trt.__version__ and "requested_method" not in entry
    assert trt.builds[-1]["calibration"]["amax"] == {"input": pytest.approx(0.4)}
    with open(os.path.join(bundle, "calibration.cache"), "rb") as handle:
        assert handle.read().startswith(b"TRT-")
    assert snapshot(bundle) == dict(before, **{"calibration.cache": entry["sha256"]})   # the manifest is the caller's
    assert trt.fake_memory.buffers == {}   # device memory freed


def test_calibration_cache_percentile_and_dynamic_batch(monkeypatch, dynamic_bundle):
    trt = install(monkeypatch, "8.2", device="xavier")
    lines = []
    batches = [np.ones((3, 3, 32, 32), np.float32)] * 4   # 12 images -> batches of 8, 4 dropped
    entry = write_calibration_cache(dynamic_bundle, "model.onnx", batches, "percentile", log=lines.append)
    assert (entry["method"], entry["requested_method"], entry["batch_size"], entry["images"]) == (
        "entropy", "percentile", 8, 8)
    assert any("no percentile calibrator" in line for line in lines)
    assert any("4 of 12 calibration images left out" in line for line in lines)
    assert trt.builds[-1]["profiles"] == [{"input": [[8, 3, 32, 32]] * 3}]


def test_calibration_cache_checks_its_inputs(monkeypatch, bundle):
    install(monkeypatch, "8.2", device="xavier")
    with pytest.raises(EdgeError, match="takes \\[3, 32, 32\\]"):
        write_calibration_cache(bundle, "model.onnx", [np.ones((1, 3, 16, 16), np.float32)], "entropy")
    with pytest.raises(EdgeError, match="entropy or minmax"):
        write_calibration_cache(bundle, "model.onnx", [np.ones((1, 3, 32, 32), np.float32)], "kl")
    with pytest.raises(EdgeError, match="not found"):
        write_calibration_cache(bundle, "nope.onnx", [np.ones((1, 3, 32, 32), np.float32)], "entropy")
    assert not os.path.exists(os.path.join(bundle, "calibration.cache"))


# ----------------------------------------------------------------------------- through the CLI and the runner

def test_edge_export_bundle_engine_on_a_nano(monkeypatch, bundle, capsys):
    from export.cli import main

    install(monkeypatch, "8.2", device="nano")
    assert main([bundle, "--engine", "fp16,int8", "--workspace-mb", "64"]) == 0
    progress = capsys.readouterr().err
    assert "no fast INT8" in progress and "fp16 engine" in progress
    entry, = engines(bundle)
    assert entry["workspace_mb"] == 64 and entry["also_requested"] == ["int8"]
    assert main([bundle, "--engine", "int8", "--strict"]) == 2
    assert "--strict refuses" in capsys.readouterr().err


@pytest.mark.parametrize("generation", ["8.2", "10.3"])
def test_an_engine_built_here_runs_in_the_tensorrt_runner(monkeypatch, dynamic_bundle, generation):
    pytest.importorskip("onnxruntime")
    from edge.runners.tensorrt.runner import TensorRTRunner

    install(monkeypatch, generation, device="orin")
    add_engines(dynamic_bundle, ["fp16"])
    batch = np.random.RandomState(0).rand(3, 3, 32, 32).astype(np.float32)
    with TensorRTRunner(Bundle.load(dynamic_bundle), "fp16") as runner:
        logits = runner.infer(batch)
    import onnxruntime as ort
    session = ort.InferenceSession(os.path.join(dynamic_bundle, "model.onnx"), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": batch})[0]
    assert np.abs(logits - want).max() <= 5e-3 * max(1.0, float(np.abs(want).max()))   # fp16 rounding
    assert (logits.argmax(1) == want.argmax(1)).all()


# ----------------------------------------------------------------------------- real hardware

@pytest.mark.tensorrt
def test_real_tensorrt_builds_an_engine_that_loads(tmp_path):
    """On a machine with TensorRT and a GPU (a Jetson): build for real, reuse, deserialize, list I/O."""
    import tensorrt as trt

    from edge.tensorrt import compat as trt_compat

    folder = write_tiny_bundle(tmp_path / "real", dynamic=True, batch=(1, 2, 4))
    entry, = add_engines(folder, ["fp16"], workspace_mb=64)
    assert add_engines(folder, ["fp16"])[0]["key"] == entry["key"]   # reused
    with open(os.path.join(folder, entry["file"]), "rb") as handle:
        engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(handle.read())
    assert engine is not None
    names = [(name, is_input) for name, is_input, _, _ in trt_compat.io_tensors(trt, engine)]
    assert names == [("input", True), ("logits", False)]
    found, why = find_engine(Bundle.load(folder), "fp16", trt_compat.device_description(trt))
    assert found is not None, why


@pytest.mark.tensorrt
@pytest.mark.jetson
def test_real_int8_request_on_this_jetson_follows_the_platform(tmp_path):
    """Nano/TX2: int8 becomes fp16 (strict refuses); Xavier/Orin: an explicit INT8 engine."""
    import tensorrt as trt

    from edge.tensorrt.compat import platform_capabilities

    folder = write_tiny_bundle(tmp_path / "jetson")
    fast_int8 = platform_capabilities(trt)["int8"]
    if not fast_int8:
        with pytest.raises(EdgeError, match="--strict"):
            add_engines(folder, ["int8"], strict=True)
    entry, = add_engines(folder, ["int8"])
    assert entry["precision"] == ("int8" if fast_int8 else "fp16") and entry["requested_precision"] == "int8"


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("fp16", 2e-2)])
def test_real_engine_in_the_runner_matches_the_model_computed_with_numpy(tmp_path, precision, tolerance):
    """On real TensorRT and CUDA: chunked and padded batches through the runner give the tiny model's logits."""
    from edge.runners.tensorrt.runner import TensorRTRunner
    from tests.fakes.tiny_bundle import tiny_logits

    folder = write_tiny_bundle(tmp_path / "real", dynamic=True, batch=(1, 2, 4))
    add_engines(folder, [precision], workspace_mb=64)
    batch = np.random.RandomState(0).rand(7, 3, 32, 32).astype(np.float32)   # 4 + 3
    with TensorRTRunner(Bundle.load(folder), precision) as runner:
        got = runner.infer(batch)
        assert runner.gpu_memory_mb() > 0
    want = tiny_logits(batch)
    assert np.abs(got - want).max() <= tolerance * max(1.0, float(np.abs(want).max()))


def test_the_stored_tiny_models_are_what_tiny_model_makes():
    """tests/fixtures keeps them for machines without the onnx package (a Jetson's real-hardware tests)."""
    pytest.importorskip("onnx")
    from tests.fakes.tiny_bundle import fixture_path, tiny_model

    for dynamic in (False, True):
        for qdq in (None, "s8s8"):
            with open(fixture_path(dynamic, qdq), "rb") as handle:
                assert handle.read() == tiny_model(dynamic=dynamic, qdq=qdq).SerializeToString()
