"""Training augmentation on OpenCV BGR uint8 images, applied after the spec's resize/crop.

Every random choice comes from the `rng` passed in (seeded per sample and epoch by the sampler),
so an epoch's augmentations do not depend on worker count or scheduling. Evaluation uses none.
"""

import numpy as np

from edge.lazy import require
from edge.option_ranges import check
from edge.tta import dihedral


class AugmentConfig(object):
    """hflip/vflip: probabilities; rotate: max degrees; shift: max fraction of the side;
    zoom: max relative scale change; jitter: max relative brightness/contrast/saturation change;
    d4: one of the 8 dihedral transforms (rotations by 90 degrees and mirrors), for top-down imagery."""

    FIELDS = ("hflip", "vflip", "rotate", "shift", "zoom", "jitter", "d4")

    def __init__(self, hflip=0.5, vflip=0.0, rotate=10.0, shift=0.1, zoom=0.1, jitter=0.2, d4=False):
        self.hflip, self.vflip = check("hflip", hflip), check("vflip", vflip)
        self.rotate, self.shift = check("rotate", rotate), check("shift", shift)
        self.zoom, self.jitter = check("zoom", zoom), check("jitter", jitter)
        self.d4 = bool(d4)

    @classmethod
    def none(cls):
        return cls(hflip=0, vflip=0, rotate=0, shift=0, zoom=0, jitter=0, d4=False)

    def to_dict(self):
        return {name: getattr(self, name) for name in self.FIELDS}


def random_affine(image, config, rng):
    cv2 = require("cv2", "augmentation")
    height, width = image.shape[:2]
    angle = rng.uniform(-config.rotate, config.rotate) if config.rotate else 0.0
    scale = rng.uniform(1 - config.zoom, 1 + config.zoom) if config.zoom else 1.0
    dx = rng.uniform(-config.shift, config.shift) * width if config.shift else 0.0
    dy = rng.uniform(-config.shift, config.shift) * height if config.shift else 0.0
    if angle == 0.0 and scale == 1.0 and dx == 0.0 and dy == 0.0:
        return image
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, scale)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def color_jitter(image, strength, rng):
    """Random brightness, contrast and saturation, each scaled by a factor in [1-s, 1+s]."""
    out = image.astype(np.float32)
    out *= rng.uniform(1 - strength, 1 + strength)
    gray = out.mean(axis=2, keepdims=True)
    out = gray.mean() + (out - gray.mean()) * rng.uniform(1 - strength, 1 + strength)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * rng.uniform(1 - strength, 1 + strength)
    return np.clip(out, 0, 255).astype(np.uint8)


def augment(image, config, rng):
    """One random augmentation of a BGR uint8 image; its size is unchanged."""
    image = random_affine(image, config, rng)
    if config.hflip and rng.random() < config.hflip:
        image = image[:, ::-1]
    if config.vflip and rng.random() < config.vflip:
        image = image[::-1]
    if config.d4:
        image = dihedral(image, int(rng.integers(8)))
    if config.jitter:
        image = color_jitter(image, config.jitter, rng)
    return np.ascontiguousarray(image)
