"""Logits to probabilities, top-k labels, and the one result vocabulary every output speaks.

edge-predict's --json rows, edge-camera's JSON lines, its MQTT messages and /latest all carry,
for a classifier (a bundle whose output kind is "logits"):

    "prediction": the top-1 class label      "confidence": its probability (0..1)
    "top": [{"label", "index", "confidence"}, ...] best first
    "truth": the true class, where it is known (edge-predict: the image's class-named folder)

and for a regression model (output kind "regression", edge.tasks.points):

    "values": {"x": 123.45, "y": 67.8}   each named target, in pixels of the input image
                                         ((0, 0) the top-left pixel's centre; 2 decimals)
    "image": {"width", "height"}         the size of the image those pixels belong to
    "truth": {"x": ..., "y": ...}        the labelled point, where it is known (edge-predict: the
                                         folder's labels.csv or the <x>_<y>_<id>.jpg name)

A regression result has no "prediction" or "confidence": whatever filters on them (edge-camera's
--on-change and --min-confidence) is for classifiers.
"""

from collections import namedtuple

import numpy as np


def softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_k(probabilities, classes, k=5):
    """[{label, index, confidence}] best first, for one row of probabilities."""
    k = min(k, len(classes))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"label": classes[i], "index": int(i), "confidence": round(float(probabilities[i]), 6)} for i in order]


def result_fields(top):
    """{"prediction", "confidence", "top"}: the part of every output that says what was seen."""
    return {"prediction": top[0]["label"], "confidence": top[0]["confidence"], "top": top}


def regression_fields(values, image_hw):
    """{"values", "image"}: what a regression model saw in one image. values: {name: pixels}, output order."""
    return {"values": dict(values), "image": {"width": int(image_hw[1]), "height": int(image_hw[0])}}


class Label(namedtuple("Label", ("label", "index", "confidence"))):
    """One entry of a prediction's top-k: class label, output index, probability (0..1)."""

    __slots__ = ()


class Prediction(namedtuple("Prediction", ("prediction", "confidence", "top"))):
    """What one image was seen as, by a classifier (the Python API's result, edge.api)."""

    __slots__ = ()

    @classmethod
    def from_top(cls, top):
        """From top_k's list of {label, index, confidence}, best first."""
        fields = result_fields(top)
        return cls(fields["prediction"], fields["confidence"], [Label(**item) for item in fields["top"]])

    def as_dict(self):
        """The JSON fields edge-predict --json and edge-camera write for an image."""
        return result_fields([dict(item._asdict()) for item in self.top])


class Points(namedtuple("Points", ("values", "width", "height"))):
    """What a regression model found in one image: values {target: pixels of that image}, output order,
    and the image's width and height ("values" and "image" above)."""

    __slots__ = ()

    @classmethod
    def from_fields(cls, fields):
        return cls(fields["values"], fields["image"]["width"], fields["image"]["height"])

    def as_dict(self):
        """The JSON fields edge-predict --json and edge-camera write for an image."""
        return {"values": dict(self.values), "image": {"width": self.width, "height": self.height}}
