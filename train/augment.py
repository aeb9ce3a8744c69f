"""Training augmentation on OpenCV BGR uint8 images, applied after the spec's resize/crop.

Every random choice comes from the `rng` passed in (seeded per sample and epoch by the sampler),
so an epoch's augmentations do not depend on worker count or scheduling. Evaluation uses none.
Regression targets move with the image (augment_points): the same matrix, flip or D4 transform
that moves the pixels moves the points, and an affine draw that would push a point off the image
is drawn again (then skipped), so a target always stays on the image it describes.
"""

import numpy as np

from edge.util.lazy import require
from edge.options.ranges import check
from edge.tasks import tta as edge_tta
from edge.tasks.tta import dihedral


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


# An affine draw that would move a regression target off the image is drawn again, at most this many
# times; then the sample keeps its geometry (flips and D4 never move a point off the image).
MAX_REDRAWS = 10


def affine_matrix(height, width, config, rng):
    """A random rotation, zoom and shift as OpenCV's 2x3 matrix on pixel positions, or None for none."""
    cv2 = require("cv2", "augmentation")
    angle = rng.uniform(-config.rotate, config.rotate) if config.rotate else 0.0
    scale = rng.uniform(1 - config.zoom, 1 + config.zoom) if config.zoom else 1.0
    dx = rng.uniform(-config.shift, config.shift) * width if config.shift else 0.0
    dy = rng.uniform(-config.shift, config.shift) * height if config.shift else 0.0
    if angle == 0.0 and scale == 1.0 and dx == 0.0 and dy == 0.0:
        return None
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, scale)
    matrix[:, 2] += (dx, dy)
    return matrix


def move_points(points, matrix):
    """Points (P x 2 pixel positions) under a 2x3 affine matrix: where warpAffine moves their pixels."""
    return points.dot(matrix[:, :2].T) + matrix[:, 2]


def keeps_points(points, matrix, height, width):
    moved = move_points(points, matrix)
    return bool(np.all((moved >= -0.5) & (moved <= np.array([width - 0.5, height - 0.5]))))


def random_affine(image, config, rng, points=None):
    """(image, points) after a random rotation, zoom and shift; points (P x 2, or None) move with the pixels.

    A draw that would move a point off the image is redrawn (MAX_REDRAWS times), then skipped.
    Without points the border is mirrored; with points it is black (a mirror could copy the target).
    """
    cv2 = require("cv2", "augmentation")
    height, width = image.shape[:2]
    matrix = affine_matrix(height, width, config, rng)
    redraws = 0
    while points is not None and matrix is not None and not keeps_points(points, matrix, height, width):
        redraws += 1
        matrix = affine_matrix(height, width, config, rng) if redraws <= MAX_REDRAWS else None
    if matrix is None:
        return image, points
    # A mirrored border would show a regression target twice (a copy of the nose beside the nose):
    # with targets, what the warp brings in from outside the image is black.
    border = cv2.BORDER_REFLECT_101 if points is None else cv2.BORDER_CONSTANT
    image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=border)
    return image, None if points is None else move_points(points, matrix)


def dihedral_points(points, k, height, width):
    """Where dihedral(image, k) of a height x width image moves points (P x 2 pixel positions, (0, 0) the
    centre of the top-left pixel; edge.tasks.tta works on continuous positions, half a pixel further)."""
    return edge_tta.dihedral_points(np.asarray(points, dtype=np.float64) + 0.5, k, (height, width)) - 0.5


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
    return augment_points(image, None, config, rng)[0]


def augment_points(image, points, config, rng):
    """(image, points): one random augmentation of a BGR uint8 image, and its regression targets moved with it.

    points: P x 2 pixel positions (x, y) in `image`, or None. Every geometric transform moves them as
    it moves the pixels: the affine by its own matrix, a flip mirrors x (or y), D4 maps them like the
    image; colour jitter leaves them. With points=None the random draws are exactly augment's.
    """
    height, width = image.shape[:2]
    image, points = random_affine(image, config, rng, points)
    if config.hflip and rng.random() < config.hflip:
        image = image[:, ::-1]
        if points is not None:
            points = np.stack([width - 1 - points[:, 0], points[:, 1]], axis=1)
    if config.vflip and rng.random() < config.vflip:
        image = image[::-1]
        if points is not None:
            points = np.stack([points[:, 0], height - 1 - points[:, 1]], axis=1)
    if config.d4:
        k = int(rng.integers(8))
        image = dihedral(image, k)
        if points is not None:
            points = dihedral_points(points, k, height, width)
    if config.jitter:
        image = color_jitter(image, config.jitter, rng)
    return np.ascontiguousarray(image), points
