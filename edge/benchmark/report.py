"""Rendering benchmark rows: a table on screen, JSON, CSV, a PNG plot, and a comparison with an older run.

Rows are plain dicts (see edge.benchmark.measure); nothing here measures anything.
"""

import csv
import io
import json

from edge.util.atomic import write_bytes, write_json, write_text
from edge.errors import EdgeError
from edge.util.text_table import format_table
from edge.util.lazy import require

SCHEMA = "edge-toolkit/bench"
SCHEMA_VERSION = 1
CSV_FIELDS = ("runtime", "precision", "runnable", "reason", "runner", "model_file", "model_bytes", "iterations",
              "mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "throughput", "top1", "top5",
              "agreement", "mae_px", "rmse_px", "mean_abs_diff_px", "rss_mb", "peak_rss_mb", "gpu_mb", "stages_ms",
              "tta", "tta_p50_ms", "tta_cost", "tta_top1", "tta_top1_change")


def result_document(rows, environment, bundle, settings, reference, created):
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created": created,
            "bundle": {"path": bundle.path, "arch": bundle.arch, "num_classes": len(bundle.classes),
                       "output": bundle.output_kind, "input": bundle.manifest["input"]["shape"]},
            "settings": settings, "environment": environment, "reference": reference, "rows": rows}


def load_result(path):
    try:
        with open(path, "r") as handle:
            document = json.load(handle)
    except (IOError, OSError) as exc:
        raise EdgeError("cannot read {} ({})".format(path, exc))
    except ValueError:
        raise EdgeError("{} is not JSON; --compare takes a file written by edge-bench --json".format(path))
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise EdgeError("{} is not an edge-bench result (--json output)".format(path))
    return document


def _fmt(value, pattern="{:.3f}"):
    return "-" if value is None else pattern.format(value)


def tta_mode(rows):
    """The --tta mode the rows were measured with besides plain inference, or None."""
    for row in rows:
        if row.get("tta"):
            return row["tta"]["mode"]
    return None


def tta_cells(row):
    """--tta columns: p50 ms per image with the views, times the plain p50, top-1 with them and its change."""
    tta = row.get("tta") or {}
    accuracy = tta.get("accuracy") or {}
    change = tta.get("top1_change")
    return [_fmt((tta.get("latency_ms") or {}).get("p50")), _fmt(tta.get("cost"), "{:.1f}x"),
            _fmt(accuracy.get("top1"), "{:.2%}"), _fmt(None if change is None else 100.0 * change, "{:+.2f}")]


def table(rows, batch_sizes, task):
    """Text table, one line per row; rows that cannot run show their reason. The accuracy columns are the bundle's
    task's (edge.tasks: a classifier's top-1, top-5, agreement; a regression model's MAE, RMSE, distance from ref)."""
    mode = tta_mode(rows)
    header = ["runtime", "prec", "p50 ms", "p90 ms", "p99 ms", "mean ms", "min ms", "max ms", "iters"]
    header += ["img/s b{}".format(b) for b in batch_sizes]
    header += task.accuracy_columns()
    if mode:
        header += ["{} p50 ms".format(mode), "{} cost".format(mode), "{} top-1".format(mode), "change pts"]
    header += ["MB", "RSS MB", "note"]
    lines = []
    for row in rows:
        if not row["runnable"]:
            cells = [row["runtime"], row["precision"]] + ["-"] * (len(header) - 3) + ["not runnable: " + row["reason"]]
        else:
            lat = row["latency_ms"]
            acc = row.get("accuracy") or {}
            cells = [row["runtime"], row["precision"]] + [_fmt(lat[k]) for k in ("p50", "p90", "p99", "mean", "min",
                                                                                 "max")]
            cells.append(str(row["iterations"]))
            cells += [_fmt(row["throughput"].get(str(b)), "{:.1f}") for b in batch_sizes]
            cells += task.accuracy_cells(acc)
            if mode:
                cells += tta_cells(row)
            cells += [_fmt(row["model_bytes"] / 2.0 ** 20 if row.get("model_bytes") else None, "{:.1f}"),
                      _fmt(row["memory"]["rss_mb"], "{:.0f}"), row.get("note") or ""]
        lines.append(cells)
    return format_table(lines, header)


def stages_table(rows):
    names = ("decode", "resize", "normalize", "h2d", "compute", "d2h", "postprocess")
    header = ["runtime", "prec"] + ["{} ms".format(n) for n in names] + ["total ms"]
    lines = []
    for row in rows:
        if row["runnable"]:
            stages = row["stages_ms"]
            lines.append([row["runtime"], row["precision"]] + [_fmt(stages[n]) for n in names]
                         + [_fmt(sum(stages[n] for n in names))])
    return format_table(lines, header, rule=False)


def write_csv(path, rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        lat = row.get("latency_ms") or {}
        acc = row.get("accuracy") or {}
        memory = row.get("memory") or {}
        tta = row.get("tta") or {}
        writer.writerow({
            "runtime": row["runtime"], "precision": row["precision"], "runnable": row["runnable"],
            "reason": row.get("reason") or "", "runner": row.get("runner", ""), "model_file": row.get("model_file", ""),
            "model_bytes": row.get("model_bytes", ""), "iterations": row.get("iterations", ""),
            "mean_ms": lat.get("mean", ""), "p50_ms": lat.get("p50", ""), "p90_ms": lat.get("p90", ""),
            "p99_ms": lat.get("p99", ""), "min_ms": lat.get("min", ""), "max_ms": lat.get("max", ""),
            "throughput": json.dumps(row.get("throughput", {})), "top1": acc.get("top1", ""),
            "top5": acc.get("top5", ""), "agreement": acc.get("agreement", ""), "mae_px": acc.get("mae_px", ""),
            "rmse_px": acc.get("rmse_px", ""), "mean_abs_diff_px": acc.get("mean_abs_diff_px", ""),
            "rss_mb": memory.get("rss_mb", ""),
            "peak_rss_mb": memory.get("peak_rss_mb", ""),
            "gpu_mb": memory.get("gpu_mb", ""), "stages_ms": json.dumps(row.get("stages_ms", {})),
            "tta": tta.get("mode", ""), "tta_p50_ms": (tta.get("latency_ms") or {}).get("p50", ""),
            "tta_cost": tta.get("cost", ""), "tta_top1": (tta.get("accuracy") or {}).get("top1", ""),
            "tta_top1_change": tta.get("top1_change", "")})
    write_text(path, buffer.getvalue())


def write_result(path, document):
    write_json(path, document)


def compare(old, new):
    """Lines describing the change from an older result to this one, row by row."""
    before = {(r["runtime"], r["precision"]): r for r in old["rows"]}
    lines = ["change against {} ({}):".format(old.get("created", "earlier run"),
                                              (old.get("environment") or {}).get("cpu", "unknown machine"))]
    for row in new["rows"]:
        key = (row["runtime"], row["precision"])
        previous = before.get(key)
        label = "{} {}".format(*key)
        if previous is None:
            lines.append("  {:<18} new row".format(label))
        elif not row["runnable"] or not previous["runnable"]:
            lines.append("  {:<18} {} -> {}".format(label, "ran" if previous["runnable"] else "not runnable",
                                                     "ran" if row["runnable"] else "not runnable"))
        else:
            old_p50, new_p50 = previous["latency_ms"]["p50"], row["latency_ms"]["p50"]
            text = "  {:<18} p50 {:.3f} -> {:.3f} ms ({:+.1f}%)".format(label, old_p50, new_p50,
                                                                       100.0 * (new_p50 - old_p50) / old_p50)
            old_acc = (previous.get("accuracy") or {}).get("top1")
            new_acc = (row.get("accuracy") or {}).get("top1")
            if old_acc is not None and new_acc is not None:
                text += ", top-1 {:.2%} -> {:.2%}".format(old_acc, new_acc)
            old_mae = (previous.get("accuracy") or {}).get("mae_px")
            new_mae = (row.get("accuracy") or {}).get("mae_px")
            if old_mae is not None and new_mae is not None:
                text += ", MAE {:.2f} -> {:.2f} px".format(old_mae, new_mae)
            lines.append(text)
    for key in sorted(set(before) - set((r["runtime"], r["precision"]) for r in new["rows"])):
        lines.append("  {:<18} gone".format("{} {}".format(*key)))
    return "\n".join(lines)


def plot(path, rows):
    """Latency bars (p50) with p90/p99 whiskers, and top-1 accuracy (a regression bundle's MAE) beside them."""
    matplotlib = require("matplotlib", "--plot")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "--plot")
    ran = [r for r in rows if r["runnable"]]
    if not ran:
        raise EdgeError("nothing ran, nothing to plot")
    labels = ["{}\n{}".format(r["runtime"], r["precision"]) for r in ran]
    p50 = [r["latency_ms"]["p50"] for r in ran]
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 2.4 * len(ran), 4.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    positions = range(len(ran))
    left.bar(positions, p50, color="#4c72b0", label="p50")
    left.errorbar(positions, p50, yerr=[[0] * len(ran), [r["latency_ms"]["p90"] - v for r, v in zip(ran, p50)]],
                  fmt="none", ecolor="black", capsize=4, label="p90")
    left.errorbar(positions, p50, yerr=[[0] * len(ran), [r["latency_ms"]["p99"] - v for r, v in zip(ran, p50)]],
                  fmt="none", ecolor="red", capsize=7, alpha=0.6, label="p99")
    left.set_xticks(list(positions))
    left.set_xticklabels(labels)
    left.set_ylabel("latency at batch 1 (ms)")
    left.legend()
    left.grid(axis="y", alpha=0.3)
    accuracies = [(r.get("accuracy") or {}).get("top1") for r in ran]
    errors = [(r.get("accuracy") or {}).get("mae_px") for r in ran]
    if any(a is not None for a in accuracies):
        right.bar(positions, [a or 0 for a in accuracies], color="#55a868")
        low = min(a for a in accuracies if a is not None)
        right.set_ylim(max(0.0, low - 0.05), 1.0)
        right.set_ylabel("top-1 accuracy")
    elif any(e is not None for e in errors):
        right.bar(positions, [e or 0 for e in errors], color="#55a868")
        right.set_ylabel("MAE (pixels of the --data images)")
    else:
        right.text(0.5, 0.5, "no --data: accuracy not measured", ha="center", va="center")
    right.set_xticks(list(positions))
    right.set_xticklabels(labels)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
