"""End-to-end training on tiny data: outputs, reproducibility, interrupt and resume, CLI errors."""

import csv
import json
import os

import pytest
import torch

from tests.helpers import make_shapes_folder
from train import cli
from train.checkpoint import load_checkpoint
from train.loaders import FolderDataset

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--keep-epochs", "2", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("tiny") / "data", per_class=12)


def train(argv, capsys=None):
    code = cli.main(argv)
    return code


def history(run):
    with open(os.path.join(run, "history.csv")) as handle:
        return list(csv.DictReader(handle))


def test_a_run_writes_every_output_and_a_usable_model(data, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert train([data, "--out", run, "--epochs", "3"] + TINY) == 0
    printed = capsys.readouterr().out
    assert os.path.join(run, "model.pt") in printed and os.path.join(run, "report.md") in printed
    for name in ("model.pt", "last.pt", "metrics.json", "history.csv", "curves.png", "confusion.png",
                 "labels.txt", "report.md", "config.yaml"):
        assert os.path.getsize(os.path.join(run, name)) > 0, name
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["epoch-002.pt", "epoch-003.pt"]
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["accuracy"] >= 0.9  # dark vs light squares are easy
    assert set(metrics["per_class"]) == {"dark", "light"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["dataset"]["val_images"]
    assert open(os.path.join(run, "labels.txt")).read().split() == ["dark", "light"]
    record = load_checkpoint(os.path.join(run, "model.pt"), kinds=("model",))
    assert record["epoch"] == metrics["best_epoch"]
    assert record["preprocess"]["size"] == [32, 32]
    assert len(history(run)) == 3
    # The resolved config reproduces the run.
    assert train(["--config", os.path.join(run, "config.yaml"), "--out", str(tmp_path / "again")]) == 0
    assert history(str(tmp_path / "again")) == history(run)


def test_training_is_reproducible_on_cpu(data, tmp_path):
    for name in ("a", "b"):
        assert train([data, "--out", str(tmp_path / name), "--epochs", "2"] + TINY) == 0
    assert history(str(tmp_path / "a")) == history(str(tmp_path / "b"))


def test_interrupt_saves_state_and_resume_continues_from_the_right_epoch(data, tmp_path, monkeypatch, capsys):
    full = str(tmp_path / "full")
    assert train([data, "--out", full, "--epochs", "3"] + TINY) == 0

    # Interrupt the same run in epoch 2 after its first batch (8 images): Ctrl-C inside the loader.
    calls = {"n": 0}
    original = FolderDataset.__getitem__
    per_epoch = 20  # 24 images, 20% validation -> 20 training images

    def interrupting(self, item):
        if self.augment_config is not None:
            calls["n"] += 1
            if calls["n"] == per_epoch + 9:
                raise KeyboardInterrupt
        return original(self, item)

    monkeypatch.setattr(FolderDataset, "__getitem__", interrupting)
    cut = str(tmp_path / "cut")
    assert train([data, "--out", cut, "--epochs", "3"] + TINY) == 2
    err = capsys.readouterr().err
    assert "interrupted in epoch 2 after 8 of 20 images" in err and "--resume" in err
    state = torch.load(os.path.join(cut, "last.pt"), weights_only=True)
    assert (state["kind"], state["epoch"], state["position"]) == ("train-state", 1, 8)
    assert len(history(cut)) == 1
    monkeypatch.setattr(FolderDataset, "__getitem__", original)

    assert train(["--resume", os.path.join(cut, "last.pt")]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "at epoch 2, 8 images into it" in out
    resumed, reference = history(cut), history(full)
    assert [row["epoch"] for row in resumed] == ["1", "2", "3"]
    for got, want in zip(resumed, reference):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert float(got[key]) == pytest.approx(float(want[key]), rel=1e-4, abs=1e-5), (key, got, want)


def test_an_existing_run_is_not_overwritten(data, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert train([data, "--out", run, "--epochs", "1"] + TINY) == 0
    before = os.path.getmtime(os.path.join(run, "model.pt"))
    assert train([data, "--out", run, "--epochs", "1"] + TINY) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert os.path.getmtime(os.path.join(run, "model.pt")) == before


@pytest.mark.parametrize("argv, message", [
    (["missing-folder"], "not found"),
    (["{data}", "--epochs", "0"], "--epochs"),
    (["{data}", "--config", "nowhere.yaml"], "not found"),
    (["{data}", "--freeze-epochs", "5", "--epochs", "2"], "--freeze-epochs"),
    (["{data}", "--lr", "fast"], "--lr"),
    (["{data}", "--hflip", "2"], "probability"),
    (["{data}", "--weights", "nowhere.pth"], "not found"),
    ([], "no dataset given"),
])
def test_bad_input_is_one_line_and_exit_2(data, tmp_path, capsys, argv, message):
    argv = TINY + ["--out", str(tmp_path / "r")] + [a.format(data=data) for a in argv]
    assert train(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_lr_finder_writes_plot_and_suggestion(data, tmp_path, capsys):
    run = str(tmp_path / "lr")
    assert train([data, "--out", run, "--find-lr"] + TINY) == 0
    assert "suggested learning rate" in capsys.readouterr().out
    found = json.load(open(os.path.join(run, "lr_find.json")))
    assert len(found["lrs"]) == len(found["losses"]) > 5
    assert os.path.getsize(os.path.join(run, "lr_find.png")) > 0
    assert not os.path.exists(os.path.join(run, "model.pt"))


def test_imagenet_weights_train_the_head_first_then_everything(data, tmp_path, hub_cache):
    from train.resnet import build_resnet

    torch.manual_seed(1)
    donor = build_resnet("resnet18", 1000)
    torch.save(donor.state_dict(), str(hub_cache / "resnet18-f37072fd.pth"))
    run = str(tmp_path / "run")
    assert train([data, "--out", run, "--epochs", "2", "--weights", "imagenet"] + TINY) == 0
    assert [row["phase"] for row in history(run)] == ["head", "full"]  # freeze epochs "auto": 1
    first = load_checkpoint(os.path.join(run, "checkpoints", "epoch-001.pt"))["state_dict"]
    second = load_checkpoint(os.path.join(run, "checkpoints", "epoch-002.pt"))["state_dict"]
    # The head phase leaves the pretrained convolutions as they were; the full phase tunes them.
    for key in ("conv1.weight", "layer2.0.conv1.weight", "layer4.1.conv2.weight"):
        assert torch.equal(first[key], donor.state_dict()[key]), key
        assert not torch.equal(second[key], donor.state_dict()[key]), key
    assert first["fc.weight"].shape == (2, 512) and not torch.equal(first["fc.weight"], second["fc.weight"])
