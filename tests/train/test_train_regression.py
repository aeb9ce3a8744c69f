"""Regression training: data checks, targets through the loader, checkpoints, a tiny run's outputs, CLI errors."""

import json
import os

import numpy as np
import pytest
import torch

from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from edge.tasks.points import RegressionTargets, denormalize, to_image_pixels
from tests.helpers import spot_image, write_png, write_point_folder
from train import cli
from train.checkpoint import load_checkpoint, model_from_record, model_record, save_checkpoint, targets_of


def spot(height, width, x, y, seed=0):
    return spot_image(height, width, x, y, seed)


def write_spots(folder, count, height=40, width=48, seed=0, names=True):
    return write_point_folder(folder, count, height, width, seed, names)


@pytest.fixture(scope="module")
def spots(tmp_path_factory):
    return write_spots(tmp_path_factory.mktemp("spots") / "data", 20)


# ----------------------------------------------------------------------------- data


def test_scanning_checks_points_against_images_and_skips_unreadable_files(tmp_path):
    from train.data import scan_point_folder

    folder = write_spots(tmp_path / "d", 4, names=False)
    with open(os.path.join(folder, "broken.png"), "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n not really")
    with open(os.path.join(folder, "labels.csv"), "a") as handle:
        handle.write("broken.png,1,1\n")
    scanned = scan_point_folder(folder, PreprocessSpec(size=32, resize="stretch"))
    assert len(scanned.samples) == 4 and scanned.targets.names == ["x", "y"]
    assert scanned.skipped == [{"file": "broken.png", "reason": "truncated PNG: the file ends before the image does"}]
    assert scanned.samples[0][2] == (40, 48)
    with open(os.path.join(folder, "labels.csv"), "a") as handle:
        handle.write("")
    text = open(os.path.join(folder, "labels.csv")).read().replace("000.png,", "000.png,480,")
    text = text.replace("000.png,480,", "000.png,48,", 1)
    with open(os.path.join(folder, "labels.csv"), "w") as handle:
        handle.write(text.split("\n", 1)[0] + "\n" + "\n".join(
            line if not line.startswith("000.png") else "000.png,48,5" for line in text.split("\n")[1:]))
    with pytest.raises(EdgeError, match=r"labels.csv line 2 \(000.png\): x=48 is outside the image \(width 48: 0 to 47\)"):
        scan_point_folder(folder, PreprocessSpec(size=32, resize="stretch"))


def test_a_centre_crop_that_would_cut_a_point_off_is_refused(tmp_path):
    from train.data import scan_point_folder

    folder = tmp_path / "d"
    write_png(str(folder / "2_20_a.png"), spot(40, 48, 2, 20))   # 2 px from the left edge
    crop = PreprocessSpec(size=32, resize="center_crop", crop_pct=1.0)   # crops the 48-wide image's sides
    with pytest.raises(EdgeError, match=r"file name 2_20_a.png: the point lies outside the centre crop .*--resize "
                                        r"stretch, the regression default"):
        scan_point_folder(str(folder), crop)
    assert len(scan_point_folder(str(folder), PreprocessSpec(size=32, resize="stretch")).samples) == 1


def test_a_validation_folder_must_label_the_same_targets(tmp_path):
    from train.data import make_point_splits

    train_dir = write_spots(tmp_path / "train", 3)
    val_dir = tmp_path / "val"
    write_png(str(val_dir / "a.png"), spot(40, 48, 5, 5))
    (val_dir / "labels.csv").write_text("file,nose_x,nose_y\na.png,5,5\n")
    with pytest.raises(EdgeError, match="labels targets nose_x,nose_y, the training set x,y"):
        make_point_splits(train_dir, PreprocessSpec(size=32, resize="stretch"), val_dir=str(val_dir))


def test_the_random_split_is_seeded_and_disjoint():
    from train.data import random_split

    train, val = random_split(20, 0.2, 3)
    assert len(val) == 4 and not set(train) & set(val) and sorted(train + val) == list(range(20))
    assert random_split(20, 0.2, 3) == (train, val) and random_split(20, 0.2, 4) != (train, val)
    assert random_split(2, 0.01, 0)[1] != [] and random_split(2, 0.99, 0)[0] != []


# ----------------------------------------------------------------------------- the loader


@pytest.mark.parametrize("augment_options", [None, dict(hflip=0.5, vflip=0.5, rotate=25, shift=0.15, zoom=0.2,
                                                        jitter=0.2, d4=True)])
def test_a_loader_item_holds_the_bright_pixel_where_its_target_says(tmp_path, augment_options):
    from train.augment import AugmentConfig
    from train.data import scan_point_folder
    from train.loaders import PointDataset

    folder = write_spots(tmp_path / "d", 6, height=60, width=90)
    spec = PreprocessSpec(size=45, resize="stretch", mean=(0, 0, 0), std=(1, 1, 1), interpolation="area")
    scanned = scan_point_folder(folder, spec)
    config = AugmentConfig(**augment_options) if augment_options else None
    dataset = PointDataset(scanned, spec, config)
    for index in range(len(dataset)):
        for seed in range(3):
            tensor, target = dataset[(index, seed)]
            gray = tensor.numpy().sum(axis=0)
            ys, xs = np.nonzero(gray > 0.6 * gray.max())
            weights = gray[ys, xs]
            found = np.array([np.sum(xs * weights), np.sum(ys * weights)]) / weights.sum()
            assert np.abs(found - denormalize(target.numpy(), spec)).max() < 1.0, (index, seed)
    # Without augmentation the target maps back to the label, in pixels of the 90x60 image.
    if config is None:
        _, target = dataset[0]
        assert np.allclose(to_image_pixels(target.numpy(), (60, 90), spec), scanned.samples[0][1], atol=1e-4)


# ----------------------------------------------------------------------------- checkpoints


def test_a_regression_checkpoint_keeps_its_targets_and_normalisation(tmp_path):
    from train.resnet import build_resnet

    targets = RegressionTargets(["nose_x", "nose_y"])
    spec = PreprocessSpec(size=32, resize="stretch", crop_pct=1.0)
    model = build_resnet("resnet18", 2)
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, model_record(model, "resnet18", [], spec, targets=targets))
    record = load_checkpoint(path, kinds=("model",))
    assert record["format_version"] == 2 and record["task"] == "regression"
    assert record["classes"] == ["nose_x", "nose_y"] and targets_of(record) == targets
    assert record["regression"]["normalization"] == {"frame": "model input", "range": [-1.0, 1.0],
                                                     "origin": "pixel centres; (0, 0) is the centre of the top-left "
                                                               "pixel"}
    assert record["regression"]["units"] == "pixels of the input image"
    assert model_from_record(record).fc.out_features == 2
    # A classifier's record stays at the version every earlier edge-toolkit reads.
    classifier = model_record(build_resnet("resnet18", 3), "resnet18", ["a", "b", "c"], spec)
    assert classifier["format_version"] == 1 and targets_of(classifier) is None
    broken = dict(record, classes=["a", "b"])
    save_checkpoint(path, broken)
    with pytest.raises(EdgeError, match="damaged: its output names differ from its regression targets"):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- a tiny run

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--keep-epochs", "1"]


def test_a_tiny_regression_run_writes_every_output(spots, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert cli.main([spots, "--out", run, "--epochs", "2"] + TINY) == 0
    captured = capsys.readouterr()
    assert "best validation MAE" in captured.out and "scatter.png" in captured.out
    assert "data: regression of 1 point(s) (x,y; labels from file names), 16 training and 4 validation" in captured.err
    for name in ("model.pt", "last.pt", "metrics.json", "history.csv", "curves.png", "scatter.png", "labels.txt",
                 "report.md", "config.yaml"):
        assert os.path.getsize(os.path.join(run, name)) > 0, name
    assert not os.path.exists(os.path.join(run, "confusion.png"))
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["task"] == "regression" and metrics["targets"] == ["x", "y"] and metrics["val_images"] == 4
    assert set(metrics["per_target"]) == {"x", "y"} and metrics["loss"] == "smooth_l1"
    assert open(os.path.join(run, "labels.txt")).read().split() == ["x", "y"]
    config = open(os.path.join(run, "config.yaml")).read()
    assert "task: regression" in config and "resize: stretch" in config and "crop_pct: 1.0" in config
    history = open(os.path.join(run, "history.csv")).read().splitlines()
    assert history[0] == "epoch,phase,train_loss,train_mae_input_px,val_loss,val_mae_px,val_rmse_px,lr"
    assert len(history) == 3
    report = open(os.path.join(run, "report.md")).read()
    assert "| x |" in report and "| all |" in report
    # The saved model, evaluated from the file alone, makes the errors the run reported, in image pixels.
    record = load_checkpoint(os.path.join(run, "model.pt"), kinds=("model",))
    assert record["epoch"] == metrics["best_epoch"]
    assert record["val_points"]["true"] and len(record["val_points"]["true"]) == 4
    assert recomputed_mae(record, spots) == pytest.approx(metrics["mae_px"], abs=0.02)


def recomputed_mae(record, data):
    from edge.bundle.preprocess import preprocess, read_image
    from train.checkpoint import spec_from_record
    from train.data import make_point_splits

    spec = spec_from_record(record)
    _, val_set, _ = make_point_splits(data, spec, None, 0.2, 0)
    model = model_from_record(record)
    errors = []
    with torch.no_grad():
        for path, values, size in val_set.samples:
            output = model(torch.from_numpy(preprocess(read_image(path), spec)[None]))[0].numpy()
            errors.append(np.abs(to_image_pixels(output, size, spec) - values))
    return float(np.mean(errors))


def test_mse_and_a_labels_csv_train_too(tmp_path, capsys):
    data = write_spots(tmp_path / "d", 10, names=False)
    run = str(tmp_path / "run")
    assert cli.main([data, "--out", run, "--epochs", "1", "--loss", "mse", "--task", "regression"] + TINY) == 0
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["loss"] == "mse" and metrics["dataset"]["labels"] == "labels.csv"


@pytest.mark.parametrize("setup, argv, message", [
    ("bad-row", [], "labels.csv line 3 (001.png): y is 'seven', not a number; write the pixel position"),
    ("missing-row", [], "labels.csv has no row for 002.png"),
    ("outside", [], "x=99 is outside the image (width 48: 0 to 47)"),
    ("ok", ["--task", "classification"], "has no class sub-folders"),
    ("ok", ["--crop-pct", "0.9"], "--crop-pct 0.9 applies to --resize center_crop"),
    ("ok", ["--task", "regression", "--loss", "cross_entropy"], "regression trains with smooth_l1 or mse"),
])
def test_bad_regression_input_is_one_line_and_exit_2(tmp_path, capsys, setup, argv, message):
    data = write_spots(tmp_path / "d", 4, names=False)
    labels = os.path.join(data, "labels.csv")
    lines = open(labels).read().splitlines()
    if setup == "bad-row":
        lines[2] = "001.png,4,seven"
    elif setup == "missing-row":
        del lines[3]
    elif setup == "outside":
        lines[1] = "000.png,99,3"
    with open(labels, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    code = cli.main([data, "--out", str(tmp_path / "run"), "--epochs", "1"] + TINY + argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_loss_is_refused_for_a_classification_folder(tmp_path, capsys):
    from tests.helpers import make_shapes_folder

    data = make_shapes_folder(tmp_path / "shapes", per_class=2)
    assert cli.main([data, "--loss", "mse", "--out", str(tmp_path / "run")] + TINY) == 2
    assert "--loss mse applies to regression" in capsys.readouterr().err


def test_an_interrupted_regression_run_resumes_where_it_stopped(spots, tmp_path, monkeypatch, capsys):
    from edge.errors import EXIT_INTERRUPTED
    from train.loaders import PointDataset

    full = str(tmp_path / "full")
    assert cli.main([spots, "--out", full, "--epochs", "2"] + TINY) == 0
    calls = {"n": 0}
    original = PointDataset.__getitem__

    def interrupting(self, item):      # Ctrl-C in epoch 2 after its first batch (16 training images an epoch)
        if self.augment_config is not None:
            calls["n"] += 1
            if calls["n"] == 16 + 9:
                raise KeyboardInterrupt
        return original(self, item)

    monkeypatch.setattr(PointDataset, "__getitem__", interrupting)
    cut = str(tmp_path / "cut")
    assert cli.main([spots, "--out", cut, "--epochs", "2"] + TINY) == EXIT_INTERRUPTED
    assert "interrupted in epoch 2 after 8 of 16 images" in capsys.readouterr().err
    monkeypatch.setattr(PointDataset, "__getitem__", original)
    assert cli.main(["--resume", os.path.join(cut, "last.pt")]) == 0
    resumed = open(os.path.join(cut, "history.csv")).read().splitlines()
    reference = open(os.path.join(full, "history.csv")).read().splitlines()
    assert resumed[0] == reference[0] and len(resumed) == len(reference) == 3
    for got, want in zip(resumed[1:], reference[1:]):
        got, want = got.split(","), want.split(",")
        for index in (2, 4, 5):       # train_loss, val_loss, val_mae_px
            assert float(got[index]) == pytest.approx(float(want[index]), rel=1e-4, abs=1e-5)
    assert targets_of(load_checkpoint(os.path.join(cut, "model.pt"))).names == ["x", "y"]
