"""The table edge-export prints at the end: one row per bundle file with what export measured.

Shared by the desktop export and the device's engine build (edge.tensorrt.cli).
"""

import sys

from edge.util import text_table
from edge.bundle.bundle import INPUT_FLOAT


def figure(record, key, spec="{}", scale=1):
    """record[key] formatted by `spec` (times `scale`), or "?" where it holds no such figure (an edited manifest:
    the figures are what export measured, checked by no reader)."""
    try:
        return spec.format(record[key] * scale)
    except (KeyError, TypeError, ValueError):
        return "?"


def accuracy_text(record):
    if record.get("accuracy_fp32") is None:
        return ""
    return "; accuracy fp32 {} -> int8 {} ({} points)".format(
        figure(record, "accuracy_fp32", "{:.1%}"), figure(record, "accuracy_int8", "{:.1%}"),
        figure(record, "accuracy_delta", "{:+.1f}", 100))


def int8_mae_text(record):
    """A regression INT8 record in words: the MAE change against the labels, or the distance from fp32."""
    if record.get("mae_delta_px") is not None:
        return "MAE fp32 {} -> int8 {} px ({} px)".format(figure(record, "mae_fp32_px", "{:.2f}"),
                                                         figure(record, "mae_int8_px", "{:.2f}"),
                                                         figure(record, "mae_delta_px", "{:+.2f}"))
    return "unlabelled: {} px from fp32 on average".format(figure(record, "mean_abs_diff_px", "{:.2f}"))


def _size_text(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return "{:.1f} {}".format(num_bytes, unit) if unit != "B" else "{} B".format(num_bytes)
        num_bytes /= 1024.0
    return ""


def _float_input_note(manifest, entry):
    if (manifest.get("input") or {}).get("fused_preprocess") and entry.get("input_format") == INPUT_FLOAT:
        return ", float input (for TensorRT 8.2)"
    return ""


def summary_rows(manifest):
    """One row per artifact: (file, size, precision, verification), as data."""
    checks = manifest.get("verification") or {}
    rows = []
    for entry in manifest["artifacts"]:
        kind = entry["kind"]
        precision, figures = "", ""
        if kind == "onnx" and entry.get("precision") == "fp32":
            precision = "fp32 onnx opset {}{}".format(entry.get("opset"), _float_input_note(manifest, entry))
            fp32 = checks.get("fp32") or {}
            if fp32.get("skipped"):
                figures = "not compared: {}".format(fp32.get("reason", ""))
            elif fp32.get("max_abs_diff_input_px") is not None:
                figures = "max|diff| {} ({} input px) ({} {})".format(
                    figure(fp32, "max_abs_diff", "{:.1e}"), figure(fp32, "max_abs_diff_input_px", "{:.1e}"),
                    figure(fp32, "inputs"), figure(fp32, "source"))
            elif fp32:
                figures = "max|diff| {}, top-1 {} ({} {})".format(
                    figure(fp32, "max_abs_diff", "{:.1e}"), figure(fp32, "top1_agreement", "{:.1%}"),
                    figure(fp32, "inputs"), figure(fp32, "source"))
        elif kind == "onnx":
            precision = "int8 {} opset {}{}".format(entry.get("flavor"), entry.get("opset"),
                                                    _float_input_note(manifest, entry))
            record = (checks.get("int8") or {}).get(entry.get("flavor")) or {}
            if record.get("judged_by"):
                figures = "{} ({} held-out; at most +{} px)".format(
                    int8_mae_text(record), figure(record, "holdout_images"),
                    figure(record, "max_mae_increase_px", "{:g}"))
            elif record:
                figures = "top-1 vs fp32 {} ({} held-out){}".format(
                    figure(record, "top1_agreement", "{:.1%}"), figure(record, "holdout_images"), accuracy_text(record))
        elif kind == "calibration_cache":
            precision = "int8 cache ({})".format(entry.get("method"))
        elif kind == "tensorrt_engine":
            precision = "{} engine".format(entry.get("precision"))
            if entry.get("requested_precision") not in (None, entry.get("precision")):
                precision += " (asked {})".format(entry.get("requested_precision"))
            figures = "{} TRT {}".format(entry.get("gpu", ""), entry.get("tensorrt_version", "")).strip()
        elif kind == "golden":
            precision = "golden set, {} {} frames".format(entry.get("count"), entry.get("source"))
            figures = "{} outputs, for edge-doctor".format(entry.get("reference"))
        elif kind == "labels":
            output = manifest.get("output") or {}
            precision = "{} classes".format(manifest["model"]["num_classes"]) if output.get("kind") != "regression" \
                else "targets {}".format(",".join(output.get("targets") or []))
        rows.append((entry["file"], _size_text(entry["bytes"]), precision, figures))
    return rows


def format_table(rows, headers=("artifact", "size", "precision", "verification")):
    return text_table.format_table(rows, headers)


def print_summary(manifest):
    """The table on stdout after a blank line, flushed (the last thing edge-export prints)."""
    print()
    print(format_table(summary_rows(manifest)))
    sys.stdout.flush()
