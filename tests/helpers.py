"""Small data makers shared by the tests (no network, no hub: generated or scikit-learn data)."""

import os

import numpy as np


def write_png(path, image):
    import cv2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    assert ok
    with open(path, "wb") as handle:
        handle.write(data.tobytes())


def make_shapes_folder(root, per_class=12, size=32, classes=("dark", "light"), seed=0):
    """A tiny, easily separable image-folder dataset: dark vs light noisy squares."""
    rng = np.random.RandomState(seed)
    for index, name in enumerate(classes):
        level = 40 + index * (170 // max(1, len(classes) - 1))
        for item in range(per_class):
            image = np.clip(rng.normal(level, 20, size=(size, size, 3)), 0, 255).astype(np.uint8)
            write_png(os.path.join(str(root), name, "{:03d}.png".format(item)), image)
    return str(root)
