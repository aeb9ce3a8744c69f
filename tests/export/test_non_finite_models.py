"""A model holding NaN or Inf weights is refused wherever a model is loaded: exit code 3, one line naming the
file, the tensor and how many values (edge.bundle.finite). Before, `edge-predict --runtime pytorch` printed nan, exit 0."""

import copy
import os

import numpy as np
import pytest

from edge.errors import EXIT_UNUSABLE
from tests.bundle_fixtures import EXPORT_CLASSES, snapshot


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory, export_model, export_spec):
    import torch

    from train.checkpoint import model_record, save_checkpoint

    model = copy.deepcopy(export_model)
    with torch.no_grad():
        model.fc.weight[1, :5] = float("nan")
        model.layer1[0].conv1.weight[0, 0, 0, 0] = float("inf")
    path = os.path.join(str(tmp_path_factory.mktemp("nan_ckpt")), "model.pt")
    save_checkpoint(path, model_record(model, "resnet18", EXPORT_CLASSES, export_spec))
    return path


def _refusal(err, path):
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines, err
    line = lines[-1]
    assert path in line and "6 non-finite weights (NaN or Inf)" in line, line
    assert "in layer1.0.conv1.weight and 1 more tensor" in line, line  # the first tensor, in the state dict's order
    return line


def test_edge_predict_pytorch_refuses_nan_weights(export_fp32_bundle, nan_checkpoint, export_images, capsys):
    from edge.predict import main

    code = main([export_fp32_bundle, export_images, "--runtime", "pytorch", "--checkpoint", nan_checkpoint])
    out, err = capsys.readouterr()
    assert code == EXIT_UNUSABLE and "nan" not in out.lower(), (code, out)
    _refusal(err, nan_checkpoint)


def test_edge_export_refuses_nan_weights_and_writes_nothing(nan_checkpoint, export_bundle_copy, export_run):
    before = snapshot(export_bundle_copy)
    code, out, err = export_run([nan_checkpoint, "-o", export_bundle_copy, "--verify-count", "2"])
    assert code == EXIT_UNUSABLE and out == "", (code, err)
    _refusal(err, nan_checkpoint)
    assert snapshot(export_bundle_copy) == before


def test_edge_train_resume_refuses_nan_weights(nan_checkpoint, tmp_path, capsys):
    import torch

    from train.cli import main

    record = torch.load(nan_checkpoint, map_location="cpu", weights_only=True)
    record["kind"] = "train-state"  # a last.pt saved after the run diverged
    path = str(tmp_path / "last.pt")
    torch.save(record, path)
    assert main(["--resume", path]) == EXIT_UNUSABLE
    _refusal(capsys.readouterr().err, path)


def test_edge_export_refuses_an_onnx_file_with_inf_weights(tmp_path, export_run):
    import onnx
    from onnx import numpy_helper

    from tests.fakes.tiny_bundle import tiny_model

    model = tiny_model()
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == "fc_w":
            values = numpy_helper.to_array(tensor).copy()
            values[0, :2] = [np.inf, -np.inf]
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, "fc_w"))
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    code, out, err = export_run([path, "--classes", "a,b,c", "-o", str(tmp_path / "bundle")])
    assert code == EXIT_UNUSABLE and not os.path.exists(str(tmp_path / "bundle")), err
    line = err.strip().splitlines()[-1]
    assert path in line and "2 non-finite weights" in line and "2 of 12 values in fc_w" in line, line


def test_the_check_counts_every_tensor_and_skips_integers():
    from edge.errors import Unusable
    from edge.bundle.finite import non_finite, refuse_non_finite

    arrays = [("a", np.ones(3, np.float32)), ("steps", np.array([7], np.int64)),
              ("b", np.array([np.nan, 1.0, np.inf], np.float16)), ("c", np.array([-np.inf]))]
    assert non_finite(arrays) == [("b", 2, 3), ("c", 1, 1)]
    refuse_non_finite("ok.pt", arrays[:2])
    with pytest.raises(Unusable) as refused:
        refuse_non_finite("x.pt", arrays)
    assert str(refused.value).startswith("x.pt holds 3 non-finite weights (NaN or Inf): 2 of 3 values in b and 1 "
                                         "more tensor;"), refused.value


def test_a_plain_state_dict_with_nan_is_refused_by_export_and_as_training_weights(nan_checkpoint, tmp_path,
                                                                                  export_run):
    import torch

    from edge.errors import Unusable
    from train.resnet import load_state_dict_file

    state = torch.load(nan_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    path = str(tmp_path / "resnet18.pth")
    torch.save(state, path)
    code, out, err = export_run([path, "--arch", "resnet18", "--classes", ",".join(EXPORT_CLASSES), "--size", "32",
                                 "-o", str(tmp_path / "bundle")])
    assert code == EXIT_UNUSABLE and not os.path.exists(str(tmp_path / "bundle")), err
    _refusal(err, path)
    with pytest.raises(Unusable, match="6 non-finite weights"):  # edge-train --weights PATH
        load_state_dict_file(path)
