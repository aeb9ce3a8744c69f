"""End-to-end training on tiny data: outputs, reproducibility, interrupt and resume, CLI errors."""

import csv
import json
import os

import pytest
import torch
import yaml

from tests.helpers import make_shapes_folder
from train import cli
from train.checkpoint import load_checkpoint
from train.loaders import FolderDataset
from edge.errors import EXIT_INTERRUPTED

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


def evaluate_model_file(path, data, batch_size=8):
    """Accuracy of a saved model.pt on the run's validation split, recomputed from the file alone."""
    from train.checkpoint import model_from_record, spec_from_record
    from train.data import make_splits
    from train.loaders import make_loader

    record = load_checkpoint(path, kinds=("model",))
    _, val_set, _ = make_splits(data, None, 0.2, 0)
    loader, _ = make_loader(val_set, spec_from_record(record), batch_size, 0)
    model = model_from_record(record)
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((model(images).argmax(1) == labels).sum())
    return correct / float(len(val_set.samples))


def test_a_run_writes_every_output_and_a_usable_model(data, tmp_path, capsys):
    # Default batch size ("auto") and BatchNorm re-estimation; what this asserts does not depend on
    # how well 3 epochs on 20 images happen to learn on this CPU (see the test below for that).
    run = str(tmp_path / "run")
    argv = [data, "--out", run, "--epochs", "3", "--size", "32", "--workers", "0", "--keep-epochs", "2"]
    assert train(argv) == 0
    captured = capsys.readouterr()
    printed, progress = captured.out, captured.err   # the result on stdout, progress on stderr
    assert os.path.join(run, "model.pt") in printed and os.path.join(run, "report.md") in printed
    assert "batch size auto: 8 (20 training images -> 3 steps an epoch)" in progress
    assert "BatchNorm statistics re-estimated before each validation: on" in progress
    assert progress.count("95% CI") >= 3 and progress.count("validation images give accuracy +/-") == 1
    for name in ("model.pt", "last.pt", "metrics.json", "history.csv", "curves.png", "confusion.png",
                 "labels.txt", "report.md", "config.yaml"):
        assert os.path.getsize(os.path.join(run, name)) > 0, name
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["epoch-002.pt", "epoch-003.pt"]
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert set(metrics["per_class"]) == {"dark", "light"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["dataset"]["val_images"]
    low, high = metrics["accuracy_ci95"]
    assert low <= metrics["accuracy"] <= high
    assert open(os.path.join(run, "labels.txt")).read().split() == ["dark", "light"]
    record = load_checkpoint(os.path.join(run, "model.pt"), kinds=("model",))
    assert record["epoch"] == metrics["best_epoch"]
    assert record["preprocess"]["size"] == [32, 32]
    assert len(history(run)) == 3
    # The saved model, evaluated from the file alone, scores what the run reported: its BatchNorm
    # statistics are the ones validation used.
    assert evaluate_model_file(os.path.join(run, "model.pt"), data) == pytest.approx(metrics["accuracy"])
    # The resolved config records what "auto" became, and reproduces the run.
    config = yaml.safe_load(open(os.path.join(run, "config.yaml")))
    assert (config["batch_size"], config["bn_reestimate"]) == (8, "on")
    assert train(["--config", os.path.join(run, "config.yaml"), "--out", str(tmp_path / "again")]) == 0
    assert history(str(tmp_path / "again")) == history(run)


def test_the_defaults_learn_an_easy_task(tmp_path):
    # A learning outcome, asserted with a margin: 80 images, defaults (batch auto -> 8, BatchNorm
    # re-estimated), 4 epochs = 32 steps. Checked with seeds 0-9 and 1 and 2 threads: accuracy 1.0
    # every time, where 0.9 is asserted.
    data = make_shapes_folder(tmp_path / "data", per_class=40)
    run = str(tmp_path / "run")
    assert train([data, "--out", run, "--epochs", "4", "--size", "32", "--workers", "0"]) == 0
    assert json.load(open(os.path.join(run, "metrics.json")))["accuracy"] >= 0.9


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
    assert train([data, "--out", cut, "--epochs", "3"] + TINY) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "edge-train: interrupted in epoch 2 after 8 of 20 images" in err and "--resume" in err
    state = torch.load(os.path.join(cut, "last.pt"), weights_only=True)
    assert (state["kind"], state["epoch"], state["position"]) == ("train-state", 1, 8)
    assert len(history(cut)) == 1
    monkeypatch.setattr(FolderDataset, "__getitem__", original)

    assert train(["--resume", os.path.join(cut, "last.pt")]) == 0
    err = capsys.readouterr().err
    assert "edge-train: resuming" in err and "at epoch 2, 8 images into it" in err
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
    (["{data}", "--batch-size", "big"], "--batch-size: expected an integer or auto"),
    (["{data}", "--bn-reestimate", "maybe"], "--bn-reestimate"),
    (["{data}", "--hflip", "2"], "probability"),
    (["{data}", "--weights", "nowhere.pth"], "not found"),
    ([], "no dataset given"),
])
def test_bad_input_is_one_line_and_exit_2(data, tmp_path, capsys, argv, message):
    argv = TINY + ["--out", str(tmp_path / "r")] + [a.format(data=data) for a in argv]
    assert train(argv) == 2
    err = capsys.readouterr().err
    # Progress lines may come first (a bad --weights file shows once the data is read); one error line ends it.
    last = err.splitlines()[-1]
    assert last.startswith("edge-train: error: ") and message in last and err.count(": error: ") == 1, err
    assert "Traceback" not in err


def test_lr_finder_writes_plot_and_suggestion(data, tmp_path, capsys):
    run = str(tmp_path / "lr")
    assert train([data, "--out", run, "--find-lr"] + TINY) == 0
    assert "suggested learning rate" in capsys.readouterr().out
    found = json.load(open(os.path.join(run, "lr_find.json")))
    assert len(found["lrs"]) == len(found["losses"]) > 5
    # Every candidate is recorded beside the suggestion and the rule that chose it.
    assert {"basin edge", "descent end", "valley", "steep"} <= set(found["candidates"]) and found["batch_size"] == 8
    assert found["rule"] in ("basin edge", "descent end", "valley", "minimum/10", None) and found["note"]
    assert (found["suggestion"] is None) == (found["rule"] is None)
    assert os.path.getsize(os.path.join(run, "lr_find.png")) > 0
    assert not os.path.exists(os.path.join(run, "model.pt"))


def test_lr_find_trains_at_the_suggestion_and_records_it(data, tmp_path, monkeypatch):
    # The range test's curve is the one recorded on 3 classes of 40 shapes, so what the run trains at
    # does not depend on how this CPU's few finder iterations on 24 images happen to go.
    from tests.train.test_train_lr_finder import LRS, RECORDED
    from train import run as train_run
    from train.lr_finder import lr_candidates

    rates = [float(lr) for lr in LRS[:len(RECORDED)]]   # the rates the finder recorded it at

    def recorded_range_test(model, loader, criterion, device, trainable, weight_decay=0.0, log=print):
        return rates, list(RECORDED), lr_candidates(rates, RECORDED)

    monkeypatch.setattr(train_run, "find_lr", recorded_range_test)
    run = str(tmp_path / "find")
    argv = [data, "--out", run, "--epochs", "1", "--size", "32", "--batch-size", "8", "--workers", "0", "--lr", "find"]
    assert train(argv) == 0
    with open(os.path.join(run, "config.yaml")) as handle:
        trained_at = yaml.safe_load(handle)["lr"]
    found = json.load(open(os.path.join(run, "lr_find.json")))
    assert found["rule"] == "basin edge" and trained_at == pytest.approx(found["suggestion"]) == pytest.approx(rates[55])
    assert os.path.exists(os.path.join(run, "model.pt")) and os.path.getsize(os.path.join(run, "lr_find.png")) > 0


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
