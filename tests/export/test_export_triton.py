"""`edge-export model.pt -o bundle --triton-repo DIR` on the desktop, and `edge-export BUNDLE --triton-repo DIR`.

Every config.pbtxt is parsed with tritonclient's ModelConfig (tests/edge/test_triton_repo.py holds
the helpers and the device-side cases).
"""

import os

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle
from edge.triton.repo import MARKER
from tests.bundle_fixtures import EXPORT_CLASSES
from tests.edge.test_triton_repo import read_lines, repository_configs, tensor


def test_export_writes_the_bundle_and_its_repository(export_run, export_checkpoint, tmp_path):
    bundle_dir, repo = str(tmp_path / "bundle"), str(tmp_path / "triton")
    code, out, err = export_run([export_checkpoint, "-o", bundle_dir, "--dynamic-batch", "4", "--verify-count", "2",
                                 "--triton-repo", repo, "--triton-name", "colours", "--triton-max-delay-us", "500"])
    assert code == 0, err
    # The bundle's table, then the repository's, on stdout; the path said on stderr too.
    assert out.index("model.onnx") < out.index("Triton model repository {}".format(repo))
    assert "wrote the Triton repository {} (1 model)".format(repo) in err
    config, = repository_configs(repo).values()
    assert (config.name, config.platform, config.max_batch_size) == ("colours", "onnxruntime_onnx", 4)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert tensor(config, "input") == ("input", "TYPE_FP32", [3, 32, 32], "")
    assert tensor(config, "output") == ("logits", "TYPE_FP32", [3], "labels.txt")
    assert sha256_file(os.path.join(repo, "colours", "1", "model.onnx")) == Bundle.load(bundle_dir).onnx("fp32")["sha256"]
    assert read_lines(os.path.join(repo, "colours", "labels.txt")) == EXPORT_CLASSES


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
    assert sorted(os.listdir(repo)) == ["bundle", MARKER]      # named after the bundle folder
    code, out, err = export_run([export_bundle_copy, "--triton-repo", repo, "--opset", "17"])
    assert code == 2 and "only apply when exporting from a model" in err
