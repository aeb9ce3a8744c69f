"""Logits to probabilities and top-k labels."""

import numpy as np


def softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_k(probabilities, classes, k=5):
    """[{label, index, prob}] best first, for one row of probabilities."""
    k = min(k, len(classes))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"label": classes[i], "index": int(i), "prob": round(float(probabilities[i]), 6)} for i in order]
