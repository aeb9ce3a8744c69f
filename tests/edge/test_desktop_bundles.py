"""Bundles the desktop exported, loaded by the ONNX Runtime of this interpreter: under `make test-device`,
Python 3.6 with ONNX Runtime 1.10 (the last for Python 3.6, JetPack 4.6's era), no torch.

The Makefile exports them in the desktop venv first (tests/desktop_bundle.py) and names their folder
in EDGE_DESKTOP_BUNDLES; without it these tests skip. Every model file (fp32, both INT8 flavors, a
fused bundle's float-pixel family for TensorRT 8.2, the Triton repository's copies) must load here and give the
desktop's golden top-1; the automatic choice must take the INT8 model, and edge-doctor pass it.
"""

import json
import os

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.tasks.classification import INT8_MIN_AGREEMENT
from edge.bundle.golden import GoldenSet

FOLDER = os.environ.get("EDGE_DESKTOP_BUNDLES")
EXPECTED = os.environ.get("EDGE_EXPECT_ONNXRUNTIME")   # make test-ort110: the version these tests are for
BUNDLES = ("int8", "fused")
pytestmark = pytest.mark.skipif(not FOLDER, reason="EDGE_DESKTOP_BUNDLES is not set: make test-device exports "
                                                   "the bundles on the desktop and sets it")


@pytest.fixture(autouse=True)
def _onnxruntime():
    """The ONNX Runtime here (a device venv without one skips), and the one asked for when a version is."""
    if EXPECTED:
        import onnxruntime
        assert onnxruntime.__version__ == EXPECTED
    return pytest.importorskip("onnxruntime", reason="this device venv has no ONNX Runtime (a Jetson has none)")


def _bundle(name):
    path = os.path.join(FOLDER, name)
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        pytest.fail("EDGE_DESKTOP_BUNDLES={} has no {} bundle: run python -m tests.desktop_bundle {} in the desktop "
                    "venv".format(FOLDER, name, FOLDER))
    return Bundle.load(path)


def _run(path, inputs):
    """Outputs of the model file `path` on `inputs`, image by image where its batch axis is fixed."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])   # raises where ORT cannot load it
    name, batch = session.get_inputs()[0].name, session.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) else len(inputs)
    return np.concatenate([session.run(None, {name: inputs[i:i + step]})[0] for i in range(0, len(inputs), step)])


def _agreement(outputs, golden):
    return float(np.mean(outputs.argmax(1) == golden.reference.argmax(1)))


@pytest.mark.parametrize("name", BUNDLES)
def test_every_model_file_loads_here_and_gives_the_desktops_top1(name):
    bundle = _bundle(name)
    golden, _ = GoldenSet.load(bundle)
    entries = bundle.artifacts("onnx")
    assert len(entries) == (5 if name == "fused" else 3)
    for entry in entries:
        outputs = _run(bundle.check(entry), golden.inputs_as(bundle.spec, bundle.model_input_format(entry)))
        agreement = _agreement(outputs, golden)
        if entry["precision"] == "fp32":
            assert agreement == 1.0 and np.abs(outputs - golden.reference).max() < 1e-3, entry["file"]
        else:
            assert agreement >= INT8_MIN_AGREEMENT, (entry["file"], agreement)


def test_the_triton_repositorys_models_load_here():
    bundle = _bundle("int8")
    golden, _ = GoldenSet.load(bundle)
    with open(os.path.join(FOLDER, "triton", "edge-toolkit-repository.json")) as handle:
        written = json.load(handle)
    paths = [os.path.join(base, file_name) for base, _, files in os.walk(os.path.join(FOLDER, "triton"))
             for file_name in files if file_name.endswith(".onnx")]
    # fp32 and INT8, each as the bundle's tensor model and as an _image model (UINT8 RGB pixels, normalised in
    # the graph: the golden frames are BGR at the model's size)
    assert len(paths) == 4, (paths, written)
    rgb_frames = np.ascontiguousarray(golden.frames[..., ::-1])
    for path in paths:
        image_model = os.path.basename(os.path.dirname(os.path.dirname(path))).endswith("_image")
        inputs = rgb_frames if image_model else golden.inputs(bundle.spec)
        assert _agreement(_run(path, inputs), golden) >= INT8_MIN_AGREEMENT, path


@pytest.mark.parametrize("name", BUNDLES)
def test_the_automatic_choice_runs_the_int8_model_here(name):
    from edge.runners.select import make_runner

    bundle = _bundle(name)
    golden, _ = GoldenSet.load(bundle)
    runner, why = make_runner(bundle, "onnxruntime")
    assert runner.precision == "int8" and "verified INT8 model" in why, why
    with runner:
        assert _agreement(runner.infer(golden.model_inputs(bundle)), golden) >= INT8_MIN_AGREEMENT


@pytest.mark.parametrize("name", BUNDLES)
def test_edge_doctor_passes_both_onnxruntime_rows(name, tmp_path, capsys):
    from edge.doctor.cli import main

    report = str(tmp_path / "report.json")
    code = main([_bundle(name).path, "--json", report])
    capsys.readouterr()
    with open(report) as handle:
        checks = dict((check["name"], check) for check in json.load(handle)["checks"])
    for row in ("onnxruntime fp32", "onnxruntime int8"):
        assert checks[row]["status"] == "pass", checks[row]
    assert code == 0
