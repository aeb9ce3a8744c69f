"""A third training task is one module and one register call: a toy multi-label task, registered here and
nowhere else, trains end to end through edge-train (option resolution, loaders, the loop, checkpoints, the
run's files and console lines) without any other module knowing it."""

import json
import os

import numpy as np
import pytest
import torch

from tests.helpers import make_shapes_folder
from train import cli
from train import tasks
from train.checkpoint import load_checkpoint

TINY = ["--size", "32", "--batch-size", "8", "--workers", "0", "--keep-epochs", "1", "--lr", "3e-3"]
MARKER = "multilabel.txt"


class OneHotDataset(torch.utils.data.Dataset):
    """A classification folder's images, each with its labels as a multi-hot row (here: its one class)."""

    def __init__(self, folder, spec, augment_config):
        from train.loaders import FolderDataset
        self.images = FolderDataset(folder, spec, augment_config)
        self.count = len(folder.classes)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, item):
        image, label = self.images[item]
        return image, torch.nn.functional.one_hot(torch.tensor(label), self.count).float()


class MultiLabel(object):
    """The toy: each output says whether its label applies (a sigmoid each), scored by the labels it gets right."""

    name = "multilabel"
    defaults = {"resize": "center_crop", "crop_pct": 1.0, "loss": "binary_cross_entropy"}
    losses = ("binary_cross_entropy",)
    metric = "label accuracy"
    history_columns = ("epoch", "phase", "train_loss", "train_label_accuracy", "val_loss", "val_label_accuracy", "lr")
    curve = ("label accuracy", (("train_label_accuracy", "train"), ("val_label_accuracy", "validation")))
    plot = ("label_rates", "label_rates.txt")
    report_footer = "Toy footer."

    def __init__(self, classes):
        self.classes = list(classes)

    @staticmethod
    def claims_folder(data):
        return os.path.exists(os.path.join(data, MARKER))

    @staticmethod
    def check_config(config):
        return None

    @classmethod
    def load_data(cls, config, spec, state, workers):
        from train.data import make_splits
        train_set, val_set, skipped = make_splits(config["data"], config["val"], float(config["val_fraction"]),
                                                  int(config["seed"]), workers=workers)
        info = {"data": config["data"], "labels": train_set.classes}
        return train_set, val_set, skipped, cls(train_set.classes), info, "{} labels".format(len(train_set.classes))

    @staticmethod
    def dataset(folder, spec, augment_config=None):
        return OneHotDataset(folder, spec, augment_config)

    @staticmethod
    def empty_batch_targets(folder):
        return torch.zeros((0, len(folder.classes)), dtype=torch.float32)

    @classmethod
    def describes(cls, targets):
        return isinstance(targets, cls)

    @classmethod
    def record_fields(cls, classes, targets):
        return {"format_version": 2, "task": cls.name}

    @staticmethod
    def targets_of(record):
        return None

    @staticmethod
    def record_problems(record):
        return []

    output_names = property(lambda self: self.classes)
    targets = property(lambda self: self)

    def empty_targets(self):
        return self.empty_batch_targets(self)

    def criterion(self, reduction="sum"):
        return torch.nn.BCEWithLogitsLoss(reduction=reduction)

    def batch_stat(self, outputs, targets):
        return float(((outputs > 0).float() == targets).float().mean(1).sum().item())

    def compact(self, outputs):
        return (outputs > 0).int().tolist()

    def report(self, predicted, targets):
        right = np.asarray(predicted, dtype=np.float64) == np.asarray(targets, dtype=np.float64)
        return {"images": len(right), "label_accuracy": float(right.mean()) if len(right) else 0.0}

    def score(self, report, val_loss):
        return report["label_accuracy"], -val_loss

    def epoch_text(self, train_figure, report):
        return "labels {:.3f}".format(train_figure), "labels {:.3f}".format(report["label_accuracy"])

    def history(self, train_figure, report):
        return {"train_label_accuracy": train_figure, "val_label_accuracy": report["label_accuracy"]}

    def warning(self, report):
        return None

    def record_extras(self, report):
        return {}

    @classmethod
    def figures(cls, record, report):
        return {"task": cls.name, "best_epoch": record["epoch"], "label_accuracy": report["label_accuracy"]}

    @staticmethod
    def write_plot(path, record, report):
        with open(path, "w") as handle:
            handle.write("{}\n".format(report["label_accuracy"]))

    @staticmethod
    def report_lines(record, metrics):
        return ["# Toy report", "", "- label accuracy {:.3f}".format(metrics["label_accuracy"])]

    @staticmethod
    def summary(report):
        return "label accuracy {:.3f}".format(report["label_accuracy"])

    @staticmethod
    def result_line(result):
        return "toy best: {} at epoch {}".format(result["summary"], result["best_epoch"])

    @staticmethod
    def run_repr(run):
        return "ToyRun({!r})".format(run.run_dir)


@pytest.fixture
def toy():
    tasks.register(MultiLabel)
    yield MultiLabel
    tasks.unregister(MultiLabel.name)


def test_a_registered_task_trains_end_to_end_through_edge_train(toy, tmp_path, capsys):
    data = make_shapes_folder(tmp_path / "data", per_class=10)
    open(os.path.join(data, MARKER), "w").close()
    run = str(tmp_path / "run")
    assert cli.main([data, "--out", run, "--epochs", "2"] + TINY) == 0   # --task auto: the toy claims DATA
    captured = capsys.readouterr()
    assert "data: 2 labels" in captured.err and "toy best: label accuracy" in captured.out
    assert "label_rates.txt beside it" in captured.out
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["task"] == "multilabel" and 0 <= metrics["label_accuracy"] <= 1
    history = open(os.path.join(run, "history.csv")).read().splitlines()
    assert history[0] == ",".join(MultiLabel.history_columns) and len(history) == 3
    assert open(os.path.join(run, "report.md")).read().startswith("# Toy report\n")
    assert "Toy footer." in open(os.path.join(run, "report.md")).read()
    assert float(open(os.path.join(run, "label_rates.txt")).read()) == metrics["label_accuracy"]
    assert "task: multilabel" in open(os.path.join(run, "config.yaml")).read()
    record = load_checkpoint(os.path.join(run, "model.pt"), kinds=("model",))
    assert record["task"] == "multilabel" and tasks.for_record(record) is MultiLabel
    assert cli.build_parser().parse_args([data, "--task", "multilabel"]).task == "multilabel"


def test_a_checkpoint_of_a_task_no_longer_registered_is_refused(toy, tmp_path):
    from edge.errors import EdgeError
    from edge.bundle.preprocess import PreprocessSpec
    from train.checkpoint import model_record, save_checkpoint
    from train.resnet import build_resnet

    path = str(tmp_path / "model.pt")
    save_checkpoint(path, model_record(build_resnet("resnet18", 2), "resnet18", ["a", "b"], PreprocessSpec(size=32),
                                      targets=MultiLabel(["a", "b"])))
    assert load_checkpoint(path)["task"] == "multilabel"
    tasks.unregister(MultiLabel.name)
    with pytest.raises(EdgeError, match="is damaged: unknown task 'multilabel'"):
        load_checkpoint(path)


def test_the_options_take_a_registered_tasks_words_and_refuse_its_loss_elsewhere(toy, tmp_path):
    from edge.errors import EdgeError
    from train import config as train_config

    data = make_shapes_folder(tmp_path / "data", per_class=2)
    assert train_config.resolve({"data": data})["task"] == "classification"
    open(os.path.join(data, MARKER), "w").close()
    config = train_config.resolve({"data": data})
    assert (config["task"], config["loss"], config["resize"], config["crop_pct"]) == (
        "multilabel", "binary_cross_entropy", "center_crop", 1.0)
    with pytest.raises(EdgeError, match="--loss binary_cross_entropy is another task's; regression trains with "
                                        "smooth_l1 or mse"):
        train_config.resolve({"data": data, "task": "regression", "loss": "binary_cross_entropy"})
    with pytest.raises(EdgeError, match="--loss mse is another task's; multilabel trains with binary_cross_entropy"):
        train_config.resolve({"data": data, "loss": "mse"})
