"""What a finished run leaves behind: metrics.json, history.csv, plots, labels.txt, report.md.

A classifier's plots are curves.png and confusion.png; a regression model's are curves.png and
scatter.png (predicted against true pixels, one panel per target), and its labels.txt lists the
targets, its output names.
"""

import csv
import io
import json
import os

from edge.util.atomic import write_json, write_text
from edge.tasks.points import KIND as REGRESSION
from edge.tasks.points import summary_text
from train.metrics import interval_text, small_set_warning
from train.plots import plot_confusion, plot_history, plot_scatter

HISTORY_FIELDS = ("epoch", "phase", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  "val_macro_f1", "lr")
REGRESSION_HISTORY_FIELDS = ("epoch", "phase", "train_loss", "train_mae_input_px", "val_loss", "val_mae_px",
                             "val_rmse_px", "lr")


def history_fields(history):
    """The columns of history.csv: a regression run's rows carry pixel errors instead of accuracies."""
    return REGRESSION_HISTORY_FIELDS if history and "val_mae_px" in history[0] else HISTORY_FIELDS


def write_history_csv(history, path):
    buffer = io.StringIO()
    fields = history_fields(history)
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in history:
        writer.writerow({key: row[key] for key in fields})
    write_text(path, buffer.getvalue())


def run_paths(run_dir, task="classification"):
    """The paths of a finished run's outputs, by role (a regression run has a scatter plot, no confusion matrix)."""
    plot = ("scatter", "scatter.png") if task == REGRESSION else ("confusion", "confusion.png")
    return {name: os.path.join(run_dir, file) for name, file in (
        ("model", "model.pt"), ("metrics", "metrics.json"), ("history", "history.csv"),
        ("curves", "curves.png"), plot, ("labels", "labels.txt"),
        ("report", "report.md"), ("config", "config.yaml"))}


def write_run_outputs(run_dir, record, history, dataset_info, skipped, seconds, training=None, tta=None):
    """Write every report file from the best checkpoint's record; returns their paths by role.

    training: how the run was spread over processes (world size, backend, batches), kept in metrics.json.
    tta: the best model's validation figures with --tta (train.run.evaluate_best_with_views), or None.
    A regression model's files carry MAE and RMSE in pixels and a scatter plot instead of a confusion matrix.
    """
    regression = record.get("task") == REGRESSION
    report = record["metrics"]["val"]
    paths = run_paths(run_dir, REGRESSION if regression else "classification")
    metrics = regression_figures(record, report) if regression else classification_figures(record, report)
    metrics.update(dataset=dataset_info, skipped_files=skipped, train_seconds=round(seconds, 1),
                   versions=record["versions"])
    if training is not None:
        metrics["training"] = training
    if tta is not None:
        metrics["tta"] = tta
    write_json(paths["metrics"], metrics)
    write_history_csv(history, paths["history"])
    write_text(paths["labels"], "".join(name + "\n" for name in record["classes"]))
    plot_history(history, paths["curves"])
    if regression:
        points = record.get("val_points") or {"predicted": [], "true": []}
        plot_scatter(points["true"], points["predicted"], record["classes"], paths["scatter"])
        write_text(paths["report"], render_regression_report(record, metrics))
    else:
        plot_confusion(report["confusion_matrix"], record["classes"], paths["confusion"])
        write_text(paths["report"], render_report(record, metrics))
    return paths


def classification_figures(record, report):
    return {"best_epoch": record["epoch"], "accuracy": report["accuracy"],
            "accuracy_ci95": report.get("accuracy_ci95"), "macro_f1": report["macro_f1"],
            "val_loss": record["metrics"]["val_loss"], "per_class": report["per_class"],
            "confusion_matrix": report["confusion_matrix"], "classes": report["classes"]}


def regression_figures(record, report):
    return {"task": REGRESSION, "best_epoch": record["epoch"], "mae_px": report["mae_px"],
            "rmse_px": report["rmse_px"], "per_target": report["per_target"], "val_images": report["images"],
            "val_loss": record["metrics"]["val_loss"], "targets": record["regression"]["targets"],
            "units": record["regression"]["units"], "loss": record["config"].get("loss")}


def render_report(record, metrics):
    report = record["metrics"]["val"]
    lines = [
        "# Training report",
        "",
        "- architecture: {} ({} classes), input {}x{}".format(
            record["arch"], record["num_classes"], *record["preprocess"]["size"]),
        "- best epoch: {} of {}; validation accuracy {:.4f} ({} on {} images), macro F1 {:.4f}, loss {:.4f}".format(
            metrics["best_epoch"], record["config"].get("epochs"), metrics["accuracy"], interval_text(report),
            report["images"], metrics["macro_f1"], metrics["val_loss"]),
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
    lines += [
        "- training time: {:.1f} s".format(metrics["train_seconds"]),
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in metrics["per_class"].items():
        lines.append("| {} | {:.3f} | {:.3f} | {:.3f} | {} |".format(
            name, row["precision"], row["recall"], row["f1"], row["support"]))
    lines.append("")
    lines += skipped_lines(metrics["skipped_files"])
    lines.extend(["", "Plots: curves.png, confusion.png. Resolved configuration: config.yaml.", ""])
    return "\n".join(lines)


def skipped_lines(skipped):
    """The report's section on the files training could not read."""
    if not skipped:
        return ["No files were skipped."]
    return ["## Skipped files ({})".format(len(skipped))] + ["- {}: {}".format(item["file"], item["reason"])
                                                             for item in skipped]


def render_regression_report(record, metrics):
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
        "- training time: {:.1f} s".format(metrics["train_seconds"]),
        "",
        "| target | MAE px | RMSE px |",
        "|---|---|---|",
    ]
    for name, row in metrics["per_target"].items():
        lines.append("| {} | {:.2f} | {:.2f} |".format(name, row["mae_px"], row["rmse_px"]))
    lines.append("| all | {:.2f} | {:.2f} |".format(metrics["mae_px"], metrics["rmse_px"]))
    lines.append("")
    lines += skipped_lines(metrics["skipped_files"])
    lines.extend(["", "Plots: curves.png, scatter.png (predicted against true, per target). Resolved "
                      "configuration: config.yaml.", ""])
    return "\n".join(lines)
