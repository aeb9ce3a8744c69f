"""A third task, defined only here: multi-label classification (a sigmoid per class, every label above 0.5).

It is what the issue's step 1 asks a new task to be: one module (this one, an edge.tasks.base.Task) and
one registry line (edge.tasks.registry.register, called by the test), nothing else. Its bundle is made by
hand: a tiny ONNX model, Conv-free (GlobalAveragePool -> Flatten -> Gemm), whose score for each colour is
4 x the mean of that normalised channel, so a red image is "red", a yellow one "red" and "green".
"""

import os

import numpy as np

from edge.bundle.bundle import artifact_entry, new_manifest, write_manifest
from edge.bundle.preprocess import PreprocessSpec, preprocess
from edge.tasks.base import Task
from edge.tasks.timed_batch import run_timed
from edge.tasks.tta import DihedralViews

KIND = "multilabel"
CLASSES = ["red", "green", "blue"]   # RGB order: the model's input channels (the spec's colour order)
GAIN = 4.0
THRESHOLD = 0.5


def sigmoid(scores):
    return 1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float64)))


class MultiLabelModel(object):
    """Images in, every label whose sigmoid is above THRESHOLD out (with each label's probability)."""

    def __init__(self, bundle, runner, views=None):
        self.bundle, self.runner = bundle, runner
        self.classes, self.spec = bundle.classes, bundle.spec
        self.fused = bool(bundle.fused_preprocess)
        self.views = views or DihedralViews.for_bundle(bundle)

    def prepare(self, image):
        return preprocess(image, self.spec, self.fused)

    def fields(self, scores):
        probabilities = sigmoid(scores)
        return {"labels": [label for label, p in zip(self.classes, probabilities) if p > THRESHOLD],
                "scores": dict((label, round(float(p), 6)) for label, p in zip(self.classes, probabilities))}

    def postprocess(self, outputs, images=None):
        return [self.fields(row) for row in outputs]

    def image_fields(self, output_row, image_hw=None, k=None):
        return self.fields(output_row)

    def results(self, images):
        return run_timed(images, self.spec, self.fused, self.views, self.runner, self.postprocess)


class MultiLabelTask(Task):
    kind = KIND
    words = "multi-label"
    schema_version = 1
    labels_output = True
    output_name = "scores"

    def model(self, bundle, runner, k=5, views=None):
        return MultiLabelModel(bundle, runner, views=views)

    def result_text(self, fields):
        return ", ".join(fields["labels"]) or "(no label)"

    def speaks(self, result):
        return "labels" in result

    def seen(self, result):
        return tuple(result["labels"])

    def caption(self, canvas, result, scale, thickness):
        return self.result_text(result)


def toy_model(opset=13):
    """The multi-label ONNX model: input N x 3 x 32 x 32, output "scores" N x 3 (GAIN x each channel's mean)."""
    from onnx import TensorProto, helper, numpy_helper

    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", len(CLASSES)])]
    inits = [numpy_helper.from_array(np.eye(len(CLASSES), dtype=np.float32) * GAIN, "fc_w"),
             numpy_helper.from_array(np.zeros(len(CLASSES), np.float32), "fc_b")]
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pool"], name="pool"),
             helper.make_node("Flatten", ["pool"], ["flat"], axis=1, name="flatten"),
             helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["scores"], transB=1, name="fc")]
    model = helper.make_model(helper.make_graph(nodes, "toy-multilabel", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


def write_toy_bundle(folder, task):
    """A bundle of `task`'s kind: model.onnx (fp32, batch 1..8) and its manifest; returns the folder."""
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    manifest = new_manifest("toy-multilabel", CLASSES, PreprocessSpec(size=32), "input", task.output_name,
                            batch=(1, 1, 8), task=task)
    with open(os.path.join(folder, "model.onnx"), "wb") as handle:
        handle.write(toy_model().SerializeToString())
    manifest["artifacts"].append(artifact_entry(folder, "model.onnx", "onnx", precision="fp32", opset=13))
    write_manifest(folder, manifest)
    return folder


def expected_labels(bgr):
    """The labels the toy model gives a flat BGR colour, worked out with numpy: each RGB channel's normalised
    value times GAIN, through the sigmoid."""
    spec = PreprocessSpec(size=32)
    rgb = np.asarray(bgr[::-1], dtype=np.float64) / 255.0
    scores = GAIN * (rgb - np.asarray(spec.mean)) / np.asarray(spec.std)
    return [label for label, p in zip(CLASSES, sigmoid(scores)) if p > THRESHOLD]
