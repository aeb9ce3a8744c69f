"""The Python API's device half: edge.load_bundle, bundle.runner(...).predict, edge.open_source."""

import json
import os

import numpy as np
import pytest

import edge
from edge.tasks.postprocess import Label, Prediction
from edge.errors import EdgeError
from edge.tasks.postprocess import top_k
from edge.sources.base import Frame
from tests.edge.realparts import make_video, needs_ffmpeg
from tests.fakes.tiny_bundle import CLASSES, write_tiny_bundle
from tests import helpers
from tests.helpers import make_shapes_folder, write_png


@pytest.fixture
def bundle_dir(tmp_path):
    pytest.importorskip("onnxruntime", reason="the runner tests run the tiny bundle with ONNX Runtime")
    return write_tiny_bundle(tmp_path / "bundle", qdq=False)


def noisy_image(seed, size=48):
    return np.random.RandomState(seed).randint(0, 256, size=(size, size, 3)).astype(np.uint8)


def test_a_prediction_speaks_the_result_vocabulary():
    top = top_k(np.array([0.1, 0.7, 0.2], np.float32), CLASSES, k=2)
    result = Prediction.from_top(top)
    assert (result.prediction, result.confidence) == ("green", pytest.approx(0.7))
    assert result.top == [Label("green", 1, pytest.approx(0.7)), Label("red", 2, pytest.approx(0.2))]
    assert result.top[0].label == "green" and result.top[1].index == 2
    # The same JSON as edge-predict --json and edge-camera write.
    assert json.loads(json.dumps(result.as_dict())) == {
        "prediction": "green", "confidence": top[0]["confidence"], "top": top}


def test_load_bundle_reads_the_manifest(bundle_dir):
    bundle = edge.load_bundle(bundle_dir)
    assert bundle.classes == CLASSES and list(bundle.spec.size) == [32, 32]
    assert bundle_dir in repr(bundle)
    with pytest.raises(EdgeError, match="not a bundle"):
        edge.load_bundle(os.path.dirname(bundle_dir))


def test_predict_takes_arrays_and_paths_and_agrees_with_the_classifier(bundle_dir, tmp_path):
    from edge.tasks.classifier import Classifier
    from edge.runners.select import make_runner

    images = [noisy_image(seed) for seed in range(3)]
    path = str(tmp_path / "photo.png")
    write_png(path, images[0])
    bundle = edge.load_bundle(bundle_dir)
    with bundle.runner(runtime="onnxruntime", top_k=2) as model:
        assert model.is_active and "onnxruntime" in model.describe()
        one = model.predict(images[0])
        assert model.predict(path) == one   # PNG is lossless: the file is the same pixels
        assert model.predict(tmp_path / "photo.png") == one
        batch = model.predict_batch(images)
        assert set(model.timings) == {"preprocess", "inference", "postprocess"}
    assert batch[0] == one and len(batch) == 3 and len(one.top) == 2
    assert one.prediction in CLASSES and 0.0 < one.confidence <= 1.0
    # The same runner and Classifier as edge-predict: the same numbers.
    runner, _ = make_runner(bundle, "onnxruntime")
    with runner:
        expected = Classifier(bundle, runner, k=2).classify(images)[0]
    assert [result.as_dict()["top"] for result in batch] == expected


def test_leaving_the_block_frees_the_runner(bundle_dir):
    model = edge.load_bundle(bundle_dir).runner(runtime="onnxruntime")
    with pytest.raises(RuntimeError):
        with model:
            runner = model.runner
            assert runner.is_active and runner.session is not None
            raise RuntimeError("the notebook cell failed")
    assert not model.is_active and runner.session is None
    with pytest.raises(EdgeError, match="activated"):
        model.predict(noisy_image(0))


def test_bad_images_and_options_are_one_clear_error(bundle_dir, tmp_path):
    bundle = edge.load_bundle(bundle_dir)
    with pytest.raises(EdgeError, match="unknown --runtime"):
        bundle.runner(runtime="tflite")
    with pytest.raises(EdgeError, match="top_k must be a whole number from 1"):
        bundle.runner(top_k=0)
    with pytest.raises(EdgeError, match="threads must be"):
        bundle.runner(threads="many")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with bundle.runner(runtime="onnxruntime") as model:
        with pytest.raises(EdgeError, match="not found"):
            model.predict(str(tmp_path / "missing.png"))
        with pytest.raises(EdgeError, match="cannot be decoded"):
            model.predict(str(broken))
        with pytest.raises(EdgeError, match="BGR uint8"):
            model.predict(noisy_image(0).astype(np.float32) / 255.0)
        with pytest.raises(EdgeError, match="BGR uint8"):
            model.predict(noisy_image(0)[..., 0])


@pytest.fixture
def folder(tmp_path):
    pytest.importorskip("cv2", reason="the folder source decodes images with OpenCV")
    return make_shapes_folder(tmp_path / "frames", per_class=3, size=24)


def test_open_source_yields_every_frame_of_a_folder_then_closes(folder):
    stream = edge.open_source(folder)
    images = list(stream)
    assert len(images) == 6 and all(image.shape == (24, 24, 3) and image.dtype == np.uint8 for image in images)
    assert stream.closed


@needs_ffmpeg
def test_a_video_file_gives_every_frame_through_the_runner(tmp_path, bundle_dir):
    video = make_video(tmp_path / "clip.mp4", seconds=1, rate=10)
    with edge.load_bundle(bundle_dir).runner(runtime="onnxruntime") as model:
        with edge.open_source(video) as frames:
            results = [model.predict(image) for image in frames]
    assert len(results) == 10 and all(result.prediction in CLASSES for result in results)
    assert frames.closed and frames.frames_dropped == 0


def test_frames_carry_their_index_and_capture_time(folder):
    with edge.open_source(folder) as stream:
        frames = list(stream.frames())
    assert all(isinstance(frame, Frame) for frame in frames)
    assert [frame.index for frame in frames] == sorted(frame.index for frame in frames)


def test_leaving_the_loop_early_closes_the_source(folder):
    with edge.open_source(folder, loop=True) as stream:   # endless: only leaving stops it
        for count, _ in enumerate(stream, 1):
            if count == 3:
                break
        assert stream.closed
    stream = edge.open_source(folder, loop=True)
    iterator = iter(stream)
    next(iterator)
    del iterator   # a loop abandoned without break (an exception in the cell) closes it too
    assert stream.closed


def test_a_timeout_ends_a_source_that_sends_nothing(tmp_path):
    pytest.importorskip("cv2", reason="the folder source decodes images with OpenCV")
    write_png(str(tmp_path / "only" / "one.png"), noisy_image(0))
    # One frame a second: after the first, 0.5 s without a frame ends the loop.
    stream = edge.open_source(str(tmp_path / "only"), loop=True, fps=1, timeout=0.5)
    assert len(list(stream)) == 1 and stream.closed


def test_open_source_checks_everything_before_starting(tmp_path):
    with pytest.raises(EdgeError, match="not a source"):
        edge.open_source("ftp://host/x")
    with pytest.raises(EdgeError, match="--flip"):
        edge.open_source("csi://0", flip=9)
    with pytest.raises(TypeError, match="fsp"):
        edge.open_source("csi://0", fsp=30)
    with pytest.raises(EdgeError, match="timeout"):
        edge.open_source("csi://0", timeout=0)
    with pytest.raises(EdgeError, match="no images"):
        os.makedirs(str(tmp_path / "empty"))
        list(edge.open_source(str(tmp_path / "empty")))


def test_the_api_loads_no_heavy_library_until_it_runs_a_model(tmp_path):
    pytest.importorskip("onnx", reason="the tiny bundle is written with the onnx package")
    bundle_dir = write_tiny_bundle(tmp_path / "bundle", qdq=False)
    blocked = ("torch", "tensorrt", "pycuda", "onnxruntime", "onnx", "cv2")
    result = helpers.run_blocked("import edge\nbundle = edge.load_bundle(sys.argv[1])\n"
                                 "stream = edge.open_source('csi://0')\n"
                                 "print(bundle.classes, sorted(m for m in sys.modules if m.split('.')[0] in {!r}))"
                                 .format(blocked), blocked, args=[bundle_dir])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{} []".format(CLASSES)
