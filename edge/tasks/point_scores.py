"""A regression model's scores and checks in pixels: edge-predict's MAE on labelled images, edge-bench's
--data accuracy, export's INT8 hold-out (its labelled points and figures), and the preview's points."""

import os

import numpy as np

from edge.errors import EdgeError
from edge.tasks.scores import trained_val


class PointScore(object):
    """MAE in pixels on images whose point is known: rows of a labels.csv in a folder given, or
    <x>_<y>_<id>.jpg names (one-point bundles, targets x,y)."""

    def __init__(self, targets, inputs, log):
        from edge.tasks.point_labels import LABELS_CSV, folder_points

        self.targets, self.log = targets, log
        self.known = {}        # absolute path -> (pixel values, where the label came from)
        for item in inputs:
            if os.path.isdir(item) and os.path.isfile(os.path.join(item, LABELS_CSV)):
                labels = folder_points(item)
                if labels.targets != targets:
                    raise EdgeError("{} labels targets {}, the bundle outputs {}".format(
                        os.path.join(item, LABELS_CSV), ",".join(labels.targets.names), ",".join(targets.names)))
                self.known.update((os.path.abspath(path), (values, where)) for path, values, where in labels.entries)
        self.predicted, self.true = [], []

    @property
    def total(self):
        return len(self.true)

    def truth(self, path):
        from edge.tasks.point_labels import NAME_TARGETS, point_from_name

        known = self.known.get(os.path.abspath(path))
        if known is None and tuple(self.targets.names) == NAME_TARGETS:
            point = point_from_name(path)
            known = (list(point), "file name {}".format(os.path.basename(path))) if point else None
        return known

    def add(self, path, fields):
        """The image's labelled point as {target: pixels}, counted in the score; None when it has none."""
        from edge.tasks.point_labels import inside_problem

        known = self.truth(path)
        if known is None:
            return None
        values, where = known
        problem = inside_problem(values, (fields["image"]["height"], fields["image"]["width"]), self.targets.names,
                                 where)
        if problem:
            self.log("not scored: " + problem)
            return None
        self.true.append(values)
        self.predicted.append([fields["values"][name] for name in self.targets.names])
        return self.targets.values(values)

    def figures(self):
        from edge.tasks.points import error_summary

        return error_summary(self.predicted, self.true, self.targets.names)

    def summary(self, bundle):
        from edge.tasks.points import summary_text

        text = "{} on {} labelled images".format(summary_text(self.figures()), self.total)
        trained = trained_val(bundle)
        if trained.get("mae_px") is not None:
            text += "; training measured MAE {:.2f} px on {} validation images".format(
                trained["mae_px"], trained.get("images", "its"))
        return text

    def fields(self, bundle):
        return dict(self.figures(), training_val=trained_val(bundle) or None)


def labelled_points(folder, targets, limit):
    """[(BGR image, pixel values)] from a regression folder (labels.csv or <x>_<y>_<id>.jpg names) of `targets`."""
    from edge.tasks.point_labels import folder_points, inside_problem
    from edge.bundle.preprocess import read_image

    if not os.path.isdir(folder):
        raise EdgeError("--data {} is not a folder".format(folder))
    labels = folder_points(folder)
    if labels.targets != targets:
        raise EdgeError("--data {} labels targets {}, the bundle outputs {}".format(
            folder, ",".join(labels.targets.names), ",".join(targets.names)))
    step = max(1, len(labels.entries) // limit)
    found = []
    for path, values, where in labels.entries[::step][:limit]:
        image = read_image(path)
        if image is None:
            continue
        problem = inside_problem(values, image.shape[:2], targets.names, where)
        if problem:
            raise EdgeError(problem)
        found.append((image, np.asarray(values, dtype=np.float64)))
    if not found:
        raise EdgeError("--data {} has no readable images".format(folder))
    return found


def point_accuracy(regressor, labelled, batch_size=8):
    """(figures: MAE and RMSE in pixels of each image, per target; predicted pixel rows) over [(image, values)]."""
    from edge.bundle.preprocess import preprocess_batch
    from edge.tasks.points import error_summary

    predictions = []
    for start in range(0, len(labelled), batch_size):
        chunk = [image for image, _ in labelled[start:start + batch_size]]
        outputs = regressor.runner.infer(preprocess_batch(chunk, regressor.spec, regressor.fused))
        predictions.extend(row.tolist() for row in regressor.postprocess(outputs, chunk))
    figures = error_summary(predictions, [values for _, values in labelled], regressor.targets.names)
    return figures, predictions


def point_truth(folder, entries, frames, targets, flag="--calib"):
    """The labelled points (pixels, one row per entry) of images from a regression folder, or None.

    A folder with labels.csv, or whose image names all give a point (<x>_<y>_<id>.jpg), is labelled
    (edge.tasks.point_labels); its targets must be the model's, and every point must lie inside its image.
    Any other folder is unlabelled: None. `entries` (path, label) and their decoded `frames` are the
    images to label, from that folder.
    """
    from edge.tasks.point_labels import LABELS_CSV, folder_points, inside_problem, point_from_name
    from edge.util.image_folders import image_files

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


def int8_point_figures(fp32_outputs, int8_outputs, sizes, spec, truth=None, names=None):
    """INT8 against FP32 for a regression model, in pixels of each held-out image of (height, width) `sizes`.

    With `truth` (labelled points, pixels) the MAE of both and its change, which judges it; without,
    the mean absolute difference between them, which bounds that change.
    """
    from edge.tasks.points import error_summary, to_image_pixels

    fp32_px = np.array([to_image_pixels(row, size, spec) for row, size in zip(fp32_outputs, sizes)])
    int8_px = np.array([to_image_pixels(row, size, spec) for row, size in zip(int8_outputs, sizes)])
    record = {"holdout_images": int(len(fp32_outputs)), "max_abs_diff": float(np.max(np.abs(fp32_outputs -
                                                                                            int8_outputs))),
              "mean_abs_diff_px": float(np.mean(np.abs(int8_px - fp32_px))),
              "mae_fp32_px": None, "mae_int8_px": None, "mae_delta_px": None, "judged_by": "mean_abs_diff_px"}
    if truth is not None:
        names = names or ["t{}".format(i) for i in range(fp32_outputs.shape[1])]
        mae_fp32 = error_summary(fp32_px, truth, names)["mae_px"]
        mae_int8 = error_summary(int8_px, truth, names)["mae_px"]
        record.update({"mae_fp32_px": mae_fp32, "mae_int8_px": mae_int8, "mae_delta_px": mae_int8 - mae_fp32,
                       "judged_by": "mae_delta_px"})
    return record


def draw_points(canvas, values, scale, thickness):
    """Draw each (x, y) pair of a regression result's values on `canvas` (pixels of it); the caption text."""
    from edge.util.lazy import require

    cv2 = require("cv2", "the MJPEG preview")
    names = list(values)
    radius = max(4, int(round(10 * scale)))
    thickness = max(2, thickness)   # a 1-pixel line loses its colour to JPEG's halved chroma
    captions = []
    for index in range(0, len(names) - 1, 2):
        x, y = values[names[index]], values[names[index + 1]]
        centre = (int(round(x)), int(round(y)))
        for colour, width in (((0, 0, 0), thickness + 2), ((0, 255, 255), thickness)):
            cv2.circle(canvas, centre, radius, colour, width, cv2.LINE_AA)
            cv2.drawMarker(canvas, centre, colour, cv2.MARKER_CROSS, radius, width)
        captions.append("{} {:.0f} {} {:.0f}".format(names[index], x, names[index + 1], y))
    return "  ".join(captions)
