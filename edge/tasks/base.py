"""What a task is: one object that knows everything that differs between kinds of model output.

A bundle's manifest names its task by `output.kind` ("logits": classification, "regression": named
points); edge.tasks.registry maps that string to one Task object. Everything outside edge/tasks/ (and
train/tasks/) asks that object instead of comparing kinds:

    manifest     output_section, manifest_problem, targets, head_text, schema_version, output_name
    results      model (a runner's outputs -> result fields), mean_over_views (--tta), result_text, api_result,
                 score (edge-predict)
    sinks        speaks (is a result in this task's vocabulary), seen (what a change filter compares),
                 confidence, filters_problem, caption (preview), scales_capture (whether a camera may
                 scale frames down to the model's box)
    export       head_words, fp32_figures, fp32_text, holdout_truth, holdout_words, int8_figures, int8_text,
                 int8_failure, float_head, int8_bar_option and int8_default_bar (the INT8 pass mark and its
                 option), int8_bar_owner and int8_judged_as (the refusal of another task's bar)
    device       int8_passed (what edge.runners.select trusts: the verdict export recorded),
                 golden_verdict (edge-doctor's bar for a runtime against the golden set)
    reports      fp32_summary, int8_summary (edge-export's table), labelled_data, accuracy,
                 accuracy_columns, accuracy_cells, add_agreement, agreement_text, bench_tta_problem (edge-bench)
    serving      labels_output (the output scores the classes: Triton names labels.txt),
                 kserve_classification_problem (KServe's classification extension)

The base class holds the defaults a new task may keep; a method without one raises
NotImplementedError naming the task, so a missing piece shows up where it is first needed.
"""

from collections import namedtuple

# edge-doctor's verdict on one runtime path against the golden set: passed (bool), failure (the text
# said when it did not), detail (figures in words), data (figures for the --json report, the bar included).
GoldenVerdict = namedtuple("GoldenVerdict", ("passed", "failure", "detail", "data"))


def figure(record, key, spec="{}", scale=1):
    """record[key] formatted by `spec` (times `scale`), or "?" where it holds no such figure (an edited manifest:
    the figures are what export measured, checked by no reader)."""
    try:
        return spec.format(record[key] * scale)
    except (KeyError, TypeError, ValueError):
        return "?"


class Task(object):
    """One kind of model output. Subclasses set the class attributes and fill in the methods."""

    kind = None             # the manifest's output.kind
    words = None            # the task in words, for messages: "classifier", "regression"
    schema_version = 1      # the lowest manifest schema_version a bundle of this kind carries
    float_head = False      # export: leave the nodes that write the outputs unquantized
    labels_output = False   # the output scores the classes: Triton names labels.txt (the classes in output order)
    scales_capture = True   # results do not depend on the frame's size: a camera may scale it to the model's box
    int8_bar_option = None  # export's option that sets this task's INT8 bar (an ExportOptions attribute)
    int8_default_bar = None  # that option's default
    output_name = "outputs"  # the output tensor's name in a new bundle's ONNX model
    int8_bar_owner = None    # export's refusal of that option for another task: "is a classifier's bar"
    int8_judged_as = None    # and what this task's INT8 is judged by instead, in words

    def _missing(self, what):
        return NotImplementedError("the {} task has no {}".format(self.kind, what))

    # ------------------------------------------------------------------ manifest
    def output_section(self, output_name, targets=None):
        """The manifest's "output" for a new bundle (targets: a RegressionTargets, for tasks with named points)."""
        return {"name": output_name, "kind": self.kind}

    def manifest_problem(self, manifest):
        """What is wrong with this task's part of a manifest (its output section against model.classes), in
        one line, or None."""
        if manifest["schema_version"] < self.schema_version:
            return "a {} bundle is schema_version {}, got {}".format(
                self.words, self.schema_version, manifest["schema_version"])
        return None

    def targets(self, manifest):
        """The named points (edge.tasks.points.RegressionTargets) the outputs are, or None."""
        return None

    def head_text(self, manifest):
        """The model's outputs in words, for edge-export's table: "10 classes"."""
        return "{} outputs".format(manifest["model"]["num_classes"])

    def head_words(self, classes, targets):
        """A loaded model's outputs in words, for export's log: "10 classes"."""
        return "{} outputs".format(len(classes))

    # ------------------------------------------------------------------ results
    def model(self, bundle, runner, k=5, views=None):
        """The object that turns `runner`'s outputs into result fields: prepare(image), postprocess,
        results(images) -> (fields per image, timings), image_fields(output_row, image_hw, k)."""
        raise self._missing("model")

    def result_text(self, fields):
        """One image's result in words, for edge-predict's table."""
        raise self._missing("result_text")

    def mean_over_views(self, outputs, views):
        """Raw outputs of an expanded batch (N x views rows, numpy) -> N rows averaged over the TTA `views`
        (edge.tasks.tta.DihedralViews), in the units postprocessing reads: what --tta does, with no bundle."""
        raise self._missing("mean_over_views")

    def api_result(self, fields):
        """What edge.api's BundleRunner returns for one image's result fields (default: the fields)."""
        return fields

    def score(self, bundle, inputs, tta, log):
        """edge-predict's score of the images `inputs` (paths given): add(path, fields) -> truth or None, total,
        summary(bundle), fields(bundle). Default: nothing is scored."""
        from edge.tasks.scores import NoScore
        return NoScore()

    # ------------------------------------------------------------------ sinks
    def speaks(self, result):
        """Whether `result` (one image's result fields) is in this task's vocabulary: how a sink, which sees
        results and not the bundle, finds their task (edge.tasks.registry.task_of_result)."""
        raise self._missing("speaks")

    def seen(self, result):
        """What a result says was seen, compared by --on-change."""
        raise self._missing("seen")

    def confidence(self, result):
        """The result's confidence for --min-confidence (None: the filter lets it through)."""
        return None

    def filters_problem(self, bundle_path):
        """Why edge-camera's --on-change/--min-confidence do not apply to this task, or None."""
        return None

    def caption(self, canvas, result, scale, thickness):
        """Draw the result on the preview frame `canvas` (BGR, pixels of it); the caption text."""
        raise self._missing("caption")

    # ------------------------------------------------------------------ export verification
    def fp32_figures(self, reference, candidate, spec):
        """Figures of the fp32 check beyond the largest difference (e.g. top-1 agreement)."""
        return {}

    def fp32_text(self, record):
        """The fp32 check's figures in words, after the largest difference (export's log)."""
        return ""

    def fp32_summary(self, record):
        """The fp32 record in words, for edge-export's table."""
        return "max|diff| {:.1e} ({} {})".format(record.get("max_abs_diff", float("nan")), record.get("inputs"),
                                                 record.get("source"))

    def holdout_truth(self, folder, entries, frames, classes, targets):
        """The truth the INT8 hold-out is judged on: from the --calib `folder`'s (path, label) `entries` and
        their decoded `frames`; None when the folder does not label them."""
        return None

    def holdout_words(self, truth):
        """Whether the hold-out is labelled (holdout_truth's answer), in words for export's log."""
        return "labelled" if truth is not None else "no labels"

    def int8_figures(self, fp32_outputs, int8_outputs, frames, truth, spec, targets):
        """The verification record of an INT8 model against fp32 on the hold-out `frames`."""
        raise self._missing("int8_figures")

    def int8_text(self, record):
        """An INT8 record in words (export's log)."""
        raise self._missing("int8_text")

    def int8_summary(self, record):
        """An INT8 record in words (edge-export's table)."""
        raise self._missing("int8_summary")

    def int8_failure(self, record, flavor, bar):
        """Hold `record` to `bar` (the int8_bar_option's value): record the bar in it; the failure message, or
        None when it passes."""
        raise self._missing("int8_failure")

    def int8_passed(self, record):
        """Whether a recorded INT8 verification passed the bar it recorded (edge.runners.select trusts it)."""
        raise self._missing("int8_passed")

    # ------------------------------------------------------------------ device verification
    def golden_verdict(self, precision, outputs, reference, bundle, p50_ms=None):
        """edge-doctor's GoldenVerdict for a runtime's `outputs` against the golden `reference` (p50_ms: its
        batch-1 median latency, said in the detail)."""
        raise self._missing("golden_verdict")

    # ------------------------------------------------------------------ reports
    def labelled_data(self, folder, bundle, max_images):
        """[(BGR image, truth)] of a labelled folder, for edge-bench's accuracy."""
        raise self._missing("labelled_data")

    def accuracy(self, model, labelled):
        """Accuracy figures (a dict) of `model` on `labelled`, and its predictions per image."""
        raise self._missing("accuracy")

    def accuracy_columns(self):
        """The accuracy column headers of edge-bench's table."""
        raise self._missing("accuracy_columns")

    def accuracy_cells(self, accuracy):
        """A row's accuracy cells, under accuracy_columns."""
        raise self._missing("accuracy_cells")

    def add_agreement(self, accuracy, predictions, reference):
        """Add to a row's `accuracy` how its predictions agree with the reference row's."""
        raise self._missing("add_agreement")

    def agreement_text(self, reference, images):
        """edge-bench's footnote: what the agreement column measures, against the `reference` row."""
        raise self._missing("agreement_text")

    def bench_tta_problem(self, bundle_path, tta):
        """Why edge-bench cannot score this task with --tta views (it times and scores a classifier's averaged
        probabilities), or None."""
        return "edge-bench --tta scores top-1 with the views; {} is a {} bundle: run edge-predict BUNDLE IMAGES " \
               "--tta {} instead".format(bundle_path, self.words, tta)

    def kserve_classification_problem(self, bundle):
        """Why KServe's classification extension does not apply to this task's outputs, or None."""
        if self.labels_output:
            return None
        return "the classification extension needs a classifier; this model's outputs are {} outputs".format(
            self.words)
