"""The golden set every bundle carries: real frames, the desktop's reference outputs, numpy alone to read."""

import os

import numpy as np

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle
from edge.bundle.golden import FILE, GoldenSet, inputs_sha256
from edge.bundle.preprocess import normalize_batch, read_image, resize_and_crop


def _npz(bundle):
    with np.load(os.path.join(bundle.path, FILE), allow_pickle=False) as data:
        return dict((key, data[key]) for key in data.files)


def test_the_golden_set_is_the_verification_images_and_pytorchs_outputs(export_int8_bundle, export_model,
                                                                        export_images):
    import torch

    from export.verify import list_images

    bundle = Bundle.load(export_int8_bundle)
    entry = bundle.artifact("golden")
    assert entry["sha256"] == sha256_file(bundle.file(entry))
    arrays = _npz(bundle)
    assert sorted(arrays) == ["frames", "reference"]                 # numpy alone reads it, no pickle
    frames, reference = arrays["frames"], arrays["reference"]
    assert frames.dtype == np.uint8 and frames.shape == (9, 32, 32, 3)   # the hold-out: 25% of 36 real images
    assert (entry["count"], entry["reference"], entry["source"]) == (9, "pytorch", "images")
    assert entry["frames_shape"] == [9, 32, 32, 3] and entry["reference_shape"] == [9, 3]
    # Real images from the calibration folder, as the spec resized and cropped them.
    candidates = [resize_and_crop(read_image(path), bundle.spec) for path, _ in list_images(export_images)]
    assert all(any((frame == other).all() for other in candidates) for frame in frames)
    # The float inputs are reproducible bit for bit, and PyTorch gives exactly the stored outputs.
    inputs = normalize_batch(frames, bundle.spec)
    assert inputs_sha256(inputs) == entry["inputs_sha256"]
    with torch.no_grad():
        assert np.array_equal(export_model(torch.from_numpy(inputs)).numpy(), reference)


def test_random_frames_when_there_are_no_images(export_fp32_bundle):
    bundle = Bundle.load(export_fp32_bundle)
    golden, entry = GoldenSet.load(bundle)
    assert (len(golden), entry["source"]) == (32, "random")
    assert golden.model_inputs(bundle).dtype == np.float32 and golden.model_inputs(bundle).shape == (32, 3, 32, 32)


def test_a_fused_bundle_keeps_the_uint8_frames_its_model_takes(export_fused_int8_bundle):
    import onnxruntime as ort

    bundle = Bundle.load(export_fused_int8_bundle)
    golden, entry = GoldenSet.load(bundle)
    assert golden.model_inputs(bundle) is golden.frames and entry["reference"] == "pytorch"
    session = ort.InferenceSession(bundle.file(bundle.onnx("fp32")), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": golden.frames})[0]
    assert np.abs(outputs - golden.reference).max() < 1e-4


def test_an_onnx_input_has_onnxruntime_as_its_reference(export_run, export_fp32_bundle, tmp_path):
    target = str(tmp_path / "from-onnx")
    code, out, err = export_run([os.path.join(export_fp32_bundle, "model.onnx"), "--classes", "blue,green,red",
                                 "--size", "32", "-o", target])
    assert code == 0, err
    golden, entry = GoldenSet.load(Bundle.load(target))
    assert entry["reference"] == "onnxruntime-fp32" and len(golden) == 32
    assert "golden set: 32 random frames and onnxruntime-fp32 outputs" in err   # progress, on stderr
