"""What a run learns, and how it is scored: classes or points. The training loop is one for both.

    Classification  cross-entropy with label smoothing; top-1 accuracy (with its 95% interval),
                    macro F1; the best epoch has the highest validation accuracy.
    Regression      SmoothL1 (default) or MSE on targets normalised to the model input
                    (edge.tasks.points); MAE and RMSE in pixels of each validation image, per target
                    and overall; the best epoch has the lowest validation MAE.

A task turns outputs into the figures the trainer logs, records and compares. Losses are summed
(`reduction="sum"`); the trainer divides by the global batch, so data parallelism does not change them.
"""

import numpy as np
import torch
from torch import nn

from edge.tasks.points import error_summary, pixels_per_unit, summary_text, to_image_pixels
from train.metrics import classification_report, interval_text, small_set_warning

LOSSES = ("smooth_l1", "mse")
# SmoothL1 is quadratic within this distance (model units: 0.02 is 1% of the input's side), linear
# beyond: an outlier (a mis-clicked label) pulls no harder than a point a few pixels off.
SMOOTH_L1_BETA = 0.02


class Classification(object):
    kind = "classification"
    metric = "accuracy"
    history_fields = ("train_accuracy", "val_accuracy", "val_macro_f1")

    def __init__(self, classes, label_smoothing=0.1):
        self.classes = list(classes)
        self.label_smoothing = float(label_smoothing)

    @property
    def output_names(self):
        return self.classes

    def empty_targets(self):
        return torch.zeros((0,), dtype=torch.int64)

    def criterion(self, reduction="sum"):
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


class Regression(object):
    kind = "regression"
    metric = "MAE"
    history_fields = ("train_mae_input_px", "val_mae_px", "val_rmse_px")

    def __init__(self, targets, spec, val_sizes, loss="smooth_l1"):
        """targets: RegressionTargets; val_sizes: (height, width) of each validation image, in loader order."""
        self.targets = targets
        self.spec = spec
        self.val_sizes = list(val_sizes)
        self.loss = loss
        self.input_pixels = torch.tensor(pixels_per_unit(spec).tolist() * len(targets.points), dtype=torch.float32)

    @property
    def output_names(self):
        return self.targets.names

    def empty_targets(self):
        return torch.zeros((0, len(self.targets)), dtype=torch.float32)

    def criterion(self, reduction="sum"):
        # Summed over the targets of an item too: the loss of one image is the sum over its coordinates.
        if self.loss == "mse":
            return nn.MSELoss(reduction=reduction)
        return nn.SmoothL1Loss(reduction=reduction, beta=SMOOTH_L1_BETA)

    def batch_stat(self, outputs, targets):
        """Summed over the batch: each item's mean absolute error in model-input pixels (augmented images)."""
        errors = (outputs.detach().float() - targets).abs() * self.input_pixels.to(outputs.device)
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
