"""Held-out image-folder datasets of drawn shapes (numpy + OpenCV), for the small-data benchmark.

Each image holds one circle, square or triangle (filled, or one in five a thick outline), of a
random bright colour, size, position and rotation, on a random darker background with pixel noise
and clutter (thin lines and dots). Colour, size and position say nothing about the class: only the shape does. The training
and validation folders are drawn from disjoint random streams, so validation images are unseen.
"""

import os

import numpy as np

SHAPES = ("circle", "square", "triangle")
PRETEXT_SHAPES = ("ellipse", "pentagon", "star", "cross")   # the checkpoint's task: other shapes
SIDES = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}


def _colour(rng, low=0, high=256):
    return tuple(int(c) for c in rng.randint(low, high, size=3))


def _bright_colour(rng):
    """A random hue, brighter than any background (a from-scratch network learns shape, not polarity)."""
    colour = np.array(_colour(rng, 60, 256))
    colour[rng.randint(3)] = rng.randint(200, 256)
    return tuple(int(c) for c in colour)


def _polygon(centre, radius, sides, angle, inner=None):
    """A regular polygon, or a star when `inner` (the inner radius) is given."""
    count = sides * 2 if inner else sides
    theta = angle + np.arange(count) * 2 * np.pi / count
    radii = np.where(np.arange(count) % 2 == 1, inner, radius) if inner else np.full(count, radius)
    points = np.stack([centre[0] + radii * np.cos(theta), centre[1] + radii * np.sin(theta)], axis=1)
    return np.round(points).astype(np.int32).reshape(-1, 1, 2)


def draw_shape(shape, rng, side=160):
    """One BGR uint8 image of `shape`."""
    import cv2

    background = _colour(rng, 0, 110)
    image = np.empty((side, side, 3), dtype=np.uint8)
    image[:] = background
    noise = rng.normal(0, 12, size=image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.randint(0, 4)):           # clutter: lines across the image
        start, end = rng.randint(0, side, size=2), rng.randint(0, side, size=2)
        cv2.line(image, tuple(int(v) for v in start), tuple(int(v) for v in end), _colour(rng, 0, 160),
                 1, cv2.LINE_AA)
    for _ in range(rng.randint(3, 10)):          # clutter: small dots
        centre = tuple(int(v) for v in rng.randint(0, side, size=2))
        cv2.circle(image, centre, int(rng.randint(1, 4)), _colour(rng), -1, cv2.LINE_AA)
    radius = rng.uniform(0.18, 0.32) * side
    margin = radius + 0.1 * side                 # stays inside the centre crop
    centre = rng.uniform(margin, side - margin, size=2)
    colour = _bright_colour(rng)
    thickness = -1 if rng.rand() < 0.8 else int(rng.randint(4, 8))
    angle = rng.uniform(0, 2 * np.pi)
    if shape == "circle":
        cv2.circle(image, (int(centre[0]), int(centre[1])), int(radius), colour, thickness, cv2.LINE_AA)
    elif shape == "ellipse":
        axes = (int(radius), int(radius * rng.uniform(0.35, 0.65)))
        cv2.ellipse(image, (int(centre[0]), int(centre[1])), axes, float(np.degrees(angle)), 0, 360, colour,
                    thickness, cv2.LINE_AA)
    elif shape == "cross":
        arm = radius * rng.uniform(0.25, 0.4)
        corners = np.array([[-arm, -radius], [arm, -radius], [arm, -arm], [radius, -arm], [radius, arm], [arm, arm],
                            [arm, radius], [-arm, radius], [-arm, arm], [-radius, arm], [-radius, -arm], [-arm, -arm]])
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = np.round(corners.dot(rotation.T) + centre).astype(np.int32).reshape(-1, 1, 2)
        if thickness < 0:
            cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
        else:
            cv2.polylines(image, [points], True, colour, thickness, cv2.LINE_AA)
    else:
        inner = radius * 0.45 if shape == "star" else None
        points = _polygon(centre, radius, 5 if shape == "star" else SIDES[shape], angle, inner)
        if thickness < 0:
            cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
        else:
            cv2.polylines(image, [points], True, colour, thickness, cv2.LINE_AA)
    return cv2.GaussianBlur(image, (3, 3), 0)


def write_folder(root, classes, per_class, seed, side=160):
    """root/<class>/<nnn>.png for each class; returns root."""
    import cv2

    rng = np.random.RandomState(seed)
    for name in classes:
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            ok, data = cv2.imencode(".png", draw_shape(name, rng, side))
            if not ok:
                raise RuntimeError("could not encode a PNG")
            with open(os.path.join(folder, "{:04d}.png".format(index)), "wb") as handle:
                handle.write(data.tobytes())
    return root


def make_dataset(root, classes, per_class, val_per_class=40, seed=0, side=160):
    """root/train and root/val (disjoint random streams); returns (train, val) paths."""
    train = write_folder(os.path.join(root, "train"), classes, per_class, seed=1000 + seed, side=side)
    val = write_folder(os.path.join(root, "val"), classes, val_per_class, seed=2000 + seed, side=side)
    return train, val
