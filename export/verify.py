"""Parity checks at export: the same inputs through PyTorch and ONNX Runtime (CPU).

FP32 is judged by the largest absolute output difference; INT8 by top-1 agreement with FP32
(and accuracy, when the images' labels are known). A regression model's INT8 is judged by how
much it changes the MAE, in pixels of the held-out images, against their labels; for unlabelled
images by its mean absolute difference from FP32 in those pixels, which bounds that change
(|MAE_int8 - MAE_fp32| <= mean |int8 - fp32|). A divergence raises `VerificationFailed` (exit
code 3) so no bundle is written.

FP32 tolerance: `tolerance * max(1, max |logit|)`. Float32 rounding error grows with the size of
the values summed (a logit of 20 has a spacing of 2e-6 and is a sum over thousands of products
whose order differs between PyTorch and ONNX Runtime kernels), so a trained network with large
logits gets the same *relative* allowance an untrained one gets absolutely. Logits within 1 keep
the plain absolute tolerance.
"""

import os

import numpy as np

from edge.errors import EdgeError, Unusable, first_line
from edge.util.lazy import require
from edge.util.image_folders import IMAGE_EXTENSIONS, image_files, labelled_image_files
from edge.tasks.point_labels import LABELS_CSV, folder_points, inside_problem, point_from_name
from edge.bundle.preprocess import read_image
from edge.tasks.points import error_summary, pixels_per_unit, to_image_pixels


class VerificationFailed(Unusable):
    """An exported model disagrees with its reference beyond the tolerance: exit code 3 (EXIT_UNUSABLE)."""


# ----------------------------------------------------------------------------- image folders

def list_images(folder, flag="--calib"):
    """Image files in `folder`: flat, or one sub-folder per class (edge.util.image_folders.labelled_image_files).

    Returns a sorted list of (path, label) where label is the sub-folder name (None when flat).
    """
    folder = str(folder)
    if not os.path.isdir(folder):
        raise EdgeError("{} folder {} not found".format(flag, folder))
    found = labelled_image_files(folder)
    if not found:
        raise EdgeError("{} folder {} has no images ({}), flat or in class sub-folders".format(
            flag, folder, " ".join(IMAGE_EXTENSIONS)))
    return found


def sample_entries(entries, count, seed):
    """A seeded sample of `count` entries (all of them, shuffled, when there are fewer)."""
    order = np.random.RandomState(seed).permutation(len(entries))[:count]
    return [entries[i] for i in order]


def label_indices(entries, classes):
    """Class indices for (path, label) entries, or None unless every label is one of `classes`."""
    labels = [label for _, label in entries]
    if not labels or any(label is None or label not in classes for label in labels):
        return None
    return np.asarray([classes.index(label) for label in labels], dtype=np.int64)


def point_truth(folder, entries, frames, targets, flag="--calib"):
    """The labelled points (pixels, one row per entry) of images from a regression folder, or None.

    A folder with labels.csv, or whose image names all give a point (<x>_<y>_<id>.jpg), is labelled
    (edge.tasks.point_labels); its targets must be the model's, and every point must lie inside its image.
    Any other folder is unlabelled: None. `entries` (path, label) and their decoded `frames` are the
    images to label, from that folder.
    """
    folder = str(folder)
    if not os.path.isfile(os.path.join(folder, LABELS_CSV)) and \
            any(point_from_name(path) is None for path in image_files(folder)):
        return None
    labels = folder_points(folder)
    if labels.targets != targets:
        raise EdgeError("{} folder {} labels targets {}, the model outputs {}".format(
            flag, folder, ",".join(labels.targets.names), ",".join(targets.names)))
    by_path = dict((os.path.abspath(path), (values, where)) for path, values, where in labels.entries)
    truth = []
    for (path, _), frame in zip(entries, frames):
        values, where = by_path[os.path.abspath(path)]
        problem = inside_problem(values, frame.shape[:2], targets.names, where)
        if problem:
            raise EdgeError(problem)
        truth.append(values)
    return np.asarray(truth, dtype=np.float64)


def read_images(entries, flag="--calib", log=print):
    """Decode (path, label) entries; unreadable files are skipped and counted.

    Returns (images, kept entries).
    """
    images, kept = [], []
    for path, label in entries:
        image = read_image(path)
        if image is None:
            continue
        images.append(image)
        kept.append((path, label))
    skipped = len(entries) - len(kept)
    if not images:
        raise EdgeError("no image in the {} folder could be decoded ({} tried)".format(flag, len(entries)))
    if skipped:
        log("  skipped {} unreadable image(s) from {}".format(skipped, flag))
    return images, kept


def random_images(spec, count, seed):
    """Seeded random BGR frames, a little larger than the spec, so resize and crop do real work."""
    cv2 = require("cv2", "random verification images")
    rng = np.random.RandomState(seed)
    height, width = spec.resized_size()
    images = []
    for _ in range(count):
        h = int(height * rng.uniform(1.0, 1.5))
        w = int(width * rng.uniform(1.0, 1.5))
        # Smooth blobs rather than white noise: closer to the statistics of a photograph.
        small = rng.randint(0, 256, size=(max(2, h // 8), max(2, w // 8), 3)).astype(np.uint8)
        images.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    return images


# ----------------------------------------------------------------------------- runners

def torch_logits(model, batch, chunk=32):
    """Logits of a torch model for a float32 NCHW numpy batch."""
    torch = require("torch", "verification against PyTorch")
    outputs = []
    with torch.no_grad():
        for start in range(0, len(batch), chunk):
            outputs.append(model(torch.from_numpy(batch[start:start + chunk])).float().numpy())
    return np.concatenate(outputs)


class OnnxCpu(object):
    """ONNX Runtime on the CPU for one file; feeds `max_batch` inputs per call."""

    def __init__(self, path, max_batch=1):
        ort = require("onnxruntime", "verification with ONNX Runtime")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types: one line for the user
            raise EdgeError("ONNX Runtime cannot load {} ({})".format(
                path, first_line(exc)))
        self.input_name = self.session.get_inputs()[0].name
        self.max_batch = max(1, int(max_batch))

    def __call__(self, batch):
        outputs = []
        for start in range(0, len(batch), self.max_batch):
            feed = {self.input_name: batch[start:start + self.max_batch]}
            outputs.append(self.session.run(None, feed)[0])
        return np.concatenate(outputs).astype(np.float32)


# ----------------------------------------------------------------------------- comparisons

def compare(reference, candidate):
    """Largest absolute difference and top-1 agreement between two logit arrays."""
    if reference.shape != candidate.shape:
        raise VerificationFailed("output shapes differ: {} vs {}".format(reference.shape, candidate.shape))
    return {
        "max_abs_diff": float(np.max(np.abs(reference - candidate))),
        "top1_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
    }


def fp32_tolerance(reference, tolerance):
    """The allowance for this reference (see the module docstring)."""
    return float(tolerance * max(1.0, float(np.max(np.abs(reference)))))


def verify_fp32(reference, candidate, tolerance, source, what="ONNX Runtime fp32 vs PyTorch", spec=None):
    """Judge FP32 parity; returns the manifest record or raises VerificationFailed.

    spec: a regression model's preprocessing spec (its outputs are points: no top-1, and the largest
    difference is given in pixels of the model input too); None for a classifier.
    """
    figures = compare(reference, candidate)
    allowed = fp32_tolerance(reference, tolerance)
    record = {"inputs": int(len(reference)), "source": source,
              "max_abs_diff": figures["max_abs_diff"], "top1_agreement": figures["top1_agreement"],
              "tolerance": allowed, "tolerance_rule": "{:g} * max(1, max|logit|)".format(tolerance),
              "max_abs_logit": float(np.max(np.abs(reference)))}
    if spec is not None:
        del record["top1_agreement"]
        record["max_abs_diff_input_px"] = float(np.max(np.abs(reference - candidate) * input_pixels(spec,
                                                                                                  reference)))
    if not figures["max_abs_diff"] <= allowed:  # also catches NaN
        raise VerificationFailed("{} diverge: max abs diff {:.3g} > tolerance {:.3g} on {} {} inputs; "
                                 "no bundle written".format(what, figures["max_abs_diff"], allowed,
                                                            len(reference), source))
    return record


def int8_figures(fp32_logits, int8_logits, labels=None):
    """Top-1 agreement with FP32 and, when labels are known, accuracy of both and the delta."""
    figures = compare(fp32_logits, int8_logits)
    record = {"holdout_images": int(len(fp32_logits)), "top1_agreement": figures["top1_agreement"],
              "max_abs_diff": figures["max_abs_diff"]}
    if labels is not None:
        acc_fp32 = float(np.mean(fp32_logits.argmax(1) == labels))
        acc_int8 = float(np.mean(int8_logits.argmax(1) == labels))
        record.update({"accuracy_fp32": acc_fp32, "accuracy_int8": acc_int8,
                       "accuracy_delta": acc_int8 - acc_fp32})
    else:
        record.update({"accuracy_fp32": None, "accuracy_int8": None, "accuracy_delta": None})
    return record


def judge_int8(record, flavor, min_agreement):
    """Raise VerificationFailed when INT8 agrees with FP32 on fewer than `min_agreement` images."""
    record["min_agreement"] = float(min_agreement)
    if not record["top1_agreement"] >= min_agreement:
        raise VerificationFailed("INT8 {} agrees with FP32 on {:.1%} of {} held-out images, below "
                                 "--int8-min-agreement {:.1%}; no bundle written (try more --calib-size or "
                                 "another --calib-method)".format(flavor, record["top1_agreement"],
                                                                   record["holdout_images"], min_agreement))
    return record


# ----------------------------------------------------------------------------- regression


def input_pixels(spec, outputs):
    """Model-input pixels per unit of each output column (x columns half the width, y half the height)."""
    return np.tile(pixels_per_unit(spec), outputs.shape[1] // 2)


def int8_regression_figures(fp32_outputs, int8_outputs, sizes, spec, truth=None, names=None):
    """INT8 against FP32 for a regression model, in pixels of each held-out image of (height, width) `sizes`.

    With `truth` (labelled points, pixels) the MAE of both and its change, which judges it; without,
    the mean absolute difference between them, which bounds that change.
    """
    figures = compare(fp32_outputs, int8_outputs)
    fp32_px = np.array([to_image_pixels(row, size, spec) for row, size in zip(fp32_outputs, sizes)])
    int8_px = np.array([to_image_pixels(row, size, spec) for row, size in zip(int8_outputs, sizes)])
    record = {"holdout_images": int(len(fp32_outputs)), "max_abs_diff": figures["max_abs_diff"],
              "mean_abs_diff_px": float(np.mean(np.abs(int8_px - fp32_px))),
              "mae_fp32_px": None, "mae_int8_px": None, "mae_delta_px": None, "judged_by": "mean_abs_diff_px"}
    if truth is not None:
        names = names or ["t{}".format(i) for i in range(fp32_outputs.shape[1])]
        mae_fp32 = error_summary(fp32_px, truth, names)["mae_px"]
        mae_int8 = error_summary(int8_px, truth, names)["mae_px"]
        record.update({"mae_fp32_px": mae_fp32, "mae_int8_px": mae_int8, "mae_delta_px": mae_int8 - mae_fp32,
                       "judged_by": "mae_delta_px"})
    return record


def judge_int8_regression(record, flavor, max_increase):
    """Raise VerificationFailed when INT8 changes the MAE (or, unlabelled, differs from FP32) by more than
    `max_increase` pixels."""
    record["max_mae_increase_px"] = float(max_increase)
    figure = record[record["judged_by"]]
    if figure <= max_increase:
        return record
    if record["judged_by"] == "mae_delta_px":
        what = "raises the MAE by {:.2f} px (fp32 {:.2f} -> int8 {:.2f} px)".format(
            figure, record["mae_fp32_px"], record["mae_int8_px"])
    else:
        what = "moves the points {:.2f} px from FP32's on average (unlabelled: a bound on the MAE change)".format(
            figure)
    raise VerificationFailed("INT8 {} {} on {} held-out images, past --int8-max-mae-increase {:g} px; no bundle "
                             "written (try more --calib-size or another --calib-method)".format(
                                 flavor, what, record["holdout_images"], max_increase))
