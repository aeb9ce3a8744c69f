"""Regression outputs: target names, and points mapped through the preprocessing like their pixels."""

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec, resize_and_crop
from edge.tasks.points import (RegressionTargets, error_summary, image_to_input, input_to_image, normalize,
                             outside, to_image_pixels, to_model_units)


def bright_pixel(height, width, x, y):
    image = np.zeros((height, width, 3), np.uint8)
    image[y, x] = 255
    return image


def brightest(image):
    """(x, y) of the intensity-weighted centre of the bright spot (sub-pixel)."""
    gray = image.astype(np.float64).sum(axis=2)
    ys, xs = np.nonzero(gray > 0.05 * gray.max())
    weights = gray[ys, xs]
    return np.array([np.sum(xs * weights) / weights.sum(), np.sum(ys * weights) / weights.sum()])


@pytest.mark.parametrize("spec", [
    PreprocessSpec(size=(32, 40), resize="stretch"),
    PreprocessSpec(size=32, resize="center_crop", crop_pct=1.0),
    PreprocessSpec(size=32, resize="center_crop", crop_pct=0.875),
], ids=["stretch", "centre-crop-1", "centre-crop-0.875"])
@pytest.mark.parametrize("image_hw", [(96, 128), (50, 40)])
def test_a_point_lands_where_its_pixel_lands_after_resize_and_crop(spec, image_hw):
    rng = np.random.RandomState(0)
    for _ in range(5):
        x, y = rng.randint(image_hw[1] // 4, 3 * image_hw[1] // 4), rng.randint(image_hw[0] // 4, 3 * image_hw[0] // 4)
        source = bright_pixel(image_hw[0], image_hw[1], x, y)
        # A 3x3 spot, so the smallest downscale still shows it.
        source[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = 255
        resized = resize_and_crop(source, spec)
        mapped = image_to_input([x, y], image_hw, spec)
        assert np.abs(brightest(resized) - mapped).max() < 1.0


@pytest.mark.parametrize("spec", [PreprocessSpec(size=(24, 32), resize="stretch"),
                                  PreprocessSpec(size=32, crop_pct=0.875)])
def test_pixels_to_model_units_and_back_is_the_identity(spec):
    values = np.array([[3.0, 40.0, 120.5, 7.25], [0.0, 0.0, 199.0, 99.0]])
    units = to_model_units(values, (100, 200), spec)
    assert np.allclose(to_image_pixels(units, (100, 200), spec), values)
    assert np.allclose(input_to_image(image_to_input(values, (100, 200), spec), (100, 200), spec), values)


def test_model_units_span_minus_one_to_one_across_the_input():
    spec = PreprocessSpec(size=(10, 20), resize="stretch")
    # The left and right edges of the input (pixel centres at -0.5 and width - 0.5) are -1 and +1.
    assert np.allclose(normalize([-0.5, -0.5], spec), [-1, -1])
    assert np.allclose(normalize([19.5, 9.5], spec), [1, 1])
    # An image twice the input's size: its centre is the input's centre, 0.
    assert np.allclose(to_model_units([19.5, 9.5], (20, 40), spec), [0, 0])


def test_outputs_map_to_pixels_of_an_image_of_any_size():
    spec = PreprocessSpec(size=32, resize="stretch")
    centre = [0.0, 0.0]
    assert np.allclose(to_image_pixels(centre, (480, 640), spec), [319.5, 239.5])
    assert np.allclose(to_image_pixels([1.0, -1.0], (100, 50), spec), [49.5, -0.5])


def test_target_names_come_in_x_y_pairs():
    targets = RegressionTargets(["nose_x", "nose_y", "tailX", "tailY"])
    assert targets.points == [("nose_x", "nose_y"), ("tailX", "tailY")]
    assert RegressionTargets.from_dict(targets.to_dict()) == targets
    assert list(targets.values([1.234, 2, 3, 4.567])) == ["nose_x", "nose_y", "tailX", "tailY"]
    assert targets.values([1.234, 2, 3, 4.567])["tailY"] == 4.57
    for names, message in ((["x"], "pairs"), (["y", "x"], "not an x,y pair"), ([], "no target"),
                           (["x", "y", "x", "y"], "twice")):
        with pytest.raises(EdgeError, match=message):
            RegressionTargets(names)
    with pytest.raises(EdgeError, match="not supported"):
        RegressionTargets.from_dict(dict(targets.to_dict(), normalization={"frame": "image", "range": [0, 1]}))


def test_outside_names_each_coordinate_beyond_the_grid_or_the_area():
    assert outside([0, 0, 9, 4], (5, 10)) == []
    assert outside([-0.2, 0, 9.4, 4], (5, 10)) == [0, 2]
    assert outside([-0.2, 0, 9.4, 4], (5, 10), margin=0.5) == []


def test_error_summary_is_mae_and_rmse_per_target_and_overall():
    summary = error_summary([[1, 2], [3, 4]], [[0, 2], [0, 0]], ["x", "y"])
    assert summary["images"] == 2
    assert summary["per_target"]["x"]["mae_px"] == pytest.approx(2.0)
    assert summary["per_target"]["y"]["rmse_px"] == pytest.approx(np.sqrt(8))
    assert summary["mae_px"] == pytest.approx((1 + 0 + 3 + 4) / 4.0)
    assert summary["rmse_px"] == pytest.approx(np.sqrt((1 + 9 + 16) / 4.0))
