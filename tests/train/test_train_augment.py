"""Augmentation: seeded, size-preserving, and --d4 draws the 8 transforms of edge.tta (their one home)."""

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.tta import dihedral
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
