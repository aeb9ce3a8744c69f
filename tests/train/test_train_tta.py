"""edge-train --tta: after training the best model is evaluated with test-time augmentation too, and
both accuracies are recorded (metrics.json, report.md, stdout)."""

import json
import os

import numpy as np
import pytest
import torch

from tests.helpers import make_shapes_folder, write_png
from train import cli
from train.checkpoint import load_checkpoint, model_from_record, spec_from_record

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--keep-epochs", "1", "--lr", "3e-3"]


VIEWS = {"hflip": (0, 4), "d4": tuple(range(8))}


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


def accuracy_by_hand(model_path, data, mode="d4"):
    """The saved model on the run's validation split, each image as its views (written here with torch's own
    rot90 and flip: k quarter turns, mirrored left-right for k >= 4), softmaxes averaged."""
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
            for k in VIEWS[mode]:
                view = torch.rot90(images, k % 4, dims=(2, 3))
                views.append(torch.softmax(model(torch.flip(view, dims=(3,)) if k >= 4 else view), dim=1))
            correct += int((torch.stack(views).mean(dim=0).argmax(1) == labels).sum())
    return correct / float(len(val_set.samples)), len(val_set.samples)


@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_tta_evaluates_the_best_model_and_records_both_accuracies(sided, tmp_path, capsys, mode):
    run = str(tmp_path / "run")
    assert cli.main([sided, "--out", run, "--epochs", "3", "--hflip", "0", "--tta", mode] + TINY) == 0
    captured = capsys.readouterr()
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    tta = metrics["tta"]
    accuracy, images = accuracy_by_hand(os.path.join(run, "model.pt"), sided, mode)
    views = len(VIEWS[mode])
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
