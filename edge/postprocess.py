"""Logits to probabilities, top-k labels, and the one result vocabulary every output speaks.

edge-predict's --json rows, edge-camera's JSON lines, its MQTT messages and /latest all carry

    "prediction": the top-1 class label      "confidence": its probability (0..1)
    "top": [{"label", "index", "confidence"}, ...] best first
    "truth": the true class, where it is known (edge-predict: the image's class-named folder)
"""

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
