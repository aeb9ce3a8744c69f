"""Augmentation: seeded, size-preserving, and --d4 draws the 8 transforms of edge.tasks.tta (their one home)."""

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.tasks.tta import dihedral
from train.augment import AugmentConfig, augment
from train.loaders import SeededSampler


def _image():
    return np.random.RandomState(1).randint(0, 255, size=(32, 32, 3)).astype(np.uint8)


def test_same_seed_same_augmentation_and_size_kept():
    config = AugmentConfig(hflip=0.5, vflip=0.5, rotate=30, shift=0.2, zoom=0.3, jitter=0.4, d4=True)
    a = augment(_image(), config, np.random.default_rng(5))
    b = augment(_image(), config, np.random.default_rng(5))
    c = augment(_image(), config, np.random.default_rng(6))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_no_augmentation_is_identity():
    assert np.array_equal(augment(_image(), AugmentConfig.none(), np.random.default_rng(0)), _image())


def test_d4_augmentation_draws_each_of_the_eight_transforms_inference_uses():
    config = AugmentConfig(hflip=0, vflip=0, rotate=0, shift=0, zoom=0, jitter=0, d4=True)
    image = _image()
    drawn = set()
    for seed in range(100):
        out = augment(image, config, np.random.default_rng(seed))
        matches = [k for k in range(8) if np.array_equal(out, dihedral(image, k))]
        assert len(matches) == 1
        drawn.add(matches[0])
    assert drawn == set(range(8))


def test_bad_augmentation_values_are_refused():
    with pytest.raises(EdgeError, match="probability"):
        AugmentConfig(hflip=1.5)
    with pytest.raises(EdgeError):
        AugmentConfig(zoom=1.2)


def test_sampler_is_seeded_per_epoch_and_resumes_mid_epoch():
    sampler = SeededSampler(10, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(i for i, _ in first) == list(range(10)) and first != second
    sampler.set_epoch(0, start=4)
    assert list(sampler) == first[4:] and len(sampler) == 6


# ----------------------------------------------------------------------------- regression targets

def spot_image(height, width, points):
    """Black, with a bright 3x3 spot at each point (pixel positions)."""
    image = np.zeros((height, width, 3), np.uint8)
    for x, y in points:
        image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = 255
    return image


def spot_centre(image):
    """The intensity-weighted centre (x, y) of the bright pixels."""
    gray = image.astype(np.float64).sum(axis=2)
    ys, xs = np.nonzero(gray > 0.1 * gray.max())
    weights = gray[ys, xs]
    return np.array([np.sum(xs * weights), np.sum(ys * weights)]) / weights.sum()


AUGMENTATIONS = {
    "hflip": dict(hflip=1.0), "vflip": dict(vflip=1.0), "rotate": dict(rotate=40), "shift": dict(shift=0.3),
    "zoom": dict(zoom=0.4), "d4": dict(d4=True), "jitter": dict(jitter=0.5),
    "all": dict(hflip=0.5, vflip=0.5, rotate=30, shift=0.2, zoom=0.3, jitter=0.3, d4=True),
}


# The dihedral group acts on square images (edge-train's inputs are square); the rest on any.
CASES = [(name, 40, 40) for name in sorted(AUGMENTATIONS)] + [
    (name, 36, 48) for name in sorted(AUGMENTATIONS) if not AUGMENTATIONS[name].get("d4")]


@pytest.mark.parametrize("name, height, width", CASES)
def test_a_target_moves_with_its_pixel_under_every_augmentation(name, height, width):
    from train.augment import augment_points

    options = dict(hflip=0, vflip=0, rotate=0, shift=0, zoom=0, jitter=0, d4=False)
    options.update(AUGMENTATIONS[name])
    config = AugmentConfig(**options)
    for seed in range(8):
        point = np.array([[11.0, 25.0]]) if seed % 2 else np.array([[30.0, 9.0]])
        image, moved = augment_points(spot_image(height, width, point), point, config, np.random.default_rng(seed))
        assert image.shape == (height, width, 3)
        assert np.abs(spot_centre(image) - moved[0]).max() < 1.0, (name, seed, spot_centre(image), moved)


def test_without_targets_the_draws_are_those_of_plain_augment():
    from train.augment import augment_points

    config = AugmentConfig(hflip=0.5, vflip=0.5, rotate=30, shift=0.2, zoom=0.3, jitter=0.4, d4=True)
    for seed in range(5):
        plain = augment(_image(), config, np.random.default_rng(seed))
        with_none, points = augment_points(_image(), None, config, np.random.default_rng(seed))
        assert points is None and np.array_equal(plain, with_none)


def test_the_dihedral_point_map_is_the_image_map_for_all_eight():
    from train.augment import dihedral_points

    image = np.arange(5 * 5).reshape(5, 5)
    for k in range(8):
        turned = dihedral(image, k)
        for x, y in ((0, 0), (4, 1), (2, 3)):
            new_x, new_y = dihedral_points(np.array([[x, y]]), k, 5, 5)[0]
            assert turned[int(new_y), int(new_x)] == image[y, x], k


def test_an_affine_that_would_push_a_target_off_the_image_is_redrawn():
    from train.augment import augment_points

    # A point in the corner with shifts of up to 45%: most draws would push it off the image.
    config = AugmentConfig(hflip=0, vflip=0, rotate=0, shift=0.45, zoom=0, jitter=0, d4=False)
    corner = np.array([[1.0, 1.0]])
    moved_any = False
    for seed in range(40):
        image, moved = augment_points(spot_image(32, 32, corner + 1), corner + 1, config,
                                      np.random.default_rng(seed))
        assert np.all(moved >= -0.5) and np.all(moved <= 31.5), seed
        assert np.abs(spot_centre(image) - moved[0]).max() < 1.0
        moved_any = moved_any or not np.allclose(moved, corner + 1)
    assert moved_any   # draws that keep the point are used, not only the identity


def test_when_every_redraw_fails_the_sample_keeps_its_geometry():
    from train.augment import augment_points

    class AlwaysFarRight(object):
        """A generator whose every shift draw is the largest to the right (a point at the right edge leaves)."""

        def uniform(self, low, high):
            return high

        def random(self):
            return 1.0

    config = AugmentConfig(hflip=0, vflip=0, rotate=0, shift=0.3, zoom=0, jitter=0, d4=False)
    point = np.array([[30.0, 16.0]])
    image = spot_image(32, 32, point)
    kept, moved = augment_points(image, point, config, AlwaysFarRight())
    assert np.array_equal(kept, image) and np.array_equal(moved, point)
