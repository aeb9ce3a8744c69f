"""Regression outputs: named points, in pixels of the input image.

A regression model (edge-train --task regression) outputs one number per target. Targets come in
(x, y) pairs, one pair per point, named as the dataset's labels.csv names them: "x,y", or
"nose_x,nose_y,tail_x,tail_y" (each pair's names end in x and y). Every output is a pixel
position, so it can be drawn, mirrored and mapped through the preprocessing like the pixels are.

Pixel positions: (0, 0) is the centre of the top-left pixel (OpenCV's convention, as cv2.circle
and cv2.warpAffine use it), x to the right, y down. A labelled point is inside its image when
0 <= x <= width - 1 and 0 <= y <= height - 1.

The model itself works in normalised units: the point's position in the model input (after the
spec's resize and crop, edge.bundle.preprocess.resize_plan), scaled to [-1, 1] across the input's width
(x) and height (y); -1 and +1 are the input's outer edges. The checkpoint and the manifest record
this (RegressionTargets.to_dict), so every runtime maps outputs back to pixels of the image it
was given, whatever its size (to_image_pixels), through the same plan that resized its pixels.
"""

from collections import OrderedDict

import numpy as np

from edge.errors import EdgeError
from edge.bundle.preprocess import resize_plan

KIND = "regression"
UNITS = "pixels of the input image"
NORMALIZATION = {"frame": "model input", "range": [-1.0, 1.0],
                 "origin": "pixel centres; (0, 0) is the centre of the top-left pixel"}
DECIMALS = 2    # values in results: hundredths of a pixel


class RegressionTargets(object):
    """The output names of a regression model, in output order: (x, y) pairs, one per point."""

    def __init__(self, names):
        self.names = [str(name) for name in names]
        problem = names_problem(self.names)
        if problem:
            raise EdgeError("regression targets {}: {}".format(",".join(self.names) or "(none)", problem))

    @property
    def points(self):
        """[(x name, y name)] in output order."""
        return [(self.names[i], self.names[i + 1]) for i in range(0, len(self.names), 2)]

    def __len__(self):
        return len(self.names)

    def __eq__(self, other):
        return isinstance(other, RegressionTargets) and self.names == other.names

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "RegressionTargets({!r})".format(self.names)

    def to_dict(self):
        """What a checkpoint and a manifest's output section record about the targets."""
        return {"targets": list(self.names), "points": [list(pair) for pair in self.points], "units": UNITS,
                "normalization": dict(NORMALIZATION)}

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
            raise EdgeError("regression output description lacks its target names")
        normalization = data.get("normalization") or {}
        if normalization.get("frame") != NORMALIZATION["frame"] or \
                list(normalization.get("range") or []) != NORMALIZATION["range"]:
            raise EdgeError("regression outputs normalised as {} are not supported (expected {} on {}): written by "
                            "a newer edge-toolkit?".format(normalization, NORMALIZATION["range"],
                                                           NORMALIZATION["frame"]))
        return cls(data["targets"])

    def values(self, row):
        """{name: value} for one output row in pixels, in output order, rounded to DECIMALS."""
        return OrderedDict((name, round(float(value), DECIMALS)) for name, value in zip(self.names, row))


def names_problem(names):
    """What is wrong with a list of target names, or None: (x, y) pairs, each pair's names ending in x and y."""
    if not names:
        return "no target columns; give at least one point: file,x,y"
    if len(names) % 2:
        return "targets are points: the columns after file come in x,y pairs (x,y or nose_x,nose_y,...)"
    if len(set(names)) != len(names):
        return "a target name is given twice"
    for index in range(0, len(names), 2):
        name_x, name_y = names[index], names[index + 1]
        if not (name_x.lower().endswith("x") and name_y.lower().endswith("y")):
            return ("columns {!r},{!r} are not an x,y pair: each point's columns are named like x,y or "
                    "nose_x,nose_y, x first".format(name_x, name_y))
    return None


def _split(values):
    values = np.asarray(values, dtype=np.float64)
    return values[..., 0::2], values[..., 1::2]


def _join(xs, ys):
    out = np.empty(xs.shape[:-1] + (xs.shape[-1] * 2,), dtype=np.float64)
    out[..., 0::2], out[..., 1::2] = xs, ys
    return out


def image_to_input(values, image_hw, spec):
    """Pixel positions in an image of (height, width) `image_hw` -> the same points in the model input's pixels."""
    new_h, new_w, top, left = resize_plan(image_hw, spec)
    xs, ys = _split(values)
    # Pixel centres sit at +0.5 of the continuous position: OpenCV resizes that way.
    xs = (xs + 0.5) * (float(new_w) / image_hw[1]) - 0.5 - left
    ys = (ys + 0.5) * (float(new_h) / image_hw[0]) - 0.5 - top
    return _join(xs, ys)


def input_to_image(values, image_hw, spec):
    """The inverse of image_to_input: model-input pixel positions -> pixels of the image."""
    new_h, new_w, top, left = resize_plan(image_hw, spec)
    xs, ys = _split(values)
    xs = (xs + 0.5 + left) * (float(image_hw[1]) / new_w) - 0.5
    ys = (ys + 0.5 + top) * (float(image_hw[0]) / new_h) - 0.5
    return _join(xs, ys)


def normalize(values, spec):
    """Model-input pixel positions -> the model's units: [-1, 1] across the input's width and height."""
    height, width = spec.size
    xs, ys = _split(values)
    return _join(2.0 * (xs + 0.5) / width - 1.0, 2.0 * (ys + 0.5) / height - 1.0)


def denormalize(outputs, spec):
    """The model's units -> model-input pixel positions (the inverse of normalize)."""
    height, width = spec.size
    xs, ys = _split(outputs)
    return _join((xs + 1.0) * width / 2.0 - 0.5, (ys + 1.0) * height / 2.0 - 0.5)


def to_model_units(values, image_hw, spec):
    """Pixel positions in an image -> what the model is trained to output for it."""
    return normalize(image_to_input(values, image_hw, spec), spec)


def to_image_pixels(outputs, image_hw, spec):
    """A model's outputs for an image of (height, width) `image_hw` -> pixel positions in that image."""
    return input_to_image(denormalize(outputs, spec), image_hw, spec)


def pixels_per_unit(spec):
    """Model-input pixels per normalised unit of each output (x: half the input width, y: half its height)."""
    height, width = spec.size
    return _join(np.array([width / 2.0]), np.array([height / 2.0]))[0]


def outside(values, image_hw, margin=0.0):
    """Indices of the coordinates of `values` (pixel positions) that lie outside an image of `image_hw`.

    margin 0: the pixel-centre grid (0 <= x <= width - 1); 0.5: the image's whole area, edges
    included (what a point moved by resizing or augmentation must stay in).
    """
    xs, ys = _split(values)
    height, width = image_hw
    bad_x = (xs < -margin) | (xs > width - 1 + margin)
    bad_y = (ys < -margin) | (ys > height - 1 + margin)
    return [int(i) for i in np.flatnonzero(_join(bad_x.astype(float), bad_y.astype(float)).reshape(-1) > 0)]


def error_summary(predicted, truth, names):
    """MAE and RMSE in pixels, overall and per target, for rows of predicted and true pixel positions."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, len(names))
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, len(names))
    errors = predicted - truth
    if not len(errors):
        return {"images": 0, "mae_px": None, "rmse_px": None, "per_target": {}}
    per_target = OrderedDict((name, {"mae_px": float(np.mean(np.abs(errors[:, i]))),
                                     "rmse_px": float(np.sqrt(np.mean(errors[:, i] ** 2)))})
                             for i, name in enumerate(names))
    return {"images": int(len(errors)), "mae_px": float(np.mean(np.abs(errors))),
            "rmse_px": float(np.sqrt(np.mean(errors ** 2))), "per_target": per_target}


def summary_text(summary):
    """"MAE 1.23 px (x 1.10, y 1.36), RMSE 1.70 px" for an error_summary."""
    if summary.get("mae_px") is None:
        return "no labelled images"
    parts = ", ".join("{} {:.2f}".format(name, row["mae_px"]) for name, row in summary["per_target"].items())
    return "MAE {:.2f} px ({}), RMSE {:.2f} px".format(summary["mae_px"], parts, summary["rmse_px"])
