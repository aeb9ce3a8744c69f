"""A third task, registered by a test and defined only in test files (tests/edge/toy_multilabel.py), runs
through edge-predict and edge-serve: a new task is one module plus one registry line, no product file.

The toy is multi-label classification: a sigmoid per class, every label above 0.5. Its bundle is made by
hand; edge-predict (its main, in this process) prints and writes its labels, and edge-serve (a real server
on 127.0.0.1) answers /v1/predict with them and KServe v2 infer with the model's scores.
"""

import json
import os

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.errors import EdgeError
from edge.tasks import registry
from tests.edge.toy_multilabel import CLASSES, GAIN, KIND, MultiLabelTask, expected_labels, write_toy_bundle

pytest.importorskip("onnx", reason="the toy model is written with the onnx package")
pytest.importorskip("onnxruntime", reason="edge-predict and edge-serve run the toy model with ONNX Runtime")

# Flat BGR colours, and the labels the toy model's rule gives each (checked against expected_labels below).
COLOURS = {"red": (0, 0, 255), "yellow": (0, 255, 255), "white": (255, 255, 255), "black": (0, 0, 0),
           "cyan": (255, 255, 0)}
LABELS = {"red": ["red"], "yellow": ["red", "green"], "white": ["red", "green", "blue"], "black": [],
          "cyan": ["green", "blue"]}


@pytest.fixture
def toy_task():
    """The toy task registered for one test, and taken away after it."""
    task = registry.register(MultiLabelTask())
    try:
        yield task
    finally:
        registry.unregister(KIND)


@pytest.fixture
def toy_bundle(toy_task, tmp_path):
    return write_toy_bundle(tmp_path / "bundle", toy_task)


@pytest.fixture
def toy_images(tmp_path):
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for name, bgr in sorted(COLOURS.items()):
        image = np.zeros((40, 48, 3), np.uint8)
        image[:] = bgr
        assert cv2.imwrite(str(folder / (name + ".png")), image)
    return str(folder)


def test_the_colour_rule_is_what_the_toy_model_computes():
    for name, bgr in COLOURS.items():
        assert expected_labels(bgr) == LABELS[name], name


def test_an_unregistered_kind_is_refused_with_the_one_line_it_always_got(toy_task, tmp_path):
    folder = write_toy_bundle(tmp_path / "bundle", toy_task)
    assert Bundle.load(folder).task is toy_task
    registry.unregister(KIND)
    with pytest.raises(EdgeError, match="output kind 'multilabel' this edge-toolkit does not know: upgrade it"):
        Bundle.load(folder)


def test_edge_predict_prints_and_writes_the_toy_tasks_labels(toy_bundle, toy_images, tmp_path, capsys):
    from edge.predict import main

    out = str(tmp_path / "predict.json")
    assert main([toy_bundle, toy_images, "--json", out, "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    with open(out) as handle:
        document = json.load(handle)
    rows = dict((os.path.splitext(os.path.basename(row["file"]))[0], row) for row in document["results"])
    assert sorted(rows) == sorted(COLOURS) and document["unreadable"] == [] and document["score"] is None
    for name, row in rows.items():
        assert row["labels"] == LABELS[name], name
        assert sorted(row["scores"]) == sorted(CLASSES)
        assert all((row["scores"][label] > 0.5) == (label in LABELS[name]) for label in CLASSES), row
        line = next(text for text in printed.splitlines() if os.path.basename(text.split()[0]) == name + ".png")
        assert line.split(None, 1)[1].strip() == (", ".join(LABELS[name]) or "(no label)")


def _tensor(image_bgr, bundle):
    from edge.bundle.preprocess import preprocess

    return preprocess(image_bgr, bundle.spec)[None]


def test_edge_serve_answers_predict_and_kserve_with_the_toy_task(toy_bundle, toy_images):
    import cv2

    from tests.edge.serving import serving

    bundle = Bundle.load(toy_bundle)
    with serving(toy_bundle, model_name="toy") as server:
        for name in sorted(COLOURS):
            with open(os.path.join(toy_images, name + ".png"), "rb") as handle:
                status, _, answer = server.json("POST", "/v1/predict", handle.read(), {"Content-Type": "image/png"})
            assert status == 200, answer
            assert answer["labels"] == LABELS[name] and answer["model"] == "toy", (name, answer)

        image = cv2.imread(os.path.join(toy_images, "yellow.png"))
        batch = _tensor(image, bundle)
        request = {"inputs": [{"name": bundle.input_name, "shape": list(batch.shape), "datatype": "FP32",
                               "data": batch.ravel().tolist()}]}
        status, _, answer = server.json("POST", "/v2/models/toy/infer", json.dumps(request).encode("utf-8"),
                                        {"Content-Type": "application/json"})
        assert status == 200, answer
        output = answer["outputs"][0]
        assert output["name"] == "scores" and output["shape"] == [1, len(CLASSES)]
        channel_means = batch.reshape(1, 3, -1).mean(axis=2)
        assert np.allclose(output["data"], (GAIN * channel_means).ravel(), atol=1e-4)

        request["outputs"] = [{"name": "scores", "parameters": {"classification": 2}}]
        status, _, answer = server.json("POST", "/v2/models/toy/infer", json.dumps(request).encode("utf-8"),
                                        {"Content-Type": "application/json"})
        assert status == 200, answer   # the toy's outputs score its classes: the extension applies
        best_two = [CLASSES[index] for index in np.argsort(-channel_means.ravel())[:2]]
        assert best_two == ["green", "red"]   # yellow: green's normalised channel is the higher
        assert [entry.split(":")[2] for entry in answer["outputs"][0]["data"]] == best_two
