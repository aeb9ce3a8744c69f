"""Regression with --tta: each view's points brought back through its inverse before averaging, and
edge-serve answering a regression bundle with points in pixels of the image it was sent."""

import json
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.preprocess import PreprocessSpec
from edge.tasks.points import RegressionTargets, to_model_units
from edge.tasks.regressor import Regressor
from edge.tasks.tta import DihedralViews, dihedral
from tests.edge.serving import serving
from tests.helpers import spot_image


class SpotFinder(object):
    """A 'model' that finds the brightest pixel of each input (NCHW float) and answers it in model units:
    equivariant by construction, as a perfectly trained point model is."""

    def __init__(self, spec):
        self.spec, self.calls = spec, 0

    def infer(self, batch):
        self.calls += 1
        rows = []
        for chw in batch:
            y, x = np.unravel_index(int(np.argmax(chw.sum(axis=0))), chw.shape[1:])
            rows.append(to_model_units([x, y], chw.shape[1:], self.spec))
        return np.array(rows, dtype=np.float32)


class FixedAnswer(object):
    """A 'model' that answers the same point, in model units, whatever it is shown."""

    def __init__(self, units):
        self.units, self.calls = np.asarray(units, dtype=np.float32), 0

    def infer(self, batch):
        self.calls += 1
        return np.tile(self.units, (len(batch), 1))


def bundle_like(size=32):
    spec = PreprocessSpec(size=size, resize="stretch", crop_pct=1.0)
    return SimpleNamespace(targets=RegressionTargets(["x", "y"]), classes=["x", "y"], spec=spec,
                           fused_preprocess=False), spec


def one_bright_pixel(x, y, size=32):
    image = np.zeros((size, size, 3), np.uint8)
    image[y, x] = 255
    return image


@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_an_equivariant_model_gives_the_same_point_with_every_view(mode):
    bundle, spec = bundle_like()
    image = one_bright_pixel(9, 22)
    runner = SpotFinder(spec)
    plain, _ = Regressor(bundle, runner).regress([image])
    views = DihedralViews(mode, spec.size)
    averaged, _ = Regressor(bundle, runner, views=views).regress([image])
    assert runner.calls == 2                               # the views ran as one batch
    np.testing.assert_allclose(averaged[0], plain[0], atol=1e-6)
    np.testing.assert_allclose(plain[0], [9, 22], atol=1e-6)


def test_each_view_is_mapped_back_before_averaging():
    # A model that always answers the input's top-left corner: mapped back, the 8 views' corners are the
    # image's 4 corners, twice each, so the average is the image's centre, not the top-left corner.
    bundle, spec = bundle_like()
    corner = to_model_units([0, 0], (32, 32), spec)
    points, _ = Regressor(bundle, FixedAnswer(corner), views=DihedralViews("d4", spec.size)).regress(
        [np.zeros((32, 32, 3), np.uint8)])
    np.testing.assert_allclose(points[0], [15.5, 15.5], atol=1e-6)
    mirrored, _ = Regressor(bundle, FixedAnswer(corner), views=DihedralViews("hflip", spec.size)).regress(
        [np.zeros((32, 32, 3), np.uint8)])
    np.testing.assert_allclose(mirrored[0], [15.5, 0], atol=1e-6)     # x: 0 and 31 averaged; y unmoved


def test_the_views_are_the_image_transforms_of_edge_tta():
    bundle, spec = bundle_like()
    image = spot_image(32, 32, 5, 12, seed=2)
    seen = []

    class Recording(object):
        def infer(self, batch):
            seen.append(batch)
            return np.zeros((len(batch), 2), np.float32)

    Regressor(bundle, Recording(), views=DihedralViews("d4", spec.size)).regress([image])
    plain = seen[0][0]
    for k in range(8):
        np.testing.assert_array_equal(seen[0][k], dihedral(plain, k, (1, 2)))


def test_edge_serve_answers_a_regression_bundle_in_pixels_of_the_image_sent(regression_bundle, tmp_path):
    import cv2

    from edge.api import LoadedBundle

    image = spot_image(40, 48, 30, 11, seed=7)
    ok, png = cv2.imencode(".png", image)
    bundle = Bundle.load(regression_bundle)
    with serving(regression_bundle) as server:
        request = urllib.request.Request("http://{}/v1/predict".format(server.address), data=png.tobytes(),
                                         headers={"Content-Type": "image/png"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read().decode("utf-8"))
        status, _, refused = server.json("POST", "/v2/models/model/infer", json.dumps({
            "inputs": [{"name": bundle.input_name, "datatype": "UINT8",   # fused, edge-export's default: frames
                        "shape": [1, 32, 32, 3], "data": [0] * (3 * 32 * 32)}],
            "outputs": [{"name": bundle.output_name, "parameters": {"classification": 2}}]}).encode("utf-8"),
            {"Content-Type": "application/json"})
    with LoadedBundle.load(regression_bundle).runner(runtime="onnxruntime", precision="fp32", threads=1) as model:
        reference = model.predict(image)
    assert answer["image"] == {"width": 48, "height": 40} and answer["model"] == "model"
    assert answer["values"]["x"] == pytest.approx(reference.values["x"], abs=0.01)
    assert answer["values"]["y"] == pytest.approx(reference.values["y"], abs=0.01)
    assert status == 400 and "classification extension needs a classifier" in refused["error"]
