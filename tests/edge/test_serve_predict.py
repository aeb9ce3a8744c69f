"""POST /v1/predict with real HTTP clients (curl, urllib) gives what edge-predict gives for the same images,
in the project's result vocabulary; a multipart form works like a plain body."""

import glob
import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from edge.predict import main as predict_main
from tests.edge.serving import serving

CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def expected(export_int8_bundle, export_images, tmp_path_factory):
    """edge-predict's top-1 for every fixture image (runtime auto: the verified INT8 model here)."""
    out = str(tmp_path_factory.mktemp("predict") / "predict.json")
    assert predict_main([export_int8_bundle, export_images, "--json", out, "--threads", "1"]) == 0
    with open(out) as handle:
        return dict((row["file"], row) for row in json.load(handle)["results"])


@pytest.fixture(scope="module")
def server(export_int8_bundle):
    with serving(export_int8_bundle, runtime="auto", precision="auto", model_name="colours") as running:
        yield running


def curl(*argv):
    done = subprocess.run([CURL, "-sS", "--max-time", "60"] + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=90)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.decode("utf-8"))


@pytest.mark.skipif(CURL is None, reason="needs curl (apt install curl)")
def test_curl_gets_edge_predicts_top1_for_every_image(server, expected, export_images):
    url = "http://{}/v1/predict".format(server.address)
    images = sorted(glob.glob(os.path.join(export_images, "*", "*.png")))
    assert len(images) == len(expected) > 0
    for index, path in enumerate(images):
        if index % 2:
            answer = curl("-H", "Content-Type: image/png", "--data-binary", "@" + path, url)
        else:
            answer = curl("-F", "image=@" + path, url + "?top_k=2")
            assert len(answer["top"]) == 2
        assert answer["prediction"] == expected[path]["prediction"], path
        assert answer["confidence"] == pytest.approx(expected[path]["confidence"], abs=1e-5)
        assert answer["top"][0] == {"label": answer["prediction"], "index": answer["top"][0]["index"],
                                    "confidence": answer["confidence"]}
        assert answer["model"] == "colours" and answer["latency_ms"]["batch_size"] >= 1


def test_urllib_with_a_jpeg_body(server, export_images, export_int8_bundle):
    import cv2

    from edge.api import LoadedBundle

    path = sorted(glob.glob(os.path.join(export_images, "red", "*.png")))[0]
    ok, jpeg = cv2.imencode(".jpg", cv2.imread(path), [cv2.IMWRITE_JPEG_QUALITY, 95])
    request = urllib.request.Request("http://{}/v1/predict".format(server.address), data=jpeg.tobytes(),
                                     headers={"Content-Type": "image/jpeg"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        answer = json.loads(response.read().decode("utf-8"))
    with LoadedBundle.load(export_int8_bundle).runner(threads=1) as model:
        reference = model.predict(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    assert answer["prediction"] == reference.prediction == "red"
    assert len(answer["top"]) == 3   # the bundle has 3 classes: top-k stops there
