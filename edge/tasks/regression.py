"""Regression: a bundle whose output kind is "regression", named points in pixels of each input image.

The model's outputs are points in the model input, normalised (edge.tasks.points); results map them
back to pixels of the image they came from ("values", "image"). There is no top-1: a change filter
compares the points, the confidence filter does not apply (edge-camera refuses it), export keeps the
head float and judges INT8 by the MAE change in pixels of the held-out images (by its distance from
FP32 where they are unlabelled, which bounds that change), edge-doctor by the distance from the golden
points, edge-bench reports the MAE and RMSE.
"""

import numpy as np

from edge.tasks.base import GoldenVerdict, Task, figure

# The most a regression model's INT8 may raise the MAE on the hold-out, in pixels of those images
# (or, unlabelled, move its points from FP32's on average), that export accepts by default; bundles
# record the bar they were held to (verification.int8.<flavor>.max_mae_increase_px).
INT8_MAX_MAE_INCREASE_PX = 1.0
# edge-doctor's fp32 and fp16 bars against the golden outputs; int8's is the bundle's INT8 bar in pixels.
MAX_ABS_DIFF_RELATIVE = {"fp32": 1e-3, "fp16": 2e-2}


def input_pixels(spec, outputs):
    """Model-input pixels per unit of each output column (x columns half the width, y half the height)."""
    from edge.tasks.points import pixels_per_unit
    return np.tile(pixels_per_unit(spec), np.shape(outputs)[1] // 2)


def int8_mae_text(record):
    """A regression INT8 record in words: the MAE change against the labels, or the distance from fp32."""
    if record.get("mae_delta_px") is not None:
        return "MAE fp32 {} -> int8 {} px ({} px)".format(figure(record, "mae_fp32_px", "{:.2f}"),
                                                         figure(record, "mae_int8_px", "{:.2f}"),
                                                         figure(record, "mae_delta_px", "{:+.2f}"))
    return "unlabelled: {} px from fp32 on average".format(figure(record, "mean_abs_diff_px", "{:.2f}"))


def _fmt(value, pattern):
    return "-" if value is None else pattern.format(value)


class RegressionTask(Task):
    kind = "regression"
    words = "regression"
    schema_version = 2
    float_head = True
    scales_capture = False   # the points are reported in pixels of the camera's frame
    int8_bar_option = "int8_max_mae_increase"
    int8_default_bar = INT8_MAX_MAE_INCREASE_PX
    output_name = "points"
    int8_bar_owner = "applies to regression models"
    int8_judged_as = "a regression model's INT8 is judged by --int8-max-mae-increase (pixels)"

    # ------------------------------------------------------------------ manifest
    def output_section(self, output_name, targets=None):
        return dict(targets.to_dict(), name=output_name, kind=self.kind)

    def manifest_problem(self, manifest):
        from edge.errors import EdgeError
        from edge.tasks.points import RegressionTargets

        problem = Task.manifest_problem(self, manifest)
        if problem:
            return problem
        output = manifest["output"]
        try:
            targets = RegressionTargets.from_dict(output)
        except EdgeError as exc:
            return "output: {}".format(exc)
        if targets.names != manifest["model"]["classes"]:
            return "output.targets {} differ from model.classes {}".format(targets.names, manifest["model"]["classes"])
        if output.get("points") != [list(pair) for pair in targets.points]:
            return "output.points must pair the targets as (x, y): {}".format([list(pair) for pair in targets.points])
        return None

    def targets(self, manifest):
        from edge.tasks.points import RegressionTargets
        return RegressionTargets.from_dict(manifest["output"])

    def head_text(self, manifest):
        return "targets {}".format(",".join(manifest["output"].get("targets") or []))

    def head_words(self, classes, targets):
        return "regression of {} ({})".format(",".join(targets.names), targets.to_dict()["units"])

    # ------------------------------------------------------------------ results
    def model(self, bundle, runner, k=5, views=None):
        from edge.tasks.regressor import Regressor
        return Regressor(bundle, runner, views=views)

    def mean_over_views(self, outputs, views):
        from edge.tasks.regressor import mean_points_over_views
        return mean_points_over_views(outputs, views)

    def result_text(self, fields):
        text = "  ".join("{} {:.2f}".format(name, value) for name, value in fields["values"].items())
        if fields.get("truth"):
            text += "  (labelled {})".format(" ".join("{} {:g}".format(name, value)
                                                      for name, value in fields["truth"].items()))
        return text

    def api_result(self, fields):
        from edge.tasks.postprocess import Points
        return Points.from_fields(fields)

    def score(self, bundle, inputs, tta, log):
        from edge.tasks.point_scores import PointScore
        return PointScore(bundle.targets, inputs, log)

    # ------------------------------------------------------------------ sinks
    def speaks(self, result):
        return "values" in result

    def seen(self, result):
        return tuple(sorted((result.get("values") or {}).items()))

    def filters_problem(self, bundle_path):
        return ("--on-change and --min-confidence filter on a classifier's top-1; {} is a regression bundle (its "
                "results are points): drop them".format(bundle_path))

    def caption(self, canvas, result, scale, thickness):
        from edge.tasks.point_scores import draw_points
        return draw_points(canvas, result["values"], scale, thickness)

    def bench_tta_problem(self, bundle_path, tta):
        return ("edge-bench --tta scores top-1 with the views; {} is a regression bundle: run edge-predict BUNDLE "
                "IMAGES --tta {} on labelled images for its MAE with them".format(bundle_path, tta))

    def kserve_classification_problem(self, bundle):
        return ("the classification extension needs a classifier; this model's outputs are points ({}): ask for "
                "the output tensor".format(", ".join(bundle.classes)))

    # ------------------------------------------------------------------ export verification
    def fp32_figures(self, reference, candidate, spec):
        return {"max_abs_diff_input_px": float(np.max(np.abs(reference - candidate) * input_pixels(spec,
                                                                                                  reference)))}

    def fp32_text(self, record):
        return "{:.2e} px of the model input".format(record["max_abs_diff_input_px"])

    def fp32_summary(self, record):
        return "max|diff| {} ({} input px) ({} {})".format(
            figure(record, "max_abs_diff", "{:.1e}"), figure(record, "max_abs_diff_input_px", "{:.1e}"),
            figure(record, "inputs"), figure(record, "source"))

    def holdout_truth(self, folder, entries, frames, classes, targets):
        from edge.tasks.point_scores import point_truth
        return point_truth(folder, entries, frames, targets)

    def holdout_words(self, truth):
        return "labelled points" if truth is not None else "no labels: INT8 is held to its distance from FP32"

    def int8_figures(self, fp32_outputs, int8_outputs, frames, truth, spec, targets):
        from edge.tasks.point_scores import int8_point_figures
        return int8_point_figures(fp32_outputs, int8_outputs, [frame.shape[:2] for frame in frames], spec, truth,
                                  targets.names if targets is not None else None)

    def int8_text(self, record):
        return "{} on {} held-out images; INT8 {:.2f} px from fp32 on average".format(
            int8_mae_text(record), record["holdout_images"], record["mean_abs_diff_px"])

    def int8_summary(self, record):
        return "{} ({} held-out; at most +{} px)".format(int8_mae_text(record), figure(record, "holdout_images"),
                                                         figure(record, "max_mae_increase_px", "{:g}"))

    def int8_failure(self, record, flavor, bar):
        record["max_mae_increase_px"] = float(bar)
        if self.int8_passed(record):   # the one judgement: export's, and what the device trusts
            return None
        figure_px = record[record["judged_by"]]
        if record["judged_by"] == "mae_delta_px":
            what = "raises the MAE by {:.2f} px (fp32 {:.2f} -> int8 {:.2f} px)".format(
                figure_px, record["mae_fp32_px"], record["mae_int8_px"])
        else:
            what = "moves the points {:.2f} px from FP32's on average (unlabelled: a bound on the MAE change)".format(
                figure_px)
        return ("INT8 {} {} on {} held-out images, past --int8-max-mae-increase {:g} px; no bundle written (try more "
                "--calib-size or another --calib-method)".format(flavor, what, record["holdout_images"], bar))

    def int8_passed(self, record):
        judged_by = record.get("judged_by")
        if judged_by not in ("mae_delta_px", "mean_abs_diff_px") or record.get(judged_by) is None:
            return False   # never measured in pixels, so never verified
        return record[judged_by] <= record.get("max_mae_increase_px", INT8_MAX_MAE_INCREASE_PX)

    # ------------------------------------------------------------------ device verification
    def golden_verdict(self, precision, outputs, reference, bundle, p50_ms=None):
        return golden_verdict(precision, outputs, reference, bundle.spec, int8_bar_px(bundle), p50_ms)

    # ------------------------------------------------------------------ reports
    def labelled_data(self, folder, bundle, max_images):
        from edge.tasks.point_scores import labelled_points
        return labelled_points(folder, bundle.targets, max_images)

    def accuracy(self, model, labelled):
        from edge.tasks.point_scores import point_accuracy
        return point_accuracy(model, labelled)

    def accuracy_columns(self):
        return ["MAE px", "RMSE px", "vs ref px"]

    def accuracy_cells(self, accuracy):
        return [_fmt(accuracy.get("mae_px"), "{:.2f}"), _fmt(accuracy.get("rmse_px"), "{:.2f}"),
                _fmt(accuracy.get("mean_abs_diff_px"), "{:.3f}")]

    def add_agreement(self, accuracy, predictions, reference):
        distance = np.abs(np.asarray(predictions) - np.asarray(reference))
        accuracy["mean_abs_diff_px"] = float(distance.mean())

    def agreement_text(self, reference, images):
        return "agreement: mean distance from {} on {} images (vs ref px)".format(reference, images)


def int8_bar_px(bundle):
    """The mean distance in pixels a regression bundle's INT8 points may keep from the golden ones: the bar
    export held INT8 to (the strictest flavor's), else the default."""
    records = ((bundle.manifest.get("verification") or {}).get("int8") or {}).values()
    bars = [record["max_mae_increase_px"] for record in records if record.get("max_mae_increase_px") is not None]
    return min(bars) if bars else INT8_MAX_MAE_INCREASE_PX


def golden_verdict(precision, outputs, reference, spec, int8_bar, p50_ms=None):
    """A regression model's `outputs` against the golden `reference`: fp32 and fp16 by their largest difference,
    int8 by the mean distance of the points in pixels of the model input, held to `int8_bar`."""
    distance = np.abs(outputs - reference)
    figures = {"max_abs_diff": float(np.max(distance)),
               "mean_abs_diff_px": float(np.mean(distance * input_pixels(spec, reference))),
               "max_abs_golden": float(np.max(np.abs(reference))), "p50_ms": p50_ms, "images": int(len(reference))}
    if precision == "int8":
        threshold = {"mean_abs_diff_px": float(int8_bar)}
        passed = figures["mean_abs_diff_px"] <= threshold["mean_abs_diff_px"]   # NaN fails too
        failure = "mean |diff| {:.2f} px > {:g} px".format(figures["mean_abs_diff_px"], threshold["mean_abs_diff_px"])
        rule_text = "threshold mean |diff| <= {:g} px (the bundle's INT8 bar)".format(threshold["mean_abs_diff_px"])
    else:
        rule = {"max_abs_diff_relative": MAX_ABS_DIFF_RELATIVE[precision]}
        allowed = rule["max_abs_diff_relative"] * max(1.0, figures["max_abs_golden"])
        passed = figures["max_abs_diff"] <= allowed
        failure = "max |diff| {:.2e} > {:.2e}".format(figures["max_abs_diff"], allowed)
        rule_text = "threshold max |diff| <= {:g} x max(1, max |golden|)".format(rule["max_abs_diff_relative"])
        threshold = dict(rule, max_abs_diff=allowed)
    detail = "points {:.3f} px from golden on average, max |diff| {:.2e} on {} golden inputs; p50 {} ms; {}".format(
        figures["mean_abs_diff_px"], figures["max_abs_diff"], figures["images"],
        "-" if p50_ms is None else "{:.2f}".format(p50_ms), rule_text)
    return GoldenVerdict(passed, failure, detail, dict(figures, threshold=threshold))
