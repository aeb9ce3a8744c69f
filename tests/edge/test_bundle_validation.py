"""An edited manifest is refused before anything uses it (edge.bundle.schema), by every command alike.

Each case edits a real exported bundle (3 classes, 32x32, a golden set) as a user or a script might,
then runs every command's load path (tests/edge/bundle_commands.py): a refusal is exit code 2 with one
error line and no traceback; the doctor never passes such a bundle.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle, labels_text
from edge.errors import EdgeError
from tests.edge.bundle_commands import COMMANDS, error_lines, run_command, write_images
from tests.helpers import ROOT

ALL = sorted(COMMANDS)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(str(tmp_path_factory.mktemp("frames")))


def edited(source, folder, edit):
    """A copy of the bundle `source` in `folder` whose manifest `edit(manifest, folder)` changed."""
    shutil.copytree(source, folder)
    path = os.path.join(folder, "manifest.json")
    with open(path) as handle:
        manifest = json.load(handle)
    edit(manifest, folder)
    with open(path, "w") as handle:
        json.dump(manifest, handle)
    return folder


def rehash(manifest, folder, file_name):
    """The manifest agreeing with a changed file, as a careful editor would make it."""
    for entry in manifest["artifacts"]:
        if entry["file"] == file_name:
            entry["sha256"] = sha256_file(os.path.join(folder, file_name))
            entry["bytes"] = os.path.getsize(os.path.join(folder, file_name))


def golden_entry(manifest):
    return [entry for entry in manifest["artifacts"] if entry["kind"] == "golden"][0]


def assert_refused(bundle, tmp_path, images, capsys, words, commands=ALL):
    """Every command of `commands` exits 2 with one error line saying `words`, and no traceback."""
    wrong = {}
    for name in commands:
        code, err, _ = run_command(name, bundle, str(tmp_path / "work" / name.split()[0]), images, capsys)
        lines = error_lines(err)
        if code != 2 or "Traceback" in err or len(lines) != 1 or words not in lines[0]:
            wrong[name] = "exit {}: {}".format(code, err.strip().splitlines()[-1] if err.strip() else "")
    assert wrong == {}, "\n".join("{}: {}".format(name, text) for name, text in sorted(wrong.items()))


def serve_process(bundle):
    """(exit code, stderr) of a real edge-serve process on `bundle`: one that starts serving is stopped after 60 s."""
    process = subprocess.Popen([sys.executable, "-m", "edge.serve", bundle, "--port", "0"], cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        return "still serving after 60 s", err
    return process.returncode, err


# ----------------------------------------------------------------------------- classes cut


def cut_classes(manifest, folder, labels=True, golden=True, count=True):
    """model.classes cut from 3 to 2; and (by default) num_classes, the golden record and labels.txt with them."""
    manifest["model"]["classes"] = manifest["model"]["classes"][:2]
    if count:
        manifest["model"]["num_classes"] = 2
    if golden:
        golden_entry(manifest)["reference_shape"][1] = 2
    if labels:
        with open(os.path.join(folder, "labels.txt"), "w") as handle:
            handle.write(labels_text(manifest["model"]["classes"]))
        rehash(manifest, folder, "labels.txt")


@pytest.mark.parametrize("kept, words", [
    ({"count": False}, "model.num_classes is 3 but model.classes names 2"),
    ({"golden": False}, "the golden set records outputs [32, 3] but 32 images of 2 outputs are [32, 2]"),
    ({"labels": False}, "model.classes differ from labels.txt"),
])
def test_classes_cut_in_the_manifest_are_refused_on_loading(export_fp32_bundle, tmp_path, images, capsys, kept, words):
    bundle = edited(export_fp32_bundle, str(tmp_path / "b"), lambda m, f: cut_classes(m, f, **kept))
    assert_refused(bundle, tmp_path, images, capsys, words)


def test_classes_cut_everywhere_but_the_model_are_refused_by_the_model(export_fp32_bundle, tmp_path, images, capsys):
    bundle = edited(export_fp32_bundle, str(tmp_path / "b"), cut_classes)
    Bundle.load(bundle)   # the manifest agrees with itself: only the model can tell
    runners = [name for name in ALL if name != "edge-doctor"]
    assert_refused(bundle, tmp_path, images, capsys, "the model gives 3 outputs an image, the manifest names 2",
                   [name for name in runners if name != "edge-bench"])
    code, err, _ = run_command("edge-bench", bundle, str(tmp_path / "bench"), images, capsys)
    assert code == 2 and "Traceback" not in err and "outputs an image" in err, err
    code, err, checks = run_command("edge-doctor", bundle, str(tmp_path / "doctor"), images, capsys)
    assert code == 1 and "Traceback" not in err, err
    assert checks["manifest"] == "fail" and checks["golden set"] == "fail", checks
    code, err = serve_process(bundle)
    assert code == 2 and len(error_lines(err)) == 1 and "outputs an image" in err, (code, err)


# ----------------------------------------------------------------------------- damaged sections


@pytest.mark.parametrize("edit, words", [
    (lambda m, f: m.__setitem__("artifacts", "model.onnx"), "artifacts must be a list"),
    (lambda m, f: m["input"]["preprocess"]["std"].__setitem__(0, 0), "input.preprocess.std must be"),
    (lambda m, f: m["input"]["preprocess"]["std"].__setitem__(0, 1e-9), "input.preprocess.std must be"),
    (lambda m, f: m["input"]["preprocess"].__setitem__("std", [0.2, 0.2]), "input.preprocess.std must be"),
    (lambda m, f: m["input"]["preprocess"]["mean"].__setitem__(1, float("nan")), "not a finite number"),
    (lambda m, f: m["input"]["preprocess"].__setitem__("size", [64, 64]), "input.shape is [1, 3, 32, 32]"),
    (lambda m, f: m["input"]["preprocess"].__setitem__("layout", "NHWC"), "input.preprocess.layout must be"),
    (lambda m, f: m["output"].__setitem__("kind", "detections"), "upgrade"),
    (lambda m, f: m["model"].__setitem__("num_classes", "3"), "model.num_classes must be a whole number"),
    (lambda m, f: m.__setitem__("input", "NCHW"), "input must be a mapping"),
])
def test_a_damaged_manifest_is_one_line_from_every_command(export_fp32_bundle, tmp_path, images, capsys, edit, words):
    assert_refused(edited(export_fp32_bundle, str(tmp_path / "b"), edit), tmp_path, images, capsys, words)


def test_an_edited_size_that_agrees_with_itself_is_refused_by_the_model(export_fp32_bundle, tmp_path, images, capsys):
    """Size, shape and the golden record all say 64: the model (32x32, static) says otherwise, before any inference."""
    def edit(manifest, folder):
        manifest["input"]["preprocess"]["size"] = [64, 64]
        manifest["input"]["shape"] = [1, 3, 64, 64]
        golden_entry(manifest)["frames_shape"][1:3] = [64, 64]

    bundle = edited(export_fp32_bundle, str(tmp_path / "b"), edit)
    runners = [name for name in ALL if name not in ("edge-doctor", "edge-bench")]
    assert_refused(bundle, tmp_path, images, capsys, "the model takes 3x32x32 inputs", runners)
    code, err = serve_process(bundle)
    assert code == 2 and len(error_lines(err)) == 1 and "3x32x32" in err, (code, err)


# ----------------------------------------------------------------------------- artifact paths


def test_artifact_paths_that_leave_the_bundle_are_refused(export_fp32_bundle, tmp_path, images, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(os.path.join(export_fp32_bundle, "model.onnx"), str(outside / "model.onnx"))   # same bytes, same hash

    def escape(file_name):
        def edit(manifest, folder):
            [entry for entry in manifest["artifacts"] if entry["file"] == "model.onnx"][0]["file"] = file_name
        return edit

    escapes = ["../outside/model.onnx", str(outside / "model.onnx"), "x/../../outside/model.onnx"]
    for index, file_name in enumerate(escapes):
        bundle = edited(export_fp32_bundle, str(tmp_path / "b{}".format(index)), escape(file_name))
        assert_refused(bundle, tmp_path, images, capsys, "must be a path inside the bundle folder",
                       ["edge-predict", "edge-doctor", "edge-export --triton-repo"])

    def link(manifest, folder):
        os.unlink(os.path.join(folder, "model.onnx"))
        os.symlink(str(outside / "model.onnx"), os.path.join(folder, "model.onnx"))

    bundle = edited(export_fp32_bundle, str(tmp_path / "linked"), link)
    assert_refused(bundle, tmp_path, images, capsys, "leads out of the bundle folder")


# ----------------------------------------------------------------------------- the golden set


def write_golden(folder, frames, reference):
    np.savez_compressed(os.path.join(folder, "golden.npz"), frames=frames, reference=reference)


def test_a_golden_set_whose_frames_are_not_the_models_size_fails_the_doctor(export_fp32_bundle, tmp_path, capsys,
                                                                              images):
    """The golden set, the size and the shape all edited to 64x64: the manifest agrees with itself and with the
    golden file, but the model takes 32x32. The doctor fails it (and runs no inference at the wrong size)."""
    def edit(manifest, folder):
        with np.load(os.path.join(folder, "golden.npz")) as data:
            frames, reference = data["frames"], data["reference"]
        write_golden(folder, np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2), reference)
        rehash(manifest, folder, "golden.npz")
        manifest["input"]["preprocess"]["size"] = [64, 64]
        manifest["input"]["shape"] = [1, 3, 64, 64]
        golden_entry(manifest)["frames_shape"][1:3] = [64, 64]

    bundle = edited(export_fp32_bundle, str(tmp_path / "b"), edit)
    code, err, checks = run_command("edge-doctor", bundle, str(tmp_path / "doctor"), images, capsys)
    assert code == 1 and "Traceback" not in err, err
    assert checks["manifest"] == "fail" and checks["onnxruntime fp32"] == "fail", checks


@pytest.mark.parametrize("change, words", [
    (lambda frames, reference: (frames[:, :16, :16], reference), "the model takes 32x32x3"),
    (lambda frames, reference: (frames, reference[:, :2]), "the bundle names 3 outputs"),
    (lambda frames, reference: (frames[:4], reference[:4]), "the manifest records 32 frames"),
])
def test_a_golden_file_that_disagrees_with_the_manifest_fails_the_doctor(export_fp32_bundle, tmp_path, capsys, images,
                                                                         change, words):
    def edit(manifest, folder):
        with np.load(os.path.join(folder, "golden.npz")) as data:
            write_golden(folder, *change(data["frames"], data["reference"]))
        rehash(manifest, folder, "golden.npz")

    bundle = edited(export_fp32_bundle, str(tmp_path / "b"), edit)
    code, err, checks = run_command("edge-doctor", bundle, str(tmp_path / "doctor"), images, capsys)
    assert code == 1 and checks["golden set"] == "fail", (checks, err)
    with pytest.raises(EdgeError, match=words):
        from edge.bundle.golden import GoldenSet
        GoldenSet.load(Bundle.load(bundle))


# ----------------------------------------------------------------------------- a fused bundle


def test_a_fused_bundle_takes_three_channel_frames_as_its_model_does(export_fused_int8_bundle):
    """item_shape feeds engine keys and the Triton config's dims: it is the uint8 model's own input, 3 channels."""
    from edge.bundle.schema import INPUT_FLOAT, INPUT_UINT8
    from edge.bundle.onnx_io import graph_io
    from edge.triton.repo import plan_models

    bundle = Bundle.load(export_fused_int8_bundle)
    assert bundle.item_shape() == [32, 32, 3] and bundle.item_shape(INPUT_FLOAT) == [3, 32, 32]
    for entry in bundle.artifacts("onnx"):
        dims = graph_io(bundle.file(entry)).inputs[0].dims
        assert list(dims[1:]) == bundle.item_shape(bundle.model_input_format(entry)), entry["file"]
    models, _ = plan_models(bundle, "fused")
    assert [list(model.config.inputs[0].dims) for model in models] == [[32, 32, 3]] * len(models)


def test_a_fused_bundle_whose_input_shape_says_four_channels_is_refused(export_fused_int8_bundle, tmp_path, images,
                                                                        capsys):
    bundle = edited(export_fused_int8_bundle, str(tmp_path / "b"),
                    lambda m, f: m["input"].__setitem__("shape", [1, 32, 32, 4]))
    assert_refused(bundle, tmp_path, images, capsys, "input.shape is [1, 32, 32, 4]",
                   ["edge-predict", "edge-serve", "edge-export --triton-repo", "edge-doctor"])


# ----------------------------------------------------------------------------- the schema and its docs


def test_every_key_of_the_schema_is_explained_in_the_bundle_docstring():
    """The schema table (edge.bundle.schema) and edge.bundle.bundle's docstring describe the same keys."""
    from edge.bundle.schema import ARTIFACT_KEYS, KEYS
    from tests.helpers import undocumented_manifest_keys

    names = set(key.split(".")[-1] for key, _, _ in KEYS) | set(key for _, key, _, _ in ARTIFACT_KEYS)
    assert undocumented_manifest_keys(dict((name, None) for name in names - {"*"})) == []


def test_every_bundle_an_export_writes_passes_the_schema(export_int8_bundle, export_fused_int8_bundle,
                                                         regression_bundle):
    from edge.bundle.schema import check_manifest

    for bundle in (export_int8_bundle, export_fused_int8_bundle, regression_bundle):
        with open(os.path.join(bundle, "manifest.json")) as handle:
            check_manifest(json.load(handle))
