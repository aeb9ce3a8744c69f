"""Classification metrics from predictions: accuracy with its confidence interval, per-class
precision/recall/F1, confusion.

With 40 validation images one image is 2.5 points: the accuracy carries a 95% Wilson interval,
and a set too small to tell two models apart is said so.
"""

import math

import numpy as np

# Above this half-width (in accuracy points) the validation set cannot tell models apart.
WIDE_INTERVAL = 0.05


def wilson_interval(correct, total, z=1.96):
    """(low, high) of the Wilson score interval for `correct` of `total` (95% by default)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / float(total)
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4.0 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(report):
    """A report's 95% interval (computed for reports written before it was recorded)."""
    if report.get("accuracy_ci95"):
        return tuple(report["accuracy_ci95"])
    return wilson_interval(int(round(report["accuracy"] * report["images"])), report["images"])


def interval_text(report):
    """"95% CI 0.912-0.987" for a report's accuracy."""
    return "95% CI {:.3f}-{:.3f}".format(*accuracy_interval(report))


def small_set_warning(report):
    """A warning line when the validation set is too small to tell models apart, else None."""
    low, high = accuracy_interval(report)
    if (high - low) / 2 <= WIDE_INTERVAL:
        return None
    return ("warning: {} validation images give accuracy +/-{:.0f} points (95%): smaller differences between "
            "runs are noise; add validation images to compare models".format(report["images"], 50 * (high - low)))


def confusion_matrix(labels, predictions, num_classes):
    """matrix[true, predicted] = count."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def classification_report(labels, predictions, classes):
    """A JSON-ready dict: accuracy, macro F1, per-class precision/recall/F1/support, confusion."""
    matrix = confusion_matrix(labels, predictions, len(classes))
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(actual > 0, true_positive / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = int(matrix.sum())
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(actual[i])}
        for i, name in enumerate(classes)
    }
    present = actual > 0
    return {
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "accuracy_ci95": list(wilson_interval(int(true_positive.sum()), total)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "images": total,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "classes": list(classes),
    }
