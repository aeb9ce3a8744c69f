"""Classification: a bundle whose output kind is "logits", one row of class scores an image.

Results are the top-k labels (edge.tasks.postprocess); a change filter compares the top-1 label;
export judges INT8 by its top-1 agreement with FP32 on the hold-out (and accuracy when the folder
names the classes); edge-doctor by the THRESHOLDS below; edge-bench reports top-1 and top-5.
"""

import numpy as np

from edge.tasks.base import GoldenVerdict, Task, figure

# The least top-1 agreement of an INT8 model with FP32 that export accepts by default; bundles
# record the bar they were held to (verification.int8.<flavor>.min_agreement).
INT8_MIN_AGREEMENT = 0.98
# edge-doctor's bars per precision against the golden outputs (edge.doctor.bundle_checks).
THRESHOLDS = {
    "fp32": {"max_abs_diff_relative": 1e-3},
    "fp16": {"top1_agreement": 1.0, "max_abs_diff_relative": 2e-2},
    "int8": {"top1_agreement": INT8_MIN_AGREEMENT},
}


def top1_agreement(reference, candidate):
    return float(np.mean(np.asarray(reference).argmax(1) == np.asarray(candidate).argmax(1)))


def accuracy_text(record):
    """An INT8 record's accuracy change, where the hold-out was labelled; else ""."""
    if record.get("accuracy_fp32") is None:
        return ""
    return "; accuracy fp32 {} -> int8 {} ({} points)".format(
        figure(record, "accuracy_fp32", "{:.1%}"), figure(record, "accuracy_int8", "{:.1%}"),
        figure(record, "accuracy_delta", "{:+.1f}", 100))


def label_indices(entries, classes):
    """Class indices for (path, label) entries, or None unless every label is one of `classes`."""
    labels = [label for _, label in entries]
    if not labels or any(label is None or label not in classes for label in labels):
        return None
    return np.asarray([classes.index(label) for label in labels], dtype=np.int64)


def _fmt(value, pattern):
    return "-" if value is None else pattern.format(value)


class ClassificationTask(Task):
    kind = "logits"
    words = "classifier"
    schema_version = 1
    labels_output = True
    scales_capture = True
    int8_bar_option = "int8_min_agreement"
    int8_default_bar = INT8_MIN_AGREEMENT
    output_name = "logits"
    int8_bar_owner = "is a classifier's bar"
    int8_judged_as = "a classifier's INT8 is judged by --int8-min-agreement"

    def head_text(self, manifest):
        return "{} classes".format(manifest["model"]["num_classes"])

    def head_words(self, classes, targets):
        return "{} classes".format(len(classes))

    # ------------------------------------------------------------------ results
    def model(self, bundle, runner, k=5, views=None):
        from edge.tasks.classifier import Classifier
        return Classifier(bundle, runner, k=k, views=views)

    def mean_over_views(self, outputs, views):
        return views.mean_probabilities(outputs)

    def result_text(self, fields):
        return "  ".join("{} {:.3f}".format(item["label"], item["confidence"]) for item in fields["top"])

    def api_result(self, fields):
        from edge.tasks.postprocess import Prediction
        return Prediction.from_top(fields["top"])

    def score(self, bundle, inputs, tta, log):
        from edge.tasks.scores import Score
        return Score(bundle.classes, tta)

    # ------------------------------------------------------------------ sinks
    def speaks(self, result):
        return "prediction" in result

    def seen(self, result):
        return result["prediction"]

    def confidence(self, result):
        return result.get("confidence")

    def caption(self, canvas, result, scale, thickness):
        return "{} {:.0%}".format(result["prediction"], result["confidence"])

    # ------------------------------------------------------------------ export verification
    def bench_tta_problem(self, bundle_path, tta):
        return None

    def fp32_figures(self, reference, candidate, spec):
        return {"top1_agreement": top1_agreement(reference, candidate)}

    def fp32_text(self, record):
        return "top-1 agreement {:.1%}".format(record["top1_agreement"])

    def fp32_summary(self, record):
        return "max|diff| {}, top-1 {} ({} {})".format(
            figure(record, "max_abs_diff", "{:.1e}"), figure(record, "top1_agreement", "{:.1%}"),
            figure(record, "inputs"), figure(record, "source"))

    def holdout_truth(self, folder, entries, frames, classes, targets):
        return label_indices(entries, classes)

    def holdout_words(self, truth):
        return "labelled by class folder" if truth is not None else "no labels"

    def int8_figures(self, fp32_outputs, int8_outputs, frames, truth, spec, targets):
        """Top-1 agreement with FP32 and, when the labels are known, the accuracy of both and the delta."""
        record = {"holdout_images": int(len(fp32_outputs)), "top1_agreement": top1_agreement(fp32_outputs,
                                                                                            int8_outputs),
                  "max_abs_diff": float(np.max(np.abs(fp32_outputs - int8_outputs)))}
        if truth is not None:
            acc_fp32 = float(np.mean(fp32_outputs.argmax(1) == truth))
            acc_int8 = float(np.mean(int8_outputs.argmax(1) == truth))
            record.update({"accuracy_fp32": acc_fp32, "accuracy_int8": acc_int8,
                           "accuracy_delta": acc_int8 - acc_fp32})
        else:
            record.update({"accuracy_fp32": None, "accuracy_int8": None, "accuracy_delta": None})
        return record

    def int8_text(self, record):
        return "top-1 agreement with fp32 {:.1%} on {} held-out images{}".format(
            record["top1_agreement"], record["holdout_images"], accuracy_text(record))

    def int8_summary(self, record):
        return "top-1 vs fp32 {} ({} held-out){}".format(
            figure(record, "top1_agreement", "{:.1%}"), figure(record, "holdout_images"), accuracy_text(record))

    def int8_failure(self, record, flavor, bar):
        record["min_agreement"] = float(bar)
        if self.int8_passed(record):   # the one judgement: export's, and what the device trusts
            return None
        return ("INT8 {} agrees with FP32 on {:.1%} of {} held-out images, below --int8-min-agreement {:.1%}; no "
                "bundle written (try more --calib-size or another --calib-method)".format(
                    flavor, record["top1_agreement"], record["holdout_images"], bar))

    def int8_passed(self, record):
        agreement = record.get("top1_agreement")   # none recorded: never measured, so never verified
        return agreement is not None and agreement >= record.get("min_agreement", INT8_MIN_AGREEMENT)

    # ------------------------------------------------------------------ device verification
    def golden_verdict(self, precision, outputs, reference, bundle, p50_ms=None):
        return golden_verdict(precision, outputs, reference, p50_ms)

    # ------------------------------------------------------------------ reports
    def labelled_data(self, folder, bundle, max_images):
        from edge.tasks.scores import labelled_images
        return labelled_images(folder, bundle.classes, max_images)

    def accuracy(self, model, labelled):
        from edge.tasks.scores import top_accuracy
        top1, top5, predictions = top_accuracy(model, labelled)
        return {"top1": top1, "top5": top5, "images": len(labelled)}, predictions

    def accuracy_columns(self):
        return ["top-1", "top-5", "agree"]

    def accuracy_cells(self, accuracy):
        return [_fmt(accuracy.get("top1"), "{:.2%}"), _fmt(accuracy.get("top5"), "{:.2%}"),
                _fmt(accuracy.get("agreement"), "{:.2%}")]

    def add_agreement(self, accuracy, predictions, reference):
        same = sum(int(a == b) for a, b in zip(predictions, reference))
        accuracy["agreement"] = same / float(len(reference))

    def agreement_text(self, reference, images):
        return "agreement: top-1 agreement with {} on {} images".format(reference, images)


def golden_verdict(precision, outputs, reference, p50_ms=None):
    """A classifier's outputs against the golden `reference`, by the precision's THRESHOLDS."""
    rule = THRESHOLDS[precision]
    figures = {"max_abs_diff": float(np.max(np.abs(outputs - reference))),
               "top1_agreement": top1_agreement(outputs, reference),
               "max_abs_golden": float(np.max(np.abs(reference))), "p50_ms": p50_ms, "images": int(len(reference))}
    allowed = rule.get("max_abs_diff_relative", 0) * max(1.0, figures["max_abs_golden"])
    failures = []
    if "max_abs_diff_relative" in rule and not figures["max_abs_diff"] <= allowed:   # NaN fails too
        failures.append("max |diff| {:.2e} > {:.2e}".format(figures["max_abs_diff"], allowed))
    if "top1_agreement" in rule and figures["top1_agreement"] < rule["top1_agreement"]:
        failures.append("top-1 agreement {:.1%} < {:.0%}".format(figures["top1_agreement"], rule["top1_agreement"]))
    detail = "top-1 {:.1%}, max |diff| {:.2e} on {} golden inputs; p50 {} ms; {}".format(
        figures["top1_agreement"], figures["max_abs_diff"], figures["images"],
        "-" if p50_ms is None else "{:.2f}".format(p50_ms), rule_text(precision))
    data = dict(figures, threshold=dict(rule, max_abs_diff=allowed if "max_abs_diff_relative" in rule else None))
    return GoldenVerdict(not failures, "; ".join(failures), detail, data)


def rule_text(precision):
    rule = THRESHOLDS[precision]
    parts = []
    if "top1_agreement" in rule:
        parts.append("top-1 >= {:.0%}".format(rule["top1_agreement"]))
    if "max_abs_diff_relative" in rule:
        parts.append("max |diff| <= {:g} x max(1, max |golden|)".format(rule["max_abs_diff_relative"]))
    return "threshold " + " and ".join(parts)
