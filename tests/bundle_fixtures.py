"""Shared fixtures: a tiny colour classifier, its image folders and bundles exported from it.

Everything is small (ResNet-18 with 3 classes at 32x32, a few dozen 40x48 images) and built once
per session, so the whole export suite runs in well under a minute on a CPU.
"""

import hashlib
import os
import shutil

import numpy as np
import pytest

from edge.bundle.preprocess import PreprocessSpec

EXPORT_CLASSES = ["blue", "green", "red"]   # dominant BGR channel 0, 1, 2


def fit_head(model, batch, targets, loss, steps):
    """`model` with its head fitted to `targets` on the frozen features of `batch` (a random backbone):
    a deterministic model in seconds, whose outputs mean something."""
    import torch

    head = model.fc
    model.fc = torch.nn.Identity()
    with torch.no_grad():
        features = model(batch)
    model.fc = head
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(steps):
        value = loss(head(features), targets)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return model


def export_colour_image(rng, channel):
    """A 40x48 BGR frame whose `channel` dominates, with texture so it is not trivial."""
    image = rng.randint(0, 90, size=(40, 48, 3)).astype(np.uint8)
    image[:, :, channel] = rng.randint(150, 256, size=(40, 48)).astype(np.uint8)
    return image


def write_image_folder(root, per_class, seed, classes=EXPORT_CLASSES, flat=False):
    import cv2

    rng = np.random.RandomState(seed)
    for channel, name in enumerate(classes):
        folder = root if flat else os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            cv2.imwrite(os.path.join(folder, "{}_{:03d}.png".format(name, index)),
                        export_colour_image(rng, channel))
    return root


def snapshot(folder):
    """{file name: sha256} of every file under `folder` (to prove it did not change)."""
    found = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@pytest.fixture(scope="session")
def export_spec():
    return PreprocessSpec(size=32, crop_pct=0.875)


@pytest.fixture(scope="session")
def export_images(tmp_path_factory):
    """Calibration/verification folder: one sub-folder per class, 12 images each."""
    return write_image_folder(str(tmp_path_factory.mktemp("export_images")), per_class=12, seed=1)


@pytest.fixture(scope="session")
def export_model(export_images, export_spec):
    """A ResNet-18 (random backbone, eval mode) whose head is fit to tell the three colours apart.

    Only the classifier is trained, on pooled backbone features computed once: a second of CPU,
    yet the logits have real margins, as a trained model's do. Without torch, onnx and onnxruntime
    (a Jetson) the tests that need an exported bundle skip.
    """
    for module in ("onnx", "onnxruntime"):
        pytest.importorskip(module, reason="exporting a bundle needs {} (desktop)".format(module))
    torch = pytest.importorskip("torch", reason="exporting a bundle needs PyTorch (desktop)")

    model, batch, labels = colour_classifier(export_images, export_spec)
    with torch.no_grad():
        assert (model(batch).argmax(1) == labels).float().mean() == 1.0
    return model


def colour_classifier(images, spec):
    """(model, batch, labels): a ResNet-18 (random backbone, seed 0) whose head is fit to the colour
    folders in `images`, preprocessed with `spec`."""
    import torch

    from edge.bundle.preprocess import preprocess_batch, read_image
    from export.verify import list_images
    from train.resnet import build_resnet

    torch.manual_seed(0)
    entries = list_images(images)
    batch = torch.from_numpy(preprocess_batch([read_image(p) for p, _ in entries], spec))
    labels = torch.tensor([EXPORT_CLASSES.index(label) for _, label in entries])
    model = fit_head(build_resnet("resnet18", len(EXPORT_CLASSES)).eval(), batch, labels,
                     torch.nn.functional.cross_entropy, steps=200)
    return model, batch, labels


@pytest.fixture(scope="session")
def export_checkpoint(tmp_path_factory, export_model, export_spec):
    from train.checkpoint import model_record, save_checkpoint

    path = os.path.join(str(tmp_path_factory.mktemp("export_ckpt")), "model.pt")
    save_checkpoint(path, model_record(export_model, "resnet18", EXPORT_CLASSES, export_spec))
    return path


def run_export(argv, capsys):
    """Run edge-export in-process; returns (exit code, stdout, stderr)."""
    from export.cli import main

    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def export_fp32_bundle(tmp_path_factory, export_checkpoint):
    """A plain bundle (--no-fuse-preprocess: float NCHW input, normalised on the host) exported once (fp32,
    static batch 1, random verification images); the fused default is export_fused_int8_bundle's. Do not modify."""
    from export.cli import main

    out = os.path.join(str(tmp_path_factory.mktemp("export_fp32")), "bundle")
    assert main([export_checkpoint, "-o", out, "--no-fuse-preprocess"]) == 0
    return out


@pytest.fixture(scope="session")
def export_int8_bundle(tmp_path_factory, export_checkpoint, export_images):
    """A plain bundle (--no-fuse-preprocess: float NCHW input) with both INT8 flavors, calibrated on the class
    folders. Do not modify."""
    from export.cli import main

    out = os.path.join(str(tmp_path_factory.mktemp("export_int8")), "bundle")
    code = main([export_checkpoint, "-o", out, "--no-fuse-preprocess", "--int8", "--calib", export_images,
                 "--calib-method", "minmax", "--holdout-fraction", "0.25"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def export_fused_int8_bundle(tmp_path_factory, export_checkpoint, export_images):
    """edge-export's default, fused (uint8 input, plus the float-pixel family for TensorRT 8.2), with both INT8
    flavors and a dynamic batch of 1..4. Do not modify."""
    from export.cli import main

    out = os.path.join(str(tmp_path_factory.mktemp("export_fused")), "bundle")
    code = main([export_checkpoint, "-o", out, "--dynamic-batch", "4", "--int8", "--calib",
                 export_images, "--calib-method", "minmax", "--holdout-fraction", "0.25"])
    assert code == 0
    return out


@pytest.fixture
def export_bundle_copy(tmp_path, export_fp32_bundle):
    """A private copy of the fp32 bundle that a test may try to overwrite."""
    target = os.path.join(str(tmp_path), "bundle")
    shutil.copytree(export_fp32_bundle, target)
    return target


@pytest.fixture
def export_run(capsys):
    """run(argv) -> (exit code, stdout, stderr), edge-export in-process."""
    return lambda argv: run_export(argv, capsys)


@pytest.fixture
def export_snapshot():
    return snapshot


@pytest.fixture
def export_make_images():
    """make(root, per_class, seed, classes=..., flat=False) -> root: writes a colour image folder."""
    return write_image_folder


# ----------------------------------------------------------------------------- a regression model


REGRESSION_SPEC = dict(size=32, resize="stretch", crop_pct=1.0)


@pytest.fixture(scope="session")
def regression_images(tmp_path_factory):
    """24 images of 40x48 pixels with a bright spot, named <x>_<y>_<id>.png (the course's labelling)."""
    from tests.helpers import write_point_folder

    return write_point_folder(tmp_path_factory.mktemp("regression_images") / "points", 24, seed=3)


@pytest.fixture(scope="session")
def regression_checkpoint(tmp_path_factory, regression_images):
    """A regression model.pt (targets x,y; 32x32 plain resize): a random ResNet-18 backbone whose head is fit
    to the spots' positions, as export_model's head is fit to the colours (outputs with real range)."""
    for module in ("onnx", "onnxruntime"):
        pytest.importorskip(module, reason="exporting a bundle needs {} (desktop)".format(module))
    torch = pytest.importorskip("torch", reason="exporting a bundle needs PyTorch (desktop)")

    from edge.tasks.point_labels import folder_points
    from edge.bundle.preprocess import preprocess_batch, read_image
    from edge.tasks.points import RegressionTargets, to_model_units
    from train.checkpoint import model_record, save_checkpoint
    from train.resnet import build_resnet

    spec = PreprocessSpec(**REGRESSION_SPEC)
    torch.manual_seed(0)
    labels = folder_points(regression_images)
    frames = [read_image(path) for path, _, _ in labels.entries]
    batch = torch.from_numpy(preprocess_batch(frames, spec))
    targets = torch.tensor(np.array([to_model_units(values, frame.shape[:2], spec)
                                     for (_, values, _), frame in zip(labels.entries, frames)]), dtype=torch.float32)
    model = fit_head(build_resnet("resnet18", 2).eval(), batch, targets, torch.nn.functional.mse_loss, steps=300)
    path = os.path.join(str(tmp_path_factory.mktemp("regression_ckpt")), "model.pt")
    save_checkpoint(path, model_record(model, "resnet18", [], spec, targets=RegressionTargets(["x", "y"]),
                                       metrics={"val": {"images": 24, "mae_px": 1.5, "rmse_px": 2.0,
                                                        "per_target": {}}}))
    return path


@pytest.fixture(scope="session")
def regression_bundle(tmp_path_factory, regression_checkpoint, regression_images):
    """A regression bundle with both INT8 flavors, calibrated and judged on the labelled spots. Do not modify."""
    from export.cli import main

    out = os.path.join(str(tmp_path_factory.mktemp("regression_bundle")), "bundle")
    code = main([regression_checkpoint, "-o", out, "--int8", "--calib", regression_images, "--calib-method",
                 "minmax", "--holdout-fraction", "0.25", "--int8-max-mae-increase", "5"])
    assert code == 0
    return out
