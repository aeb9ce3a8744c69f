"""Training a regression model: named points from labels.csv or <x>_<y>_<id>.jpg names, MAE in pixels.

SmoothL1 (default) or MSE on targets normalised to the model input (edge.tasks.points); MAE and
RMSE in pixels of each validation image, per target and overall; the best epoch has the lowest
validation MAE. The whole image is resized (resize stretch, crop_pct 1: a centre crop would cut
targets off). The checkpoint is format_version 2 with "task": "regression" and "regression" (the
targets and how outputs are normalised), its "classes" the target names, and "val_points" the best
epoch's validation predictions and truths in pixels (for scatter.png).
"""

import json

import numpy as np

from edge.errors import EdgeError
from edge.tasks.point_labels import is_point_folder
from edge.tasks.points import RegressionTargets, error_summary, pixels_per_unit, summary_text, to_image_pixels
from edge.tasks.regression import RegressionTask
from edge.tasks.registry import task_named
from train.data import make_point_splits
from train.plots import plot_scatter

# SmoothL1 is quadratic within this distance (model units: 0.02 is 1% of the input's side), linear
# beyond: an outlier (a mis-clicked label) pulls no harder than a point a few pixels off.
SMOOTH_L1_BETA = 0.02


class Regression(object):
    """The training part of a regression model; an instance scores one run (its targets, its validation
    images' sizes)."""

    # The device part, edge's task of the same kind: the manifest's output section, results, export's
    # verification and INT8 judgement. Its kind is also --task's name and a checkpoint's "task".
    device = task_named(RegressionTask.kind)
    name = device.kind
    defaults = {"resize": "stretch", "crop_pct": 1.0, "loss": "smooth_l1"}
    losses = ("smooth_l1", "mse")
    metric = "MAE"
    history_columns = ("epoch", "phase", "train_loss", "train_mae_input_px", "val_loss", "val_mae_px",
                       "val_rmse_px", "lr")
    curve = ("mean absolute error (pixels)", (("train_mae_input_px", "train (model input, augmented)"),
                                              ("val_mae_px", "validation (image pixels)")))
    plot = ("scatter", "scatter.png")
    report_footer = ("Plots: curves.png, scatter.png (predicted against true, per target). Resolved "
                     "configuration: config.yaml.")

    def __init__(self, targets, spec, val_sizes, loss="smooth_l1"):
        """targets: RegressionTargets; val_sizes: (height, width) of each validation image, in loader order."""
        self.targets = targets
        self.spec = spec
        self.val_sizes = list(val_sizes)
        self.loss = loss
        self.input_pixels = np.array(pixels_per_unit(spec).tolist() * len(targets.points), dtype=np.float32)

    # ----- configuration and data ----------------------------------------------------------
    @staticmethod
    def claims_folder(data):
        """labels.csv, or images directly in DATA (no class sub-folders)."""
        return is_point_folder(data)

    @staticmethod
    def check_config(config):
        """The options that clash with regression, once --resize is resolved."""
        if config["loss"] == "cross_entropy":
            raise EdgeError("--loss cross_entropy is a classifier's; regression trains with smooth_l1 or mse")
        if config["resize"] == "stretch" and config["crop_pct"] not in ("auto", 1.0):
            raise EdgeError("--crop-pct {} applies to --resize center_crop; regression resizes the whole image so "
                            "no target is cut off (pass --resize center_crop to crop, with every point inside the "
                            "crop)".format(config["crop_pct"]))

    @classmethod
    def load_data(cls, config, spec, state, workers):
        """(train set, val set, skipped files, task, dataset info, what it is in words), checked against a
        resumed run's targets."""
        train_set, val_set, skipped = make_point_splits(config["data"], spec, config["val"],
                                                        float(config["val_fraction"]), int(config["seed"]), workers)
        if state is not None and cls.targets_of(state) != train_set.targets:
            raise EdgeError("the dataset's targets changed since the run started ({} -> {}); start a new run".format(
                ",".join(state["classes"]), ",".join(train_set.targets.names)))
        names = train_set.targets.names
        task = cls(train_set.targets, spec, val_set.sizes, loss=config["loss"])
        info = {"data": config["data"], "val": config["val"], "targets": names, "labels": train_set.origin,
                "train_images": len(train_set.samples), "val_images": len(val_set.samples), "skipped": len(skipped)}
        what = "regression of {} point(s) ({}; labels from {})".format(len(names) // 2, ",".join(names),
                                                                      train_set.origin)
        return train_set, val_set, skipped, task, info, what

    @staticmethod
    def dataset(folder, spec, augment_config=None):
        from train.loaders import PointDataset
        return PointDataset(folder, spec, augment_config)

    @staticmethod
    def empty_batch_targets(folder):
        import torch
        return torch.zeros((0, len(folder.targets)), dtype=torch.float32)

    # ----- the checkpoint ---------------------------------------------------------------------
    @staticmethod
    def describes(targets):
        return isinstance(targets, RegressionTargets)

    @classmethod
    def record_fields(cls, classes, targets):
        """format_version 2: its outputs are the targets (`classes` are not used)."""
        return {"format_version": 2, "task": cls.name, "regression": targets.to_dict(), "classes": list(targets.names),
                "num_classes": len(targets)}

    @staticmethod
    def targets_of(record):
        return RegressionTargets.from_dict(record["regression"])

    @classmethod
    def record_problems(cls, record):
        try:
            if cls.targets_of(record).names != record.get("classes"):
                return ["its output names differ from its regression targets"]
        except (EdgeError, KeyError, TypeError) as exc:
            return ["its regression targets cannot be read ({})".format(exc)]
        return []

    # ----- one run -------------------------------------------------------------------------
    @property
    def output_names(self):
        return self.targets.names

    def empty_targets(self):
        return self.empty_batch_targets(self)

    def criterion(self, reduction="sum"):
        from torch import nn
        # Summed over the targets of an item too: the loss of one image is the sum over its coordinates.
        if self.loss == "mse":
            return nn.MSELoss(reduction=reduction)
        return nn.SmoothL1Loss(reduction=reduction, beta=SMOOTH_L1_BETA)

    def batch_stat(self, outputs, targets):
        """Summed over the batch: each item's mean absolute error in model-input pixels (augmented images)."""
        import torch
        pixels = torch.from_numpy(self.input_pixels).to(outputs.device)
        errors = (outputs.detach().float() - targets).abs() * pixels
        return float(errors.mean(1).sum().item())

    def compact(self, outputs):
        return outputs.tolist()

    def report(self, predicted, targets):
        """Pixel errors on the validation images; "points" (predicted and true pixels) is for the scatter plot."""
        predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, len(self.targets))
        targets = np.asarray(targets, dtype=np.float64).reshape(-1, len(self.targets))
        sizes = self.val_sizes[:len(predicted)]
        predicted_px = np.array([to_image_pixels(row, size, self.spec) for row, size in zip(predicted, sizes)])
        true_px = np.array([to_image_pixels(row, size, self.spec) for row, size in zip(targets, sizes)])
        report = error_summary(predicted_px, true_px, self.targets.names)
        report["points"] = {"predicted": np.round(predicted_px, 2).tolist(), "true": np.round(true_px, 2).tolist()}
        return report

    def score(self, report, val_loss):
        return -report["mae_px"], -val_loss

    def epoch_text(self, train_figure, report):
        return "MAE {:.2f} px (input)".format(train_figure), summary_text(report)

    def history(self, train_figure, report):
        return {"train_mae_input_px": train_figure, "val_mae_px": report["mae_px"], "val_rmse_px": report["rmse_px"]}

    def warning(self, report):
        return None

    def record_extras(self, report):
        return {"val_points": report.get("points")}

    def mean_over_views(self, outputs, views):
        """Outputs of an expanded batch (N x views rows, model units) -> N rows, each view's points brought back
        through its inverse transform, then averaged: the device task's rule (edge.tasks.regression)."""
        import torch
        return torch.from_numpy(self.device.mean_over_views(outputs.numpy(), views))

    # ----- a finished run's files -------------------------------------------------------------
    @classmethod
    def figures(cls, record, report):
        """metrics.json's figures of the best epoch."""
        return {"task": cls.name, "best_epoch": record["epoch"], "mae_px": report["mae_px"],
                "rmse_px": report["rmse_px"], "per_target": report["per_target"], "val_images": report["images"],
                "val_loss": record["metrics"]["val_loss"], "targets": record["regression"]["targets"],
                "units": record["regression"]["units"], "loss": record["config"].get("loss")}

    @staticmethod
    def views_figures(mode, count, report, plain):
        """metrics.json's "tta": the best model's validation errors with `count` views, beside `plain`'s."""
        return {"mode": mode, "views": count, "images": report["images"], "mae_px": report["mae_px"],
                "rmse_px": report["rmse_px"], "per_target": report["per_target"], "mae_px_without": plain["mae_px"],
                "change": report["mae_px"] - plain["mae_px"]}

    @staticmethod
    def write_plot(path, record, report):
        points = record.get("val_points") or {"predicted": [], "true": []}
        plot_scatter(points["true"], points["predicted"], record["classes"], path)

    @staticmethod
    def report_lines(record, metrics):
        """report.md down to its table (train.outputs adds the skipped files and the footer)."""
        lines = [
            "# Training report (regression)",
            "",
            "- architecture: {}, {} outputs ({}), input {}x{} ({})".format(
                record["arch"], record["num_classes"], ",".join(metrics["targets"]),
                record["preprocess"]["size"][1], record["preprocess"]["size"][0], record["preprocess"]["resize"]),
            "- best epoch: {} of {}; validation {} on {} images, loss {:.4f} ({})".format(
                metrics["best_epoch"], record["config"].get("epochs"), summary_text(record["metrics"]["val"]),
                metrics["val_images"], metrics["val_loss"], metrics["loss"]),
            "- errors are in {}: each validation image's own pixels, whatever its size".format(metrics["units"]),
            "- dataset: {}".format(json.dumps(metrics["dataset"])),
        ]
        tta = metrics.get("tta")
        if tta:
            lines.append("- with test-time augmentation (--tta {}, {} views of each image, points averaged on the "
                         "un-transformed image): validation MAE {:.2f} px, {:+.2f} px against {:.2f} px "
                         "without".format(tta["mode"], tta["views"], tta["mae_px"], tta["change"],
                                          tta["mae_px_without"]))
        lines += ["- training time: {:.1f} s".format(metrics["train_seconds"]), "",
                  "| target | MAE px | RMSE px |", "|---|---|---|"]
        for name, row in metrics["per_target"].items():
            lines.append("| {} | {:.2f} | {:.2f} |".format(name, row["mae_px"], row["rmse_px"]))
        lines.append("| all | {:.2f} | {:.2f} |".format(metrics["mae_px"], metrics["rmse_px"]))
        return lines

    # ----- what the run says --------------------------------------------------------------
    @staticmethod
    def summary(report):
        return summary_text(report)

    @staticmethod
    def result_line(result):
        return "best validation {} at epoch {} ({:.0f} s)".format(result["summary"], result["best_epoch"],
                                                                 result["seconds"])

    @staticmethod
    def views_line(tta):
        return "with --tta {} ({} views): validation MAE {:.2f} px ({:+.2f} px)".format(
            tta["mode"], tta["views"], tta["mae_px"], tta["change"])

    @staticmethod
    def run_repr(run):
        return "TrainingRun({!r}, mae={:.2f} px, best_epoch={})".format(run.run_dir, run.mae, run.best_epoch)
