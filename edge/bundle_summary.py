"""The table edge-export prints at the end: one row per bundle file with what export measured.

Shared by the desktop export and the device's engine build (edge.tensorrt.cli).
"""

import sys

from edge import text_table
from edge.bundle import INPUT_FLOAT


def accuracy_text(record):
    if record.get("accuracy_fp32") is None:
        return ""
    return "; accuracy fp32 {:.1%} -> int8 {:.1%} ({:+.1f} points)".format(
        record["accuracy_fp32"], record["accuracy_int8"], 100 * record["accuracy_delta"])


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
                figures = "not compared: " + fp32.get("reason", "")
            elif fp32:
                figures = "max|diff| {:.1e}, top-1 {:.1%} ({} {})".format(
                    fp32["max_abs_diff"], fp32["top1_agreement"], fp32["inputs"], fp32["source"])
        elif kind == "onnx":
            precision = "int8 {} opset {}{}".format(entry.get("flavor"), entry.get("opset"),
                                                    _float_input_note(manifest, entry))
            record = (checks.get("int8") or {}).get(entry.get("flavor")) or {}
            if record:
                figures = "top-1 vs fp32 {:.1%} ({} held-out){}".format(
                    record["top1_agreement"], record["holdout_images"], accuracy_text(record))
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
            precision = "{} classes".format(manifest["model"]["num_classes"])
        rows.append((entry["file"], _size_text(entry["bytes"]), precision, figures))
    return rows


def format_table(rows, headers=("artifact", "size", "precision", "verification")):
    return text_table.format_table(rows, headers)


def print_summary(manifest):
    """The table on stdout after a blank line, flushed (the last thing edge-export prints)."""
    print()
    print(format_table(summary_rows(manifest)))
    sys.stdout.flush()
