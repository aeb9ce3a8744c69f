"""`edge-export model.pt -o bundle --triton-repo DIR` on the desktop, and `edge-export BUNDLE --triton-repo DIR`.

Every config.pbtxt is parsed with tritonclient's ModelConfig (tests/edge/test_triton_repo.py holds
the helpers and the device-side cases).
"""

import os

import numpy as np

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle
from edge.triton.repo import MARKER
from tests.bundle_fixtures import EXPORT_CLASSES
from tests.edge.test_triton_repo import input_format, read_lines, repository_configs, tensor


def test_export_writes_the_bundle_and_its_repository(export_run, export_checkpoint, tmp_path):
    bundle_dir, repo = str(tmp_path / "bundle"), str(tmp_path / "triton")
    code, out, err = export_run([export_checkpoint, "-o", bundle_dir, "--dynamic-batch", "4", "--verify-count", "2",
                                 "--triton-repo", repo, "--triton-name", "colours", "--triton-max-delay-us", "500"])
    assert code == 0, err
    # The bundle's table, then the repository's, on stdout; the path said on stderr too.
    assert out.index("model.onnx") < out.index("Triton model repository {}".format(repo))
    assert "wrote the Triton repository {} (2 models)".format(repo) in err
    configs = repository_configs(repo)
    assert sorted(configs) == ["colours", "colours_image"]
    config = configs["colours"]
    assert (config.name, config.platform, config.max_batch_size) == ("colours", "onnxruntime_onnx", 4)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    # The default export is fused: the model takes BGR uint8 frames; its float-pixel family (TensorRT 8.2's) is
    # not served.
    assert tensor(config, "input") == ("input", "TYPE_UINT8", [32, 32, 3], "") and input_format(config) == "FORMAT_NHWC"
    assert Bundle.load(bundle_dir).artifact("onnx", file="model.pixels.onnx") is not None
    image = configs["colours_image"]
    assert tensor(image, "input") == ("input", "TYPE_UINT8", [32, 32, 3], "") and input_format(image) == "FORMAT_NHWC"
    assert (image.max_batch_size, image.dynamic_batching.max_queue_delay_microseconds) == (4, 500)
    assert tensor(config, "output") == ("logits", "TYPE_FP32", [3], "labels.txt")
    assert sha256_file(os.path.join(repo, "colours", "1", "model.onnx")) == Bundle.load(bundle_dir).onnx("fp32")["sha256"]
    assert read_lines(os.path.join(repo, "colours", "labels.txt")) == EXPORT_CLASSES
    # The twin only reverses the channels in front of the fused graph: RGB pixels in, the BGR model's logits out.
    frames = np.random.RandomState(5).randint(0, 256, size=(4, 32, 32, 3)).astype(np.uint8)   # BGR
    want = _run(os.path.join(repo, "colours", "1", "model.onnx"), frames)
    got = _run(os.path.join(repo, "colours_image", "1", "model.onnx"), np.ascontiguousarray(frames[..., ::-1]))
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))
    assert np.abs(_run(os.path.join(repo, "colours_image", "1", "model.onnx"), frames) - want).max() > 1e-3  # not BGR


def _run(path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": inputs})[0]


def test_a_refused_repository_folder_stops_the_export_before_it_starts(export_run, export_checkpoint, tmp_path,
                                                                       monkeypatch):
    import export.model_source

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the --triton-repo check")

    monkeypatch.setattr(export.model_source, "load_source", must_not_load)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "other-model").mkdir()
    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "bundle", "--triton-repo", taken])
    assert code == 2 and err.count("\n") == 1
    assert "is not a Triton repository edge-export wrote" in err
    assert sorted(os.listdir(str(tmp_path))) == ["taken"] and os.listdir(str(taken)) == ["other-model"]


def test_a_bundle_input_writes_the_repository_alone(export_run, export_bundle_copy, tmp_path):
    repo = str(tmp_path / "triton")
    code, out, err = export_run([export_bundle_copy, "--triton-repo", repo])
    assert code == 0, err
    assert sorted(os.listdir(repo)) == ["bundle", "bundle_image", MARKER]      # named after the bundle folder
    code, out, err = export_run([export_bundle_copy, "--triton-repo", repo, "--opset", "17"])
    assert code == 2 and "only apply when exporting from a model" in err
