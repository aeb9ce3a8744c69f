"""What a finished run leaves behind: metrics.json, history.csv, plots, labels.txt, report.md."""

import csv
import io
import json
import os

from edge.atomic import write_json, write_text
from train.metrics import interval_text, small_set_warning
from train.plots import plot_confusion, plot_history

HISTORY_FIELDS = ("epoch", "phase", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  "val_macro_f1", "lr")


def write_history_csv(history, path):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    for row in history:
        writer.writerow({key: row[key] for key in HISTORY_FIELDS})
    write_text(path, buffer.getvalue())


def run_paths(run_dir):
    """The paths of a finished run's outputs, by role."""
    return {name: os.path.join(run_dir, file) for name, file in (
        ("model", "model.pt"), ("metrics", "metrics.json"), ("history", "history.csv"),
        ("curves", "curves.png"), ("confusion", "confusion.png"), ("labels", "labels.txt"),
        ("report", "report.md"), ("config", "config.yaml"))}


def write_run_outputs(run_dir, record, history, dataset_info, skipped, seconds, training=None, tta=None):
    """Write every report file from the best checkpoint's record; returns their paths by role.

    training: how the run was spread over processes (world size, backend, batches), kept in metrics.json.
    tta: the best model's validation figures with --tta (train.run.evaluate_best_with_views), or None.
    """
    report = record["metrics"]["val"]
    paths = run_paths(run_dir)
    metrics = {
        "best_epoch": record["epoch"],
        "accuracy": report["accuracy"],
        "accuracy_ci95": report.get("accuracy_ci95"),
        "macro_f1": report["macro_f1"],
        "val_loss": record["metrics"]["val_loss"],
        "per_class": report["per_class"],
        "confusion_matrix": report["confusion_matrix"],
        "classes": report["classes"],
        "dataset": dataset_info,
        "skipped_files": skipped,
        "train_seconds": round(seconds, 1),
        "versions": record["versions"],
    }
    if training is not None:
        metrics["training"] = training
    if tta is not None:
        metrics["tta"] = tta
    write_json(paths["metrics"], metrics)
    write_history_csv(history, paths["history"])
    write_text(paths["labels"], "".join(name + "\n" for name in record["classes"]))
    plot_history(history, paths["curves"])
    plot_confusion(report["confusion_matrix"], record["classes"], paths["confusion"])
    write_text(paths["report"], render_report(record, metrics))
    return paths


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
    if metrics["skipped_files"]:
        lines.append("## Skipped files ({})".format(len(metrics["skipped_files"])))
        lines.extend("- {}: {}".format(item["file"], item["reason"]) for item in metrics["skipped_files"])
    else:
        lines.append("No files were skipped.")
    lines.extend(["", "Plots: curves.png, confusion.png. Resolved configuration: config.yaml.", ""])
    return "\n".join(lines)
