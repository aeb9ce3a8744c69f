"""Augmentation: seeded, size-preserving, and the dihedral group really has 8 members."""

import numpy as np
import pytest

from edge.errors import EdgeError
from train.augment import AugmentConfig, augment, dihedral
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


def test_dihedral_transforms_are_the_eight_symmetries():
    image = np.arange(16).reshape(4, 4)
    variants = {dihedral(image, k).tobytes() for k in range(8)}
    assert len(variants) == 8


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
