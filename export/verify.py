"""Parity checks at export: the same inputs through PyTorch and ONNX Runtime (CPU).

FP32 is judged by the largest absolute output difference; INT8 by the model's task (edge.tasks:
a classifier's top-1 agreement with FP32 and accuracy, when the images' labels are known; a
regression model's MAE change in pixels of the held-out images, or unlabelled, its mean distance
from FP32 in those pixels, which bounds that change). A divergence raises `VerificationFailed`
(exit code 3) so no bundle is written.

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
from edge.util.image_folders import IMAGE_EXTENSIONS, labelled_image_files
from edge.bundle.preprocess import read_image
from edge.tasks.registry import head_task


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

def check_shapes(reference, candidate):
    """VerificationFailed unless the two output arrays have one shape."""
    if reference.shape != candidate.shape:
        raise VerificationFailed("output shapes differ: {} vs {}".format(reference.shape, candidate.shape))


def fp32_tolerance(reference, tolerance):
    """The allowance for this reference (see the module docstring)."""
    return float(tolerance * max(1.0, float(np.max(np.abs(reference)))))


def verify_fp32(reference, candidate, tolerance, source, task=None, spec=None, what="ONNX Runtime fp32 vs PyTorch"):
    """Judge FP32 parity; returns the manifest record or raises VerificationFailed.

    task: the model's edge.tasks task (default a classifier's), which adds its figures (a classifier's top-1
    agreement; a regression model's largest difference in pixels of the model input, of `spec`).
    """
    task = task or head_task()
    check_shapes(reference, candidate)
    max_abs_diff = float(np.max(np.abs(reference - candidate)))
    allowed = fp32_tolerance(reference, tolerance)
    record = {"inputs": int(len(reference)), "source": source, "max_abs_diff": max_abs_diff}
    record.update(task.fp32_figures(reference, candidate, spec))
    record.update({"tolerance": allowed, "tolerance_rule": "{:g} * max(1, max|logit|)".format(tolerance),
                   "max_abs_logit": float(np.max(np.abs(reference)))})
    if not max_abs_diff <= allowed:  # also catches NaN
        raise VerificationFailed("{} diverge: max abs diff {:.3g} > tolerance {:.3g} on {} {} inputs; "
                                 "no bundle written".format(what, max_abs_diff, allowed, len(reference), source))
    return record


def int8_figures(source, calibration, fp32_outputs, int8_outputs):
    """The record of an INT8 model's outputs against fp32's on the hold-out of `calibration`
    (export.bundle_models.CalibrationImages), in the figures of the model's task."""
    check_shapes(fp32_outputs, int8_outputs)
    record = source.task.int8_figures(fp32_outputs, int8_outputs, calibration.holdout, calibration.holdout_truth,
                                      source.spec, source.targets)
    record["source"] = "calibration hold-out"
    return record


def judge_int8(task, record, flavor, bar):
    """Hold an INT8 `record` to `bar` by its task's rule: the record (the bar put in it), or VerificationFailed."""
    failure = task.int8_failure(record, flavor, bar)
    if failure:
        raise VerificationFailed(failure)
    return record
