"""edge-train --tta: after training the best model is evaluated with test-time augmentation too, and
both accuracies are recorded (metrics.json, report.md, stdout)."""

import json
import os

import numpy as np
import pytest

from tests.helpers import TTA_VIEWS, make_shapes_folder, tta_accuracy_by_hand, write_png
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
