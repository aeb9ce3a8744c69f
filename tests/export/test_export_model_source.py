"""The inputs edge-export accepts besides model.pt: state dicts, pickled modules, TorchScript, ONNX."""

import os

import numpy as np
import pytest

from edge.bundle.bundle import read_manifest
from edge.bundle.preprocess import PreprocessSpec, normalize_batch


def _one_error_line(err):
    """The one error line, last on stderr (progress lines such as "loading ..." may come before it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("edge-export: error: ")]
    assert errors == lines[-1:] and all(line.startswith("edge-export: ") for line in lines), err
    return errors[0]


# These inputs take edge-export's default, fused preprocessing: model.onnx takes the uint8 frames, the PyTorch
# reference their normalised float tensor (the spec of the exports below: ImageNet mean/std, RGB).
PROBE_SPEC = PreprocessSpec(size=32)


def _ort_logits(path, frames):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    batch = frames if model_input.type == "tensor(uint8)" else normalize_batch(frames, PROBE_SPEC)
    return np.concatenate([session.run(None, {model_input.name: batch[i:i + 1]})[0] for i in range(len(batch))])


@pytest.fixture
def export_probe_batch():
    """Three resized uint8 BGR frames."""
    return np.random.RandomState(3).randint(0, 256, (3, 32, 32, 3)).astype(np.uint8)


def _torch_logits(model, frames):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(normalize_batch(frames, PROBE_SPEC))).numpy()


@pytest.mark.parametrize("wrap", ["plain", "state_dict_key", "data_parallel"])
def test_torchvision_state_dict_with_arch_gives_same_logits(export_run, export_model, export_probe_batch,
                                                            tmp_path, wrap):
    import torch

    state = export_model.state_dict()
    if wrap == "state_dict_key":
        state = {"state_dict": state}
    elif wrap == "data_parallel":
        state = {"module." + key: value for key, value in state.items()}
    path = tmp_path / "resnet18_colours.pth"
    torch.save(state, str(path))
    code, out, err = export_run([path, "--arch", "resnet18", "--classes", "blue,green,red", "--size", "32",
                                 "--crop-pct", "0.875", "-o", tmp_path / "b", "--verify-count", "4"])
    assert code == 0, err
    got = _ort_logits(tmp_path / "b" / "model.onnx", export_probe_batch)
    assert np.abs(got - _torch_logits(export_model, export_probe_batch)).max() < 1e-4
    manifest = read_manifest(str(tmp_path / "b"))
    assert manifest["model"]["arch"] == "resnet18"
    assert manifest["model"]["source"]["kind"] == "state_dict"
    assert manifest["input"]["preprocess"]["size"] == [32, 32]


def test_torchvision_keys_fixture_matches_our_resnet18():
    """A real torchvision resnet18 state dict (keys and shapes recorded from torchvision) is accepted."""
    import json

    from train.resnet import build_resnet

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "fixtures", "torchvision_resnet_state_dict.json")) as handle:
        recorded = json.load(handle)["archs"]["resnet18"]
    own = build_resnet("resnet18", 1000).state_dict()
    assert [(key, list(value.shape)) for key, value in own.items()] == [(k, list(s)) for k, s in recorded]


@pytest.mark.parametrize("args, needle", [
    (["--classes", "blue,green,red"], "--arch"),
    (["--arch", "resnet18"], "--classes"),
    (["--arch", "resnet34", "--classes", "blue,green,red"], "does not fit resnet34"),
    (["--arch", "resnet18", "--classes", "a,b"], "3-class head"),
    (["--arch", "resnet18", "--classes", "a,,b"], "empty name"),
    (["--arch", "resnet18", "--classes", "a,b,a"], "twice"),
    (["--arch", "vgg16", "--classes", "a,b,c"], "unknown architecture"),
])
def test_state_dict_errors(export_run, export_model, tmp_path, args, needle):
    import torch

    path = tmp_path / "weights.pth"
    torch.save(export_model.state_dict(), str(path))
    code, out, err = export_run([path, "-o", tmp_path / "b"] + args)
    assert code == 2
    assert needle in _one_error_line(err)
    assert not (tmp_path / "b").exists()


def test_classes_from_labels_file(export_run, export_model, tmp_path):
    import torch

    path = tmp_path / "weights.pth"
    torch.save(export_model.state_dict(), str(path))
    labels = tmp_path / "labels.txt"
    labels.write_text("blue\ngreen\nred\n")
    code, out, err = export_run([path, "--arch", "resnet18", "--classes", labels, "--size", "32",
                                 "-o", tmp_path / "b", "--verify-count", "2"])
    assert code == 0, err
    assert read_manifest(str(tmp_path / "b"))["model"]["classes"] == ["blue", "green", "red"]


def test_pickled_module_needs_trust_pickle(export_run, export_model, export_probe_batch, tmp_path):
    import torch

    path = tmp_path / "whole_model.pt"
    torch.save(export_model, str(path))
    code, out, err = export_run([path, "--classes", "blue,green,red", "--size", "32", "-o", tmp_path / "b"])
    assert code == 2
    assert "--trust-pickle" in _one_error_line(err)
    assert not (tmp_path / "b").exists()

    code, out, err = export_run([path, "--classes", "blue,green,red", "--size", "32", "--trust-pickle",
                                 "-o", tmp_path / "b", "--verify-count", "2"])
    assert code == 0, err
    got = _ort_logits(tmp_path / "b" / "model.onnx", export_probe_batch)
    assert np.abs(got - _torch_logits(export_model, export_probe_batch)).max() < 1e-4
    assert read_manifest(str(tmp_path / "b"))["model"]["source"]["kind"] == "pickled_module"


def test_torchscript_with_classes(export_run, export_model, export_probe_batch, tmp_path):
    import torch

    path = tmp_path / "scripted.pt"
    torch.jit.trace(export_model, torch.zeros(1, 3, 32, 32)).save(str(path))
    code, out, err = export_run([path, "--classes", "a,b", "--size", "32", "-o", tmp_path / "b"])
    assert code == 2
    assert "gives output (1, 3)" in _one_error_line(err)

    code, out, err = export_run([path, "--classes", "blue,green,red", "--size", "32", "-o", tmp_path / "b",
                                 "--verify-count", "3"])
    assert code == 0, err
    got = _ort_logits(tmp_path / "b" / "model.onnx", export_probe_batch)
    assert np.abs(got - _torch_logits(export_model, export_probe_batch)).max() < 1e-4
    manifest = read_manifest(str(tmp_path / "b"))
    assert manifest["model"]["source"]["kind"] == "torchscript"
    assert manifest["verification"]["fp32"]["max_abs_diff"] < 1e-4


def test_onnx_input_records_skipped_verification(export_run, export_fp32_bundle, export_images, tmp_path):
    onnx_path = os.path.join(export_fp32_bundle, "model.onnx")
    code, out, err = export_run([onnx_path, "--classes", "blue,green,red", "--crop-pct", "0.875",
                                 "-o", tmp_path / "b", "--int8", "--calib", export_images,
                                 "--int8-flavors", "ort-qdq-u8s8", "--calib-method", "minmax"])
    assert code == 0, err
    manifest = read_manifest(str(tmp_path / "b"))
    fp32 = manifest["verification"]["fp32"]
    assert fp32["skipped"] is True and "ONNX file" in fp32["reason"]
    assert manifest["input"]["fused_preprocess"] is False           # nothing to wrap: plain, and said once
    assert err.count("an ONNX input keeps its plain float input") == 1
    assert manifest["input"]["preprocess"]["size"] == [32, 32]        # read from the ONNX input
    assert manifest["verification"]["int8"]["ort-qdq-u8s8"]["top1_agreement"] >= 0.98
    with open(onnx_path, "rb") as a, open(str(tmp_path / "b" / "model.onnx"), "rb") as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("args, needle", [
    (["--classes", "a,b"], "3 outputs per image"),
    (["--classes", "a,b,c", "--size", "64"], "takes 32x32 inputs"),
    (["--classes", "a,b,c", "--opset", "17"], "--opset does not apply"),
    (["--classes", "a,b,c", "--fuse-preprocess"], "--fuse-preprocess needs a PyTorch model"),
    (["--classes", "a,b,c", "--dynamic-batch", "4"], "fixed batch of 1"),
    ([], "--classes"),
])
def test_onnx_input_errors(export_run, export_fp32_bundle, tmp_path, args, needle):
    onnx_path = os.path.join(export_fp32_bundle, "model.onnx")
    code, out, err = export_run([onnx_path, "-o", tmp_path / "b"] + args)
    assert code == 2
    assert needle in _one_error_line(err)
    assert not (tmp_path / "b").exists()


def test_not_an_onnx_file(export_run, tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"definitely not protobuf")
    code, out, err = export_run([path, "--classes", "a,b", "-o", tmp_path / "b"])
    assert code == 2
    assert "not a valid ONNX model" in _one_error_line(err)


def test_directory_without_manifest(export_run, tmp_path):
    code, out, err = export_run([tmp_path])
    assert code == 2
    assert "directory without manifest.json" in _one_error_line(err)
