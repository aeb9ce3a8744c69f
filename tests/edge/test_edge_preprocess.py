"""The one preprocessing spec: serialisation, validation, and the numbers it produces."""

import json

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec, preprocess, preprocess_batch, read_image, resize_and_crop
from tests.helpers import write_png


def test_spec_round_trips_through_json():
    spec = PreprocessSpec(size=(96, 128), resize="stretch", crop_pct=0.9, mean=(0.1, 0.2, 0.3),
                          std=(0.4, 0.5, 0.6), color_order="BGR", interpolation="area")
    again = PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.size == (96, 128) and again.color_order == "BGR"
    assert PreprocessSpec(64) == PreprocessSpec(size=[64, 64])


@pytest.mark.parametrize("bad, message", [
    ({"size": [4, 4]}, "size"), ({"resize": "zoom"}, "resize"), ({"crop_pct": 0}, "crop_pct"),
    ({"std": [1, 0, 1]}, "std"), ({"color_order": "RGBA"}, "color_order"),
    ({"interpolation": "lanczos9"}, "interpolation"), ({"layout": "NHWC"}, "NCHW"),
])
def test_invalid_specs_are_refused(bad, message):
    with pytest.raises(EdgeError, match=message):
        PreprocessSpec.from_dict(dict(PreprocessSpec().to_dict(), **bad))


def test_unknown_keys_are_refused_rather_than_ignored():
    with pytest.raises(EdgeError, match="unknown keys"):
        PreprocessSpec.from_dict(dict(PreprocessSpec().to_dict(), gamma=2.2))


def test_normalisation_numbers_and_colour_order():
    spec = PreprocessSpec(size=8, resize="stretch", mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 128, 0   # B, G, R
    out = preprocess(image, spec)
    assert out.shape == (3, 8, 8) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    # RGB order: channel 0 is red (0), 1 green (128), 2 blue (255).
    assert np.allclose(out[0], (0 / 255.0 - 0.5) / 0.5)
    assert np.allclose(out[1], (128 / 255.0 - 0.25) / 0.25)
    assert np.allclose(out[2], (255 / 255.0 - 0.0) / 1.0)
    bgr = preprocess(image, PreprocessSpec(size=8, resize="stretch", mean=(0, 0, 0), std=(1, 1, 1),
                                           color_order="BGR"))
    assert np.allclose(bgr[0], 1.0) and np.allclose(bgr[2], 0.0)


def test_center_crop_keeps_aspect_and_takes_the_centre():
    spec = PreprocessSpec(size=32, resize="center_crop", crop_pct=1.0, interpolation="nearest")
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, 32:96] = 200  # the central square of a 2:1 image
    out = resize_and_crop(image, spec)
    assert out.shape == (32, 32, 3) and (out == 200).all()
    spec = PreprocessSpec(size=32, crop_pct=0.5, interpolation="nearest")
    assert spec.resized_size() == (64, 64)
    assert resize_and_crop(np.zeros((100, 50, 3), np.uint8), spec).shape == (32, 32, 3)


def test_file_and_frame_give_identical_tensors(tmp_path):
    rng = np.random.RandomState(0)
    frame = rng.randint(0, 255, size=(120, 160, 3)).astype(np.uint8)
    write_png(str(tmp_path / "f.png"), frame)   # PNG is lossless: the file is the frame
    spec = PreprocessSpec(size=64)
    assert np.array_equal(preprocess(read_image(str(tmp_path / "f.png")), spec), preprocess(frame, spec))
    assert preprocess_batch([frame, frame], spec).shape == (2, 3, 64, 64)


def test_unreadable_images_return_none(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"nope")
    assert read_image(str(tmp_path / "x.jpg")) is None
    assert read_image(str(tmp_path / "missing.jpg")) is None
    with pytest.raises(EdgeError, match="BGR image"):
        preprocess(np.zeros((8, 8), np.uint8), PreprocessSpec(8))
