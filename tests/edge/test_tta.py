"""edge.tasks.tta: the 8 dihedral transforms, their inverses on images and points, and test-time augmentation
through a runner (one call, probabilities averaged, the engine's batch range respected)."""

import itertools

import numpy as np
import pytest

from edge.bundle.bundle import Bundle, new_manifest
from edge.tasks.classifier import Classifier
from edge.errors import EdgeError
from edge.tasks.postprocess import softmax
from edge.bundle.preprocess import PreprocessSpec, preprocess_batch
from edge.runners.base import Runner
from edge.tasks.tta import (MODES, TRANSFORMS, DihedralViews, check_mode, dihedral, dihedral_points, inverse, mean_points,
                      transformed_size, undo_dihedral_points)

# Square and non-square, odd and even sides.
SIZES = [(5, 5), (6, 6), (4, 7), (7, 4), (3, 8), (9, 2)]


def _image(size, channels=3, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=tuple(size) + (channels,)).astype(np.uint8)


# ----------------------------------------------------------------------------- images

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("k", TRANSFORMS)
def test_each_transform_is_undone_exactly_by_its_inverse(size, k):
    image = _image(size, seed=k)
    moved = dihedral(image, k)
    assert moved.shape[:2] == transformed_size(size, k) and moved.flags["C_CONTIGUOUS"]
    assert np.array_equal(dihedral(moved, inverse(k)), image)
    assert np.array_equal(dihedral(dihedral(image, inverse(k)), k), image)


@pytest.mark.parametrize("size", SIZES)
def test_batches_transform_every_image_alike_in_either_layout(size):
    frames = np.stack([_image(size, seed=seed) for seed in range(3)])                # N x H x W x 3 (fused)
    nchw = np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).astype(np.float32)     # N x 3 x H x W (float)
    for k in TRANSFORMS:
        expected = np.stack([dihedral(frame, k) for frame in frames])
        assert np.array_equal(dihedral(frames, k, axes=(1, 2)), expected)
        assert np.array_equal(dihedral(nchw, k, axes=(2, 3)), expected.transpose(0, 3, 1, 2))


def test_the_eight_transforms_are_distinct_and_closed_under_composition():
    image = _image((6, 6))
    variants = [dihedral(image, k) for k in TRANSFORMS]
    assert len(set(v.tobytes() for v in variants)) == 8
    for first, second in itertools.product(TRANSFORMS, TRANSFORMS):
        composed = dihedral(dihedral(image, first), second)
        assert sum(np.array_equal(composed, v) for v in variants) == 1
    assert np.array_equal(dihedral(image, 0), image)
    assert np.array_equal(dihedral(image, 4), image[:, ::-1])               # 4 is the left-right mirror


def test_a_transform_outside_0_to_7_is_refused():
    for k in (-1, 8, True, 2.5):
        with pytest.raises(ValueError):
            dihedral(_image((4, 4)), k)


# ----------------------------------------------------------------------------- points

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("k", TRANSFORMS)
def test_points_move_with_the_pixels(size, k):
    """A pixel's centre (c + 0.5, r + 0.5) lands where dihedral puts that pixel, and comes back."""
    height, width = size
    for row, column in itertools.product(range(height), range(width)):
        image = np.zeros((height, width), np.uint8)
        image[row, column] = 1
        (new_row, new_column), = np.argwhere(dihedral(image, k))
        centre = [column + 0.5, row + 0.5]
        assert np.allclose(dihedral_points(centre, k, size), [new_column + 0.5, new_row + 0.5])
        assert np.allclose(undo_dihedral_points([new_column + 0.5, new_row + 0.5], k, size), centre)


@pytest.mark.parametrize("size", [(1.0, 1.0), (480.0, 640.0), (640, 480), (37, 11)])
@pytest.mark.parametrize("k", TRANSFORMS)
def test_points_round_trip_anywhere_in_the_image(size, k):
    rng = np.random.RandomState(k)
    points = rng.uniform(0, 1, size=(5, 3, 2)) * [size[1], size[0]]     # (x, y) anywhere in 0..width x 0..height
    corners = np.array([[0, 0], [size[1], 0], [0, size[0]], [size[1], size[0]]], dtype=np.float64)
    for batch in (points, corners):
        moved = dihedral_points(batch, k, size)
        assert moved.shape == batch.shape
        assert np.allclose(undo_dihedral_points(moved, k, size), batch)
        assert np.allclose(dihedral_points(undo_dihedral_points(batch, k, transformed_size(size, k)), k,
                                           transformed_size(size, k)), batch)
    # Corners stay corners: the transformed image spans 0..its width x 0..its height.
    new_height, new_width = transformed_size(size, k)
    assert (sorted(map(tuple, dihedral_points(corners, k, size).tolist()))
            == sorted([(0.0, 0.0), (new_width, 0.0), (0.0, new_height), (new_width, new_height)]))


@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_mean_points_brings_every_view_back_before_averaging(mode):
    size = (64, 64)
    views = DihedralViews(mode, size).views
    truth = np.array([[[10.0, 20.0], [50.5, 3.25]], [[32.0, 32.0], [0.0, 64.0]]])      # 2 images, 2 points each
    seen = np.stack([dihedral_points(truth, k, size) for k in views], axis=1)         # what each view shows
    assert np.allclose(mean_points(seen, views, size), truth)
    # A model that reads every view 1 px too far right: the mirror's error points the other way in the image,
    # so hflip and d4 cancel it; a 1 px error downwards cancels only over d4's rotations.
    right = mean_points(seen + [1.0, 0.0], views, size)
    assert np.allclose(right, truth)
    down = mean_points(seen + [0.0, 1.0], views, size)
    assert np.allclose(down, truth + ([0.0, 1.0] if mode == "hflip" else [0.0, 0.0]))


def test_views_mean_points_takes_the_runners_flat_outputs():
    size = (32, 48)
    views = DihedralViews("hflip", size)
    truth = np.array([[[5.0, 7.0]], [[40.0, 30.0]]])
    flat = np.stack([dihedral_points(truth, k, size) for k in views.views], axis=1).reshape(4, 1, 2)
    assert np.allclose(views.mean_points(flat), truth)
    normalised = truth / [48.0, 32.0]
    flat = np.stack([dihedral_points(normalised, k, (1, 1)) for k in views.views], axis=1).reshape(4, 1, 2)
    assert np.allclose(views.mean_points(flat, size=(1, 1)), normalised)
    with pytest.raises(ValueError):
        mean_points(np.zeros((2, 3, 2)), views.views, size)


# ----------------------------------------------------------------------------- modes

def test_modes_and_their_views():
    assert MODES == ("none", "hflip", "d4")
    assert DihedralViews("none", (8, 8)).views == (0,) and DihedralViews("hflip", (8, 8)).views == (0, 4)
    assert DihedralViews("d4", (8, 8)).views == tuple(range(8))


def test_d4_on_a_non_square_input_is_refused_and_hflip_keeps_its_shape():
    with pytest.raises(EdgeError) as refused:
        DihedralViews("d4", (32, 48))
    assert "square" in str(refused.value) and "--tta hflip" in str(refused.value) and "\n" not in str(refused.value)
    batch = np.random.RandomState(0).rand(2, 3, 32, 48).astype(np.float32)
    expanded = DihedralViews("hflip", (32, 48)).expand(batch)
    assert expanded.shape == (4, 3, 32, 48)
    assert np.array_equal(expanded[1], batch[0][:, :, ::-1]) and np.array_equal(expanded[2], batch[1])
    with pytest.raises(EdgeError, match="--tta must be one of none, hflip, d4"):
        check_mode("d8")


# ----------------------------------------------------------------------------- through a runner

CLASSES = ["a", "b", "c"]


class CountingRunner(Runner):
    """Logits that depend on where the picture's mass lies (so a view's orientation matters), one record per call."""

    name = "counting"

    def __init__(self, limit=None):
        super(CountingRunner, self).__init__()
        self.calls = []
        self.limit = limit

    def _activate_impl(self):
        pass

    def _deactivate_impl(self):
        pass

    def batch_limit(self):
        return self.limit

    def _infer_impl(self, batch):
        self.calls.append(batch.shape)
        return logits_of(batch, fused=batch.dtype == np.uint8)


def logits_of(batch, fused=False):
    images = batch.astype(np.float64)
    if fused:
        images = images.transpose(0, 3, 1, 2) / 64.0
    height, width = images.shape[2:]
    top = images[:, :, :height // 2].mean(axis=(1, 2, 3))
    left = images[:, :, :, :width // 2].mean(axis=(1, 2, 3))
    corner = images[:, :, :height // 2, :width // 2].mean(axis=(1, 2, 3))
    return (np.stack([top, left, corner], axis=1) * 3.0).astype(np.float32)


def _bundle(size=8, fused=False):
    spec = PreprocessSpec(size=size, resize="stretch")
    manifest = new_manifest("tiny", CLASSES, spec, "input", "logits", batch=(1, 8, 8),
                            fused_preprocess={"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"} if fused
                            else False)
    return Bundle("/nowhere", manifest)


@pytest.mark.parametrize("fused", [False, True], ids=["float", "fused-uint8"])
@pytest.mark.parametrize("mode", ["hflip", "d4"])
def test_the_views_of_a_batch_go_to_the_runner_in_one_call(fused, mode):
    bundle = _bundle(fused=fused)
    views = DihedralViews.for_bundle(bundle, mode)
    runner = CountingRunner()
    images = [_image((8, 8), seed=seed) for seed in range(3)]
    with runner:
        results, timings = Classifier(bundle, runner, k=3, views=views).classify(images)
    assert len(runner.calls) == 1 and runner.calls[0][0] == 3 * views.count
    prepared = preprocess_batch(images, bundle.spec, fused)
    axes = (1, 2) if fused else (2, 3)
    for image_index, result in enumerate(results):
        per_view = [softmax(logits_of(dihedral(prepared[image_index:image_index + 1], k, axes), fused))[0]
                    for k in views.views]
        expected = np.mean(per_view, axis=0)
        assert result[0]["index"] == int(np.argmax(expected))
        assert [item["confidence"] for item in result] == [round(float(p), 6) for p in np.sort(expected)[::-1]]
        assert set(result[0]) == {"label", "index", "confidence"}
    assert set(timings) == {"preprocess", "inference", "postprocess"}


def test_no_views_is_the_plain_classifier():
    bundle = _bundle()
    images = [_image((8, 8), seed=seed) for seed in range(2)]
    with CountingRunner() as runner:
        plain, _ = Classifier(bundle, runner).classify(images)
        none, _ = Classifier(bundle, runner, views=DihedralViews.for_bundle(bundle, "none")).classify(images)
    assert plain == none and [shape[0] for shape in runner.calls] == [2, 2]


def test_probabilities_are_averaged_not_logits():
    """Two views that disagree: the mean of the logits favours class 2, the mean of the probabilities class 0."""
    logits = np.array([[6.0, 0.0, 4.5], [0.0, 5.5, 4.5]], dtype=np.float32)     # one image, hflip's 2 views
    probabilities = DihedralViews("hflip", (8, 8)).mean_probabilities(logits)
    assert probabilities.shape == (1, 3) and np.allclose(probabilities.sum(), 1.0)
    assert np.allclose(probabilities[0], softmax(logits).mean(axis=0))
    assert np.argmax(probabilities[0]) == 0 and np.argmax(logits.mean(axis=0)) == 2


def test_describe_says_the_cost_and_the_chunks():
    views = DihedralViews("d4", (8, 8))
    assert "8 views" in views.describe() and "8x the compute" in views.describe()
    assert "chunks of 4" in views.describe(batch_limit=4) and "chunks" not in views.describe(batch_limit=8)
    assert views.label("onnxruntime-cpu fp32") == "onnxruntime-cpu fp32, tta d4"
    assert DihedralViews("none", (8, 8)).label("x") == "x"


def test_a_tensorrt_engine_smaller_than_the_views_runs_them_in_chunks(monkeypatch, tmp_path):
    """An engine whose profile takes at most 4: the 8 views of 3 images are one infer() call, run in chunks of
    4, and the averaged probabilities are those of the model on every view."""
    from edge.runners.tensorrt.runner import TensorRTRunner
    from edge.tensorrt.engines import add_engines
    from tests.fakes.tiny_bundle import tiny_logits, write_tiny_bundle
    from tests.fakes.trt import install

    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, batch=(1, 2, 4))
    trt = install(monkeypatch, "8.6", device="orin")
    add_engines(folder, ["fp32"], log=lambda text: None)
    bundle = Bundle.load(folder)
    views = DihedralViews.for_bundle(bundle, "d4")
    images = [_image((40, 40), seed=seed) for seed in range(3)]
    with TensorRTRunner(bundle) as runner:
        executions = []
        chunk = runner._infer_chunk
        monkeypatch.setattr(runner, "_infer_chunk", lambda batch: executions.append(len(batch)) or chunk(batch))
        assert runner.batch_limit() == 4 and "chunks of 4" in views.describe(runner.batch_limit())
        results, _ = Classifier(bundle, runner, k=3, views=views).classify(images)
    assert executions == [4] * 6
    expanded = views.expand(preprocess_batch(images, bundle.spec))
    expected = softmax(tiny_logits(expanded)).reshape(3, 8, 3).mean(axis=1)
    for result, row in zip(results, expected):
        assert result[0]["index"] == int(np.argmax(row))
        assert np.allclose([item["confidence"] for item in result], np.sort(row)[::-1], atol=1e-5)
    assert trt.fake_memory.live() == []
