"""Small data makers shared by the tests (no network, no hub: generated or scikit-learn data)."""

import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


# The views of edge-train --tta, written out independently of edge.tasks.tta (k quarter turns, mirrored for k >= 4).
TTA_VIEWS = {"hflip": (0, 4), "d4": tuple(range(8))}


def tta_accuracy_by_hand(model_path, data, mode="d4"):
    """(accuracy, images) of a saved model.pt on its run's validation split (DATA split 20%, seed 0), each image
    as its views made with torch's own rot90 and flip, softmaxes averaged."""
    import torch

    from train.checkpoint import load_checkpoint, model_from_record, spec_from_record
    from train.data import make_splits
    from train.loaders import make_loader

    record = load_checkpoint(model_path, kinds=("model",))
    _, val_set, _ = make_splits(data, None, 0.2, 0)
    loader, _ = make_loader(val_set, spec_from_record(record), 5, 0)
    model = model_from_record(record)
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            views = []
            for k in TTA_VIEWS[mode]:
                view = torch.rot90(images, k % 4, dims=(2, 3))
                views.append(torch.softmax(model(torch.flip(view, dims=(3,)) if k >= 4 else view), dim=1))
            correct += int((torch.stack(views).mean(dim=0).argmax(1) == labels).sum())
    return correct / float(len(val_set.samples)), len(val_set.samples)


def spot_image(height, width, x, y, seed=0):
    """A dim noisy BGR image with a bright 3x3 spot centred on pixel (x, y): a regression target to find."""
    image = np.random.RandomState(seed).randint(0, 40, size=(height, width, 3)).astype(np.uint8)
    image[y - 1:y + 2, x - 1:x + 2] = 255
    return image


def write_point_folder(folder, count, height=40, width=48, seed=0, names=True):
    """`count` spot images, labelled by their names <x>_<y>_<id>.png, or (names=False) by a labels.csv."""
    rng = np.random.RandomState(seed)
    rows = ["file,x,y"]
    for index in range(count):
        x, y = int(rng.randint(3, width - 3)), int(rng.randint(3, height - 3))
        name = "{}_{}_{:03d}.png".format(x, y, index) if names else "{:03d}.png".format(index)
        write_png(os.path.join(str(folder), name), spot_image(height, width, x, y, seed=seed * 1000 + index))
        rows.append("{},{},{}".format(name, x, y))
    if not names:
        with open(os.path.join(str(folder), "labels.csv"), "w") as handle:
            handle.write("\n".join(rows) + "\n")
    return str(folder)


# Prepended to code run by run_blocked: importing any of `blocked` fails, as where it is not installed.
BLOCKER = """
import sys
class Blocker(object):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked for this test: ' + name)
        return None
sys.meta_path.insert(0, Blocker())
"""
# Prepended after the blocker: edge.tensorrt.engines replaced by a recorder, and an importable 'tensorrt'.
STAND_IN_ENGINES = """
import types
calls = []
engines = types.ModuleType('edge.tensorrt.engines')
engines.add_engines = lambda bundle_dir, precisions, **kw: calls.append((bundle_dir, precisions)) or []
sys.modules['edge.tensorrt.engines'] = engines
sys.modules['tensorrt'] = types.ModuleType('tensorrt')
"""


def run_blocked(code, blocked, args=(), timeout=120):
    """Run `code` in a fresh interpreter (in the checkout) where `blocked` modules cannot be imported."""
    return subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=tuple(blocked)) + code] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                          cwd=ROOT)


def undocumented_manifest_keys(manifest, opaque=("int8", "metrics")):
    """The keys of `manifest` that edge.bundle.bundle's schema docstring never names, sorted. The children of
    an `opaque` key are data (keyed by flavor name, by what training measured), not schema."""
    import re

    import edge.bundle.bundle

    def keys(value, inside=""):
        if isinstance(value, dict):
            for key, item in value.items():
                if inside in opaque:
                    yield from keys(item, "")
                    continue
                yield key
                yield from keys(item, key)
        elif isinstance(value, list):
            for item in value:
                yield from keys(item, inside)

    return sorted(key for key in set(keys(manifest)) if '"{}"'.format(key) not in edge.bundle.bundle.__doc__
                  and not re.search(r"\b{}\b".format(re.escape(key)), edge.bundle.bundle.__doc__))
