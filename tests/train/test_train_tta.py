"""edge-train --tta: after training the best model is evaluated with test-time augmentation too, and
both figures are recorded (metrics.json, report.md, stdout): a classifier's accuracies, a regression
model's MAEs (each view's points brought back to the image before they are averaged)."""

import json
import os

import numpy as np
import pytest

from tests.helpers import TTA_VIEWS, make_shapes_folder, tta_accuracy_by_hand, write_png, write_point_folder
from train import cli

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--keep-epochs", "1", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("tiny") / "data", per_class=12)


@pytest.fixture(scope="module")
def sided(tmp_path_factory):
    """Classes told apart by orientation only: the bright half is the left, the right or the top one. A mirror
    swaps left and right and keeps top; a quarter turn moves every one."""
    root = tmp_path_factory.mktemp("sided") / "data"
    rng = np.random.RandomState(0)
    for name, bright in (("left", (slice(None), slice(0, 16))), ("right", (slice(None), slice(16, 32))),
                         ("top", (slice(0, 16), slice(None)))):
        for item in range(15):
            image = rng.normal(60, 25, size=(32, 32, 3))
            image[bright] += 110
            write_png(os.path.join(str(root), name, "{:03d}.png".format(item)),
                      np.clip(image, 0, 255).astype(np.uint8))
    return str(root)


@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_tta_evaluates_the_best_model_and_records_both_accuracies(sided, tmp_path, capsys, mode):
    run = str(tmp_path / "run")
    assert cli.main([sided, "--out", run, "--epochs", "3", "--hflip", "0", "--tta", mode] + TINY) == 0
    captured = capsys.readouterr()
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    tta = metrics["tta"]
    accuracy, images = tta_accuracy_by_hand(os.path.join(run, "model.pt"), sided, mode)
    views = len(TTA_VIEWS[mode])
    assert tta["mode"] == mode and tta["views"] == views
    assert tta["images"] == images == metrics["dataset"]["val_images"]
    assert tta["accuracy"] == pytest.approx(accuracy)
    assert tta["accuracy_without"] == metrics["accuracy"]
    assert tta["change"] == pytest.approx(tta["accuracy"] - metrics["accuracy"])
    assert tta["accuracy_ci95"][0] <= tta["accuracy"] <= tta["accuracy_ci95"][1]
    assert "evaluating the best model (epoch {}) with --tta {}: {} views".format(
        metrics["best_epoch"], mode, views) in captured.err
    assert "with --tta {} ({} views): validation accuracy {:.4f}".format(mode, views, tta["accuracy"]) in captured.out
    report = open(os.path.join(run, "report.md")).read()
    assert "with test-time augmentation (--tta {}, {} views of each image, probabilities averaged)".format(
        mode, views) in report
    # The resolved config keeps it, so --config reproduces the evaluation too.
    assert "tta: {}".format(mode) in open(os.path.join(run, "config.yaml")).read()


def test_without_tta_nothing_more_is_evaluated(data, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli.main([data, "--out", run, "--epochs", "1"] + TINY) == 0
    assert "tta" not in json.load(open(os.path.join(run, "metrics.json")))
    assert "--tta" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--tta", "d8"], "argument --tta: invalid choice: 'd8'"),
    (["--config", "{config}"], "--tta (flag or tta in"),
])
def test_a_bad_tta_is_one_line(data, tmp_path, capsys, argv, message):
    config = tmp_path / "opts.yaml"
    config.write_text("tta: rot90\n")
    argv = [data, "--out", str(tmp_path / "r")] + TINY + [a.format(config=config) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.fixture(scope="module")
def spots(tmp_path_factory):
    """Regression: 20 images of 40x48 pixels with a bright spot to find (labels in the file names)."""
    return write_point_folder(tmp_path_factory.mktemp("spots") / "data", 20)


def view_by_hand(batch, k):
    """View k of an NCHW batch with torch's own rot90 and flip (k quarter turns, mirrored for k >= 4)."""
    import torch

    view = torch.rot90(batch, k % 4, dims=(2, 3))
    return torch.flip(view, dims=(3,)) if k >= 4 else view


def undo_view_by_hand(points, k, size):
    """Points (x, y) found in pixel centres of view k of a (height, width) input -> the same points in the
    input itself. The view of an input whose pixels hold their own coordinates says where each view pixel came
    from; the map is affine, so three pixels give it."""
    import torch

    rows, columns = torch.meshgrid(torch.arange(size[0], dtype=torch.float64),
                                   torch.arange(size[1], dtype=torch.float64), indexing="ij")
    came_from = view_by_hand(torch.stack([columns, rows])[None], k)[0].numpy()
    origin = came_from[:, 0, 0]
    per_x, per_y = came_from[:, 0, 1] - origin, came_from[:, 1, 0] - origin
    return origin + points[:, :1] * per_x + points[:, 1:] * per_y


def tta_mae_by_hand(model_path, data, mode):
    """(MAE in image pixels, images) of a saved regression model.pt on its run's validation split (DATA split
    20%, seed 0) with the views of `mode`: each view's point brought back to the input, then averaged."""
    import torch

    from edge.bundle.preprocess import preprocess, read_image
    from edge.tasks.points import denormalize, input_to_image
    from train.checkpoint import load_checkpoint, model_from_record, spec_from_record
    from train.data import make_point_splits

    record = load_checkpoint(model_path, kinds=("model",))
    spec = spec_from_record(record)
    _, val_set, _ = make_point_splits(data, spec, None, 0.2, 0)
    model = model_from_record(record)
    errors = []
    with torch.no_grad():
        for path, truth, size in val_set.samples:
            batch = torch.from_numpy(preprocess(read_image(path), spec)[None])
            found = [undo_view_by_hand(denormalize(model(view_by_hand(batch, k))[0].numpy(), spec).reshape(-1, 2),
                                       k, spec.size) for k in TTA_VIEWS[mode]]
            mean = np.mean(found, axis=0).reshape(-1)
            errors.append(np.abs(input_to_image(mean, size, spec) - truth))
    return float(np.mean(errors)), len(val_set.samples)


@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_tta_evaluates_a_regression_model_by_its_points_in_the_image(spots, tmp_path, capsys, mode):
    run = str(tmp_path / "run")
    assert cli.main([spots, "--out", run, "--epochs", "2", "--tta", mode] + TINY) == 0
    captured = capsys.readouterr()
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    tta = metrics["tta"]
    mae, images = tta_mae_by_hand(os.path.join(run, "model.pt"), spots, mode)
    assert metrics["task"] == "regression" and tta["mode"] == mode and tta["views"] == len(TTA_VIEWS[mode])
    assert tta["images"] == images == metrics["val_images"] == 4
    assert tta["mae_px"] == pytest.approx(mae, abs=0.02)
    assert tta["mae_px_without"] == metrics["mae_px"] and set(tta["per_target"]) == {"x", "y"}
    assert tta["change"] == pytest.approx(tta["mae_px"] - metrics["mae_px"])
    assert "with --tta {} ({} views): validation MAE {:.2f} px".format(mode, tta["views"], tta["mae_px"]) \
        in captured.out
    assert "with test-time augmentation (--tta {}, {} views of each image, points averaged".format(
        mode, tta["views"]) in open(os.path.join(run, "report.md")).read()
