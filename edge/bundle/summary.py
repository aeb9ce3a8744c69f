"""The table edge-export prints at the end: one row per bundle file with what export measured.

Shared by the desktop export and the device's engine build (edge.export).
"""

import sys

from edge.util import text_table
from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS


def _size_text(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return "{:.1f} {}".format(num_bytes, unit) if unit != "B" else "{} B".format(num_bytes)
        num_bytes /= 1024.0
    return ""


# A fused bundle's TensorRT 8.2 family (its own models take uint8 frames): its words, its verification records.
_TENSORRT_82_FAMILIES = {INPUT_PIXELS: (", float32 pixels (for TensorRT 8.2)", "float_pixels"),
                         INPUT_FLOAT: (", float input (for TensorRT 8.2)", "float_input")}


def _family(manifest, entry):
    """(words, verification key) of `entry`'s family when it is a fused bundle's TensorRT 8.2 one, else None."""
    if not (manifest.get("input") or {}).get("fused_preprocess"):
        return None
    return _TENSORRT_82_FAMILIES.get(entry.get("input_format"))


def _float_input_note(manifest, entry):
    family = _family(manifest, entry)
    return family[0] if family else ""


def _checks(manifest, entry):
    """The verification records of `entry`'s family (a TensorRT 8.2 family's own where the manifest has them)."""
    checks = manifest.get("verification") or {}
    family = _family(manifest, entry)
    return (checks.get(family[1]) or checks) if family else checks


def summary_rows(manifest):
    """One row per artifact: (file, size, precision, verification), as data; the figures in the words of the
    manifest's task (edge.tasks)."""
    from edge.tasks.registry import task_for

    task = task_for(manifest)
    rows = []
    for entry in manifest["artifacts"]:
        kind = entry["kind"]
        checks = _checks(manifest, entry)
        precision, figures = "", ""
        if kind == "onnx" and entry.get("precision") == "fp32":
            precision = "fp32 onnx opset {}{}".format(entry.get("opset"), _float_input_note(manifest, entry))
            fp32 = checks.get("fp32") or {}
            if fp32.get("skipped"):
                figures = "not compared: {}".format(fp32.get("reason", ""))
            elif fp32:
                figures = task.fp32_summary(fp32)
        elif kind == "onnx":
            precision = "int8 {} opset {}{}".format(entry.get("flavor"), entry.get("opset"),
                                                    _float_input_note(manifest, entry))
            record = (checks.get("int8") or {}).get(entry.get("flavor")) or {}
            if record:
                figures = task.int8_summary(record)
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
            precision = task.head_text(manifest)
        rows.append((entry["file"], _size_text(entry["bytes"]), precision, figures))
    return rows


def format_table(rows, headers=("artifact", "size", "precision", "verification")):
    return text_table.format_table(rows, headers)


def print_summary(manifest):
    """The table on stdout after a blank line, flushed (the last thing edge-export prints)."""
    print()
    print(format_table(summary_rows(manifest)))
    sys.stdout.flush()
