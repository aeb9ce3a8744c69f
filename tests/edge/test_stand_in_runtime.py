"""A runtime defined only in this test, added through the registry's public call (edge.runners.registry.register),
reaches every reader of the registry: --runtime NAME (the parsers and select), edge-predict, edge-bench's rows,
edge-doctor's rows and edge-serve's model metadata. No product file names it.

The stand-in runs the tiny bundle's model with numpy alone (tests.fakes.tiny_bundle.tiny_logits), so its answers
are the golden ones, and it is served on Triton's python backend.
"""

import json
import os

import numpy as np
import pytest

from edge.bench import main as bench_main
from edge.bundle.bundle import Bundle, artifact_entry, write_manifest
from edge.bundle.golden import GoldenSet
from edge.bundle.preprocess import PreprocessSpec, normalize_batch
from edge.doctor.bundle_checks import bundle_checks
from edge.doctor.checks import PASS
from edge.errors import EdgeError
from edge.predict import build_parser as predict_parser
from edge.predict import main as predict_main
from edge.runners import plugins, registry
from edge.runners.base import Runner
from edge.runners.runtime import Runtime, TritonPlatform
from edge.runners.select import make_runner
from tests.edge.serving import serving
from tests.fakes.tiny_bundle import CLASSES, tiny_logits, write_tiny_bundle

NAME = "numpy"


class NumpyRunner(Runner):
    """The tiny model in numpy: float NCHW batch in, logits out."""

    name = NAME

    def __init__(self, bundle, threads=None):
        super(NumpyRunner, self).__init__()
        self.bundle, self.threads = bundle, threads

    def _activate_impl(self):
        self.model_path = self.bundle.check(self.bundle.artifact("onnx", precision="fp32"))

    def _infer_impl(self, batch):
        self.timings = {"compute": 0.0}
        return tiny_logits(np.asarray(batch, dtype=np.float32)).astype(np.float32)

    def _deactivate_impl(self):
        pass


def make_numpy_runner(bundle, precision, options):
    return NumpyRunner(bundle, threads=options.threads)


STAND_IN = Runtime(NAME, "NumPy", module="numpy", precisions=("fp32",), make=make_numpy_runner,
                   refusal="the numpy stand-in runs fp32 only",
                   triton=TritonPlatform("python", "python", "model.py"))


@pytest.fixture
def stand_in():
    registry.register(STAND_IN)
    yield STAND_IN
    registry.unregister(NAME)


@pytest.fixture
def tiny(tmp_path):
    """The tiny bundle with a golden set of generated frames and numpy's outputs for them."""
    folder = write_tiny_bundle(str(tmp_path / "bundle"), qdq=True)
    with open(os.path.join(folder, "manifest.json")) as handle:
        manifest = json.load(handle)
    spec = PreprocessSpec.from_dict(manifest["input"]["preprocess"])
    frames = np.random.RandomState(5).randint(0, 256, (6, 32, 32, 3)).astype(np.uint8)
    extras = GoldenSet(frames, tiny_logits(normalize_batch(frames, spec)), "onnxruntime-fp32", "random").save(
        folder, spec)
    manifest["artifacts"].append(artifact_entry(folder, "golden.npz", "golden", **extras))
    write_manifest(folder, manifest)
    return folder


def test_a_runtime_not_registered_is_refused_by_name(tiny):
    with pytest.raises(EdgeError) as caught:
        make_runner(Bundle.load(tiny), NAME)
    assert str(caught.value) == "unknown --runtime 'numpy'; choose from auto, tensorrt, onnxruntime, pytorch"
    with pytest.raises(EdgeError) as caught:
        predict_parser().parse_args([tiny, "x.png", "--runtime", NAME])
    assert "invalid choice: 'numpy'" in str(caught.value)


def test_select_builds_the_registered_runtime_by_name_and_keeps_auto_to_the_built_in_ones(stand_in, tiny):
    bundle = Bundle.load(tiny)
    runner, why = make_runner(bundle, NAME, threads=3)
    assert (type(runner), runner.threads, why) == (NumpyRunner, 3, "asked for")
    assert make_runner(bundle, NAME, "fp32")[0].precision == "fp32"
    with pytest.raises(EdgeError) as caught:
        make_runner(bundle, NAME, "int8")
    assert str(caught.value) == "the numpy stand-in runs fp32 only"
    with pytest.raises(EdgeError) as caught:
        make_runner(bundle, "tensorflow")
    assert str(caught.value).endswith("choose from auto, tensorrt, onnxruntime, pytorch, numpy")
    assert predict_parser().parse_args([tiny, "x.png", "--runtime", NAME]).runtime == NAME
    if registry.get("onnxruntime").available():   # never chosen by auto: it says nothing on that
        assert make_runner(bundle)[0].name.startswith("onnxruntime")


def test_edge_predict_runs_on_it(stand_in, tiny, tmp_path):
    import cv2

    image = str(tmp_path / "frame.png")
    frame = np.random.RandomState(1).randint(0, 256, (32, 32, 3)).astype(np.uint8)
    cv2.imwrite(image, frame)
    out = str(tmp_path / "predict.json")
    assert predict_main([tiny, image, "--runtime", NAME, "--json", out]) == 0
    with open(out) as handle:
        document = json.load(handle)
    assert document["runtime"] == "numpy fp32"
    bundle = Bundle.load(tiny)
    expected = CLASSES[int(np.argmax(tiny_logits(normalize_batch(frame[None], bundle.spec))[0]))]
    assert document["results"][0]["top"][0]["label"] == expected


def test_edge_bench_measures_its_row_first_and_runs_it(stand_in, tiny, tmp_path):
    out = str(tmp_path / "bench.json")
    assert bench_main([tiny, "--runtimes", "numpy,tensorrt", "--json", out, "--warmup", "0", "--min-time", "0.05",
                       "--min-iters", "3", "--batch", "1"]) == 0
    with open(out) as handle:
        rows = json.load(handle)["rows"]
    assert [(row["runtime"], row["precision"]) for row in rows][0] == (NAME, "fp32")
    assert rows[0]["runnable"] and rows[0]["iterations"] >= 3
    assert {row["runtime"] for row in rows} == {NAME, "tensorrt"}


def test_edge_doctor_checks_it_against_the_golden_set_by_default(stand_in, tiny):
    checks = dict((check.name, check) for check in bundle_checks(Bundle.load(tiny), precisions=("fp32",)))
    assert checks["numpy fp32"].status == PASS, checks["numpy fp32"].detail
    assert checks["numpy fp32"].data["top1_agreement"] == 1.0
    assert "tensorrt fp32" in checks and "pytorch fp32" not in checks


def test_edge_serve_names_its_platform_and_answers_with_it(stand_in, tiny):
    with serving(tiny, runtime=NAME, model_name="tiny") as server:
        status, _, metadata = server.json("GET", "/v2/models/tiny")
        assert (status, metadata["platform"]) == (200, "python")
        batch = np.random.RandomState(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
        body = json.dumps({"inputs": [{"name": "input", "shape": [2, 3, 32, 32], "datatype": "FP32",
                                       "data": batch.ravel().tolist()}]}).encode("utf-8")
        status, _, answer = server.json("POST", "/v2/models/tiny/infer", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    got = np.asarray(answer["outputs"][0]["data"], dtype=np.float32).reshape(2, len(CLASSES))
    np.testing.assert_allclose(got, tiny_logits(batch), rtol=1e-5, atol=1e-5)


def test_it_joins_the_rows_after_the_reference_and_its_name_is_its_own(stand_in):
    assert registry.names() == ("tensorrt", "onnxruntime", "pytorch", NAME)
    assert [runtime.name for runtime in registry.rows_order()] == ["pytorch", NAME, "onnxruntime", "tensorrt"]
    assert registry.doctor_names() == (NAME, "onnxruntime", "tensorrt")
    with pytest.raises(ValueError):
        registry.register(Runtime("onnxruntime", "again", module="numpy", precisions=("fp32",), make=None))
    assert registry.get("onnxruntime").title == "ONNX Runtime"


class EntryPoint(object):
    def __init__(self, name, loaded):
        self.name, self.loaded = name, loaded

    def load(self):
        if isinstance(self.loaded, Exception):
            raise self.loaded
        return self.loaded


def test_an_entry_point_may_give_a_whole_runtime_and_a_built_in_ones_runner_is_not_loaded(monkeypatch):
    monkeypatch.setattr(plugins, "_entry_points", lambda: [
        EntryPoint("pytorch", ImportError("torch is not loaded to list the runtimes")),
        EntryPoint(NAME, STAND_IN), EntryPoint("other", NumpyRunner)])
    assert plugins.plugin_runtimes({"tensorrt", "onnxruntime", "pytorch"}) == [STAND_IN]
