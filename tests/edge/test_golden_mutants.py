"""The golden set a device checks itself against: written, read back, and refused when it cannot be
what the bundle's model takes. numpy only, as on a Jetson.

Written against the survivors of `make mutation` (tests/mutation.py)."""

import io
import os

import numpy as np
import pytest

from edge.bundle.bundle import Bundle, artifact_entry, new_manifest
from edge.errors import EdgeError
from edge.bundle.golden import FILE, GoldenSet, inputs_sha256
from edge.bundle.preprocess import PreprocessSpec, normalize_batch

CLASSES = ["blue", "green", "red"]
SIZE = 16


def frames(count=4, size=SIZE):
    return np.random.RandomState(7).randint(0, 256, (count, size, size, 3)).astype(np.uint8)


def golden_bundle(folder, golden=None, fused=False, entry_changes=None, data=None):
    """A bundle whose manifest lists golden.npz (written by GoldenSet.save, or `data` as the file's bytes)."""
    folder = str(folder)
    spec = PreprocessSpec(size=SIZE)
    manifest = new_manifest("tiny", CLASSES, spec, "input", "logits",
                            fused_preprocess={"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"} if fused
                            else False)
    extras = {}
    if data is None:
        golden = golden or GoldenSet(frames(), np.arange(12, dtype=np.float32).reshape(4, 3))
        extras = golden.save(folder, spec)
    else:
        with open(os.path.join(folder, FILE), "wb") as handle:
            handle.write(data)
        extras = {"count": 4, "frames_shape": [4, SIZE, SIZE, 3], "reference_shape": [4, 3]}
    extras.update(entry_changes or {})
    with open(os.path.join(folder, "model.onnx"), "wb") as handle:
        handle.write(b"not the golden set")               # listed first, as edge-export lists it
    manifest["artifacts"].append(artifact_entry(folder, "model.onnx", "onnx", precision="fp32"))
    manifest["artifacts"].append(artifact_entry(folder, FILE, "golden", **{k: v for k, v in extras.items()
                                                                          if v is not None}))
    return Bundle(folder, manifest)


def npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_golden_set_round_trips_with_what_the_manifest_records(tmp_path):
    written = GoldenSet(frames(), np.linspace(-1, 1, 12).reshape(4, 3), "onnxruntime-fp32", "random")
    bundle = golden_bundle(tmp_path, written)
    entry = bundle.artifact("golden")
    assert (entry["count"], entry["reference"], entry["source"]) == (4, "onnxruntime-fp32", "random")
    assert (entry["frames_shape"], entry["reference_shape"]) == ([4, SIZE, SIZE, 3], [4, 3])
    assert entry["inputs_sha256"] == inputs_sha256(normalize_batch(frames(), bundle.spec))
    read, read_entry = GoldenSet.load(bundle)
    assert read_entry is entry and len(read) == 4
    assert (read.reference_name, read.source) == ("onnxruntime-fp32", "random")
    assert read.frames.dtype == np.uint8 and np.array_equal(read.frames, frames())
    assert read.reference.dtype == np.float32 and np.array_equal(read.reference, written.reference)


def test_an_entry_without_its_reference_or_source_reads_as_pytorch_on_images(tmp_path):
    bundle = golden_bundle(tmp_path, entry_changes={"reference": None, "source": None})
    read, _ = GoldenSet.load(bundle)
    assert (read.reference_name, read.source) == ("pytorch", "images")
    made = GoldenSet(frames())
    assert (made.reference, made.reference_name, made.source) == (None, "pytorch", "images")


def test_the_model_inputs_are_the_float_tensors_or_the_frames_of_a_fused_bundle(tmp_path):
    golden = GoldenSet(frames().astype(np.int64), np.zeros((4, 3)))
    assert golden.frames.dtype == np.uint8 and golden.frames.flags["C_CONTIGUOUS"]
    os.makedirs(str(tmp_path / "plain"))
    plain = golden_bundle(tmp_path / "plain", golden)
    floats = golden.model_inputs(plain)
    assert floats.dtype == np.float32 and floats.shape == (4, 3, SIZE, SIZE)
    assert np.array_equal(floats, golden.inputs(plain.spec))
    os.makedirs(str(tmp_path / "fused"))
    fused = golden_bundle(tmp_path / "fused", golden, fused=True)
    assert np.array_equal(golden.model_inputs(fused), frames())


def test_inputs_sha256_is_over_float32_bytes():
    batch = np.arange(6, dtype=np.float64).reshape(1, 6)
    assert inputs_sha256(batch) == inputs_sha256(batch.astype(np.float32))
    assert inputs_sha256(batch) != inputs_sha256(batch + 1)
    assert len(inputs_sha256(batch)) == 64


def test_saving_needs_one_reference_row_per_frame(tmp_path):
    for reference in (None, np.zeros((3, 3))):
        with pytest.raises(ValueError, match="^a golden set needs one reference output per frame$"):
            GoldenSet(frames(), reference).save(str(tmp_path), PreprocessSpec(size=SIZE))
    assert not os.path.exists(str(tmp_path / FILE))


def test_a_bundle_without_a_golden_set_says_to_re_export(tmp_path):
    bundle = Bundle(str(tmp_path), new_manifest("tiny", CLASSES, PreprocessSpec(size=SIZE), "input", "logits"))
    with pytest.raises(EdgeError) as caught:
        GoldenSet.load(bundle)
    assert str(caught.value) == ("bundle {} has no golden set (an older edge-export made it): re-export it to check "
                                 "this machine against the desktop's outputs".format(tmp_path))


def test_a_golden_set_holding_pickled_objects_is_refused_not_unpickled(tmp_path):
    """np.load(allow_pickle=True) would run whatever a tampered golden.npz carries."""
    data = npz(frames=frames(), reference=np.array([[0.0, 1.0, 2.0]] * 4, dtype=object))
    with pytest.raises(EdgeError) as caught:
        GoldenSet.load(golden_bundle(tmp_path, data=data))
    assert "cannot be read" in str(caught.value) and "re-export the bundle" in str(caught.value)


@pytest.mark.parametrize("data", [b"not a zip file at all", npz(frames=frames())])
def test_a_damaged_golden_set_is_one_line(tmp_path, data):
    with pytest.raises(EdgeError) as caught:
        GoldenSet.load(golden_bundle(tmp_path, data=data))
    assert str(caught.value).startswith(os.path.join(str(tmp_path), FILE) + " cannot be read (")
    assert str(caught.value).endswith("); re-export the bundle")


@pytest.mark.parametrize("stored_frames", [frames(size=SIZE * 2), frames(size=SIZE)[..., :2],
                                           frames(size=SIZE)[:, :, :SIZE - 1]])
def test_frames_that_are_not_the_models_input_size_are_refused(tmp_path, stored_frames):
    data = npz(frames=stored_frames, reference=np.zeros((4, 3), np.float32))
    with pytest.raises(EdgeError) as caught:
        GoldenSet.load(golden_bundle(tmp_path, data=data))
    assert "holds frames" in str(caught.value) and str(caught.value).endswith("re-export the bundle")


def test_a_reference_row_missing_for_a_frame_is_refused(tmp_path):
    data = npz(frames=frames(), reference=np.zeros((3, 3), np.float32))
    with pytest.raises(EdgeError, match="re-export the bundle"):
        GoldenSet.load(golden_bundle(tmp_path, data=data))


def refusal(bundle):
    with pytest.raises(EdgeError) as caught:
        GoldenSet.load(bundle)
    return str(caught.value)


def test_a_damaged_golden_set_says_what_numpy_found(tmp_path):
    message = refusal(golden_bundle(tmp_path, data=npz(frames=frames())))
    assert "reference" in message.split(" cannot be read (")[1]


described = pytest.mark.skipif(not hasattr(GoldenSet, "mismatch"), reason="this golden.py does not describe mismatches")


@described
def test_each_mismatch_is_described_with_its_numbers(tmp_path):
    tail = ": not what the bundle's model takes and gives; re-export the bundle"
    cases = [
        (npz(frames=frames(size=SIZE * 2), reference=np.zeros((4, 3), np.float32)), {},
         "holds frames (4, 32, 32, 3), the model takes 16x16x3 (input.preprocess.size)"),
        (npz(frames=frames(), reference=np.zeros((3, 3), np.float32)), {},
         "holds outputs (3, 3) for 4 frames, the bundle names 3 outputs (model.classes)"),
        (npz(frames=frames(), reference=np.zeros((4, 3), np.float32)), {"count": 5},
         "holds frames (4, 16, 16, 3) and outputs (4, 3), the manifest records 5 frames [4, 16, 16, 3] and "
         "outputs [4, 3]"),
        (npz(frames=frames(), reference=np.full((4, 3), np.nan, np.float32)), {},
         "holds reference outputs that are not finite"),
    ]
    for index, (data, changes, problem) in enumerate(cases):
        folder = tmp_path / str(index)
        folder.mkdir()
        bundle = golden_bundle(folder, data=data, entry_changes=changes)
        assert refusal(bundle) == os.path.join(str(folder), FILE) + " " + problem + tail
