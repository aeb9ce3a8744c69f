"""PNG plots of a run: training curves, confusion matrix or scatter plot, learning-rate finder (matplotlib, Agg)."""

import io

import numpy as np

from edge.util.atomic import write_bytes
from edge.util.lazy import require


def _pyplot():
    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "plots")


def _save(fig, path):
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def plot_history(history, path, curve):
    """Loss, the task's figure and learning rate per epoch from the history rows.

    curve: the task's (title, ((history column, legend), ...)) for the middle panel (train.tasks: accuracy,
    or MAE in pixels)."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    axes[0].plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    axes[0].set_title("loss")
    title, columns = curve
    for column, label in columns:
        axes[1].plot(epochs, [r[column] for r in history], "o-", label=label)
    axes[1].set_title(title)
    axes[2].plot(epochs, [r["lr"] for r in history], "o-")
    axes[2].set_title("learning rate of the head, end of epoch")
    axes[2].set_yscale("log")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    _save(fig, path)


def plot_confusion(matrix, classes, path, title="validation confusion matrix"):
    plt = _pyplot()
    matrix = np.asarray(matrix)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(classes)))
    axis.set_yticks(range(len(classes)))
    axis.set_xticklabels(classes, rotation=45, ha="right")
    axis.set_yticklabels(classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    threshold = matrix.max() / 2.0 if matrix.size else 0
    if len(classes) <= 30:
        for (row, col), value in np.ndenumerate(matrix):
            axis.text(col, row, str(value), ha="center", va="center", fontsize=8,
                      color="white" if value > threshold else "black")
    _save(fig, path)


def plot_scatter(true, predicted, names, path, title="validation: predicted against true"):
    """One panel per target: each validation image's predicted pixel position against its label, y = x drawn."""
    plt = _pyplot()
    true = np.asarray(true, dtype=np.float64).reshape(-1, len(names))
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, len(names))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    for index, (name, axis) in enumerate(zip(names, axes[0])):
        axis.scatter(true[:, index], predicted[:, index], s=10, alpha=0.6)
        if len(true):
            low = min(true[:, index].min(), predicted[:, index].min())
            high = max(true[:, index].max(), predicted[:, index].max())
            axis.plot([low, high], [low, high], color="red", linewidth=1, label="predicted = true")
            mae = float(np.mean(np.abs(predicted[:, index] - true[:, index])))
            axis.set_title("{}: MAE {:.2f} px".format(name, mae))
            axis.legend(loc="upper left", fontsize=8)
        else:
            axis.set_title(name)
        axis.set_xlabel("true {} (pixels)".format(name))
        axis.set_ylabel("predicted {} (pixels)".format(name))
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    _save(fig, path)


def plot_lr_find(lrs, losses, found, path):
    """The range test's smoothed loss, each candidate rate marked with its value, the suggestion as a line.

    found: lr_finder.lr_candidates' dict (suggestion, rule, note, points).
    """
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(lrs, losses)
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("smoothed training loss")
    markers = {"basin edge": "*", "descent end": "o", "valley": "v", "minimum/10": "s", "steep": "^"}
    for name, (lr, loss) in sorted(found.get("points", {}).items()):
        axis.plot([lr], [loss], markers.get(name, "D"), markersize=8, label="{} {:.2e}".format(name, lr))
    suggestion = found.get("suggestion")
    if suggestion:
        axis.axvline(suggestion, color="red", linestyle="--",
                     label="suggested {:.2e} ({})".format(suggestion, found.get("rule")))
    if found.get("points") or suggestion:
        axis.legend(loc="best", fontsize=8)
    axis.grid(alpha=0.3)
    axis.set_title("learning-rate finder" + ("" if suggestion else ": no suggestion"))
    if found.get("note"):
        fig.text(0.01, -0.02, found["note"], fontsize=8, ha="left", va="top")
    _save(fig, path)
