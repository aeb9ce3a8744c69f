"""What a finished run leaves behind: metrics.json, history.csv, plots, labels.txt, report.md.

What the files hold comes from the run's task (train.tasks): a classifier's plots are curves.png and
confusion.png; a regression model's are curves.png and scatter.png (predicted against true pixels,
one panel per target), and its labels.txt lists the targets, its output names.
"""

import csv
import io
import os

from edge.util.atomic import write_json, write_text
from train import tasks
from train.plots import plot_history


def write_history_csv(history, path, columns):
    """history.csv: `columns` are the task's history_columns."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in history:
        writer.writerow({key: row[key] for key in columns})
    write_text(path, buffer.getvalue())


def run_paths(run_dir, task=tasks.DEFAULT):
    """The paths of a finished run's outputs, by role (the task's plot: a classifier's confusion matrix, a
    regression model's scatter plot)."""
    return {name: os.path.join(run_dir, file) for name, file in (
        ("model", "model.pt"), ("metrics", "metrics.json"), ("history", "history.csv"),
        ("curves", "curves.png"), task.plot, ("labels", "labels.txt"),
        ("report", "report.md"), ("config", "config.yaml"))}


def write_run_outputs(run_dir, record, history, dataset_info, skipped, seconds, training=None, tta=None):
    """Write every report file from the best checkpoint's record; returns their paths by role.

    training: how the run was spread over processes (world size, backend, batches), kept in metrics.json.
    tta: the best model's validation figures with --tta (train.run.evaluate_best_with_views), or None.
    The record's task gives the figures, the plot and the report (a regression model's carry MAE and RMSE
    in pixels and a scatter plot instead of a confusion matrix).
    """
    task = tasks.for_record(record)
    report = record["metrics"]["val"]
    paths = run_paths(run_dir, task)
    metrics = task.figures(record, report)
    metrics.update(dataset=dataset_info, skipped_files=skipped, train_seconds=round(seconds, 1),
                   versions=record["versions"])
    if training is not None:
        metrics["training"] = training
    if tta is not None:
        metrics["tta"] = tta
    write_json(paths["metrics"], metrics)
    write_history_csv(history, paths["history"], task.history_columns)
    write_text(paths["labels"], "".join(name + "\n" for name in record["classes"]))
    plot_history(history, paths["curves"], task.curve)
    task.write_plot(paths[task.plot[0]], record, report)
    write_text(paths["report"], render_report(task, record, metrics))
    return paths


def render_report(task, record, metrics):
    """report.md: the task's figures and table, then the skipped files."""
    lines = task.report_lines(record, metrics) + [""] + skipped_lines(metrics["skipped_files"])
    return "\n".join(lines + ["", task.report_footer, ""])


def skipped_lines(skipped):
    """The report's section on the files training could not read."""
    if not skipped:
        return ["No files were skipped."]
    return ["## Skipped files ({})".format(len(skipped))] + ["- {}: {}".format(item["file"], item["reason"])
                                                             for item in skipped]
