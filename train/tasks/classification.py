"""Training a classifier: classes from sub-folders, cross-entropy, accuracy.

Cross-entropy with label smoothing; top-1 accuracy (with its 95% interval) and macro F1; the best
epoch has the highest validation accuracy. The checkpoint stays format_version 1 (no "task" key),
which every earlier edge-toolkit reads; the run's plots are curves.png and confusion.png.
"""

import json

import numpy as np

from edge.errors import EdgeError
from edge.tasks.classification import ClassificationTask
from edge.tasks.registry import task_named
from train.data import make_splits
from train.metrics import classification_report, interval_text, small_set_warning
from train.plots import plot_confusion


class Classification(object):
    """The training part of a classifier; an instance scores one run (its classes, its label smoothing)."""

    # The device part, edge's task of the same kind: the manifest's output kind ("logits"), results,
    # export's verification and INT8 judgement.
    device = task_named(ClassificationTask.kind)
    name = "classification"     # --task, and what a record without "task" is (format_version 1)
    defaults = {"resize": "center_crop", "crop_pct": 0.875, "loss": "cross_entropy"}
    losses = ("cross_entropy",)
    metric = "accuracy"
    history_columns = ("epoch", "phase", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                       "val_macro_f1", "lr")
    # The middle panel of curves.png: its title and the history columns drawn, with their legends.
    curve = ("accuracy", (("train_accuracy", "train"), ("val_accuracy", "validation")))
    plot = ("confusion", "confusion.png")
    report_footer = "Plots: curves.png, confusion.png. Resolved configuration: config.yaml."

    def __init__(self, classes, label_smoothing=0.1):
        self.classes = list(classes)
        self.label_smoothing = float(label_smoothing)

    # ----- configuration and data ----------------------------------------------------------
    @staticmethod
    def claims_folder(data):
        """The default task: it claims no folder of its own (train.tasks.for_folder falls back to it)."""
        return False

    @staticmethod
    def check_config(config):
        if config["loss"] not in ("auto", "cross_entropy"):
            raise EdgeError("--loss {} applies to regression; a classifier trains with cross-entropy (DATA is a "
                            "folder of class sub-folders; a regression set has labels.csv or <x>_<y>_<id>.jpg "
                            "names)".format(config["loss"]))

    @classmethod
    def load_data(cls, config, spec, state, workers):
        """(train set, val set, skipped files, task, dataset info, what it is in words), checked against a
        resumed run's classes."""
        train_set, val_set, skipped = make_splits(config["data"], config["val"], float(config["val_fraction"]),
                                                  int(config["seed"]), workers=workers)
        if state is not None and list(state["classes"]) != train_set.classes:
            raise EdgeError("the dataset's classes changed since the run started ({} -> {}); start a new run".format(
                state["classes"], train_set.classes))
        info = {"data": config["data"], "val": config["val"], "classes": train_set.classes,
                "train_images": len(train_set.samples), "val_images": len(val_set.samples),
                "skipped": len(skipped), "train_counts": train_set.counts(), "val_counts": val_set.counts()}
        task = cls(train_set.classes, config["label_smoothing"])
        return train_set, val_set, skipped, task, info, "{} classes".format(len(train_set.classes))

    @staticmethod
    def dataset(folder, spec, augment_config=None):
        from train.loaders import FolderDataset
        return FolderDataset(folder, spec, augment_config)

    @staticmethod
    def empty_batch_targets(folder):
        import torch
        return torch.zeros((0,), dtype=torch.int64)

    # ----- the checkpoint ---------------------------------------------------------------------
    @staticmethod
    def describes(targets):
        """True for the output description model_record gets from a classifier: none (its classes say it all)."""
        return targets is None

    @staticmethod
    def record_fields(classes, targets):
        return {}

    @staticmethod
    def targets_of(record):
        return None

    @staticmethod
    def record_problems(record):
        return []

    # ----- one run -------------------------------------------------------------------------
    @property
    def output_names(self):
        return self.classes

    @property
    def targets(self):
        """What model_record records beside the classes: nothing for a classifier."""
        return None

    def empty_targets(self):
        return self.empty_batch_targets(None)

    def criterion(self, reduction="sum"):
        from torch import nn
        return nn.CrossEntropyLoss(reduction=reduction, label_smoothing=self.label_smoothing)

    def batch_stat(self, outputs, targets):
        """What a training batch adds to the epoch's running figure: its correct predictions."""
        return int((outputs.argmax(1) == targets).sum().item())

    def compact(self, outputs):
        """Per validation item, what the ranks gather: the predicted class."""
        return outputs.argmax(1).tolist()

    def report(self, predicted, targets):
        return classification_report(np.asarray(targets, dtype=np.int64), np.asarray(predicted, dtype=np.int64),
                                     self.classes)

    def score(self, report, val_loss):
        """Higher is better: the best epoch has the highest."""
        return report["accuracy"], -val_loss

    def epoch_text(self, train_figure, report):
        return "acc {:.4f}".format(train_figure), "acc {:.4f} ({})".format(report["accuracy"], interval_text(report))

    def history(self, train_figure, report):
        return {"train_accuracy": train_figure, "val_accuracy": report["accuracy"], "val_macro_f1": report["macro_f1"]}

    def warning(self, report):
        return small_set_warning(report)

    def record_extras(self, report):
        return {}

    def mean_over_views(self, outputs, views):
        """Logits of an expanded batch (N x views) -> N rows compact() reads: the views' probabilities averaged,
        as edge-predict --tta does on the device."""
        import torch
        return torch.from_numpy(self.device.mean_over_views(outputs.numpy(), views))

    # ----- a finished run's files -------------------------------------------------------------
    @staticmethod
    def figures(record, report):
        """metrics.json's figures of the best epoch."""
        return {"best_epoch": record["epoch"], "accuracy": report["accuracy"],
                "accuracy_ci95": report.get("accuracy_ci95"), "macro_f1": report["macro_f1"],
                "val_loss": record["metrics"]["val_loss"], "per_class": report["per_class"],
                "confusion_matrix": report["confusion_matrix"], "classes": report["classes"]}

    @staticmethod
    def views_figures(mode, count, report, plain):
        """metrics.json's "tta": the best model's validation figures with `count` views, beside `plain`'s."""
        return {"mode": mode, "views": count, "images": report["images"], "accuracy": report["accuracy"],
                "accuracy_ci95": report["accuracy_ci95"], "macro_f1": report["macro_f1"],
                "accuracy_without": plain["accuracy"], "change": report["accuracy"] - plain["accuracy"]}

    @classmethod
    def write_plot(cls, path, record, report):
        plot_confusion(report["confusion_matrix"], record["classes"], path)

    @staticmethod
    def report_lines(record, metrics):
        """report.md down to its table (train.outputs adds the skipped files and the footer)."""
        report = record["metrics"]["val"]
        lines = [
            "# Training report",
            "",
            "- architecture: {} ({} classes), input {}x{}".format(
                record["arch"], record["num_classes"], *record["preprocess"]["size"]),
            "- best epoch: {} of {}; validation accuracy {:.4f} ({} on {} images), macro F1 {:.4f}, loss "
            "{:.4f}".format(metrics["best_epoch"], record["config"].get("epochs"), metrics["accuracy"],
                            interval_text(report), report["images"], metrics["macro_f1"], metrics["val_loss"]),
            "- dataset: {}".format(json.dumps(metrics["dataset"])),
        ]
        tta = metrics.get("tta")
        if tta:
            lines.append("- with test-time augmentation (--tta {}, {} views of each image, probabilities averaged): "
                         "validation accuracy {:.4f} (95% CI {:.3f}-{:.3f}), {:+.2f} points against {:.4f} "
                         "without".format(tta["mode"], tta["views"], tta["accuracy"], tta["accuracy_ci95"][0],
                                          tta["accuracy_ci95"][1], 100.0 * tta["change"], tta["accuracy_without"]))
        warning = small_set_warning(report)
        if warning:
            lines.append("- " + warning)
        lines += ["- training time: {:.1f} s".format(metrics["train_seconds"]), "",
                  "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, row in metrics["per_class"].items():
            lines.append("| {} | {:.3f} | {:.3f} | {:.3f} | {} |".format(
                name, row["precision"], row["recall"], row["f1"], row["support"]))
        return lines

    # ----- what the run says --------------------------------------------------------------
    @staticmethod
    def summary(report):
        """The best epoch's figures in words, for run_training's result (a classifier's is its accuracy)."""
        return None

    @staticmethod
    def result_line(result):
        """edge-train's line for the best epoch."""
        return "best validation accuracy {:.4f} at epoch {} ({:.0f} s)".format(
            result["accuracy"], result["best_epoch"], result["seconds"])

    @staticmethod
    def views_line(tta):
        """The console line for the final evaluation with --tta (metrics.json's "tta")."""
        return "with --tta {} ({} views): validation accuracy {:.4f} ({:+.2f} points)".format(
            tta["mode"], tta["views"], tta["accuracy"], 100.0 * tta["change"])

    @staticmethod
    def run_repr(run):
        return "TrainingRun({!r}, accuracy={:.4f}, best_epoch={})".format(run.run_dir, run.accuracy, run.best_epoch)
