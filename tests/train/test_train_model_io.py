"""ResNet state-dict compatibility with torchvision, and the self-describing checkpoint."""

import json
import os

import pytest
import torch

from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from train.checkpoint import load_checkpoint, model_from_record, model_record, save_checkpoint
from train.resnet import build_resnet, load_backbone_weights

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "torchvision_resnet_state_dict.json")


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_state_dict_keys_and_shapes_match_torchvision(arch):
    # The fixture was read from torchvision 0.29's models.<arch>().state_dict(): order, names, shapes.
    with open(FIXTURE) as handle:
        reference = json.load(handle)["archs"][arch]
    ours = [[key, list(value.shape)] for key, value in build_resnet(arch, 1000).state_dict().items()]
    assert ours == reference


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_the_model_gives_its_layer_groups_every_parameter_once_head_last(arch):
    from train.trainer import layer_groups

    model = build_resnet(arch, 3)
    groups = layer_groups(model)
    assert len(groups) == 5
    ids = [id(p) for group in groups for p in group]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())   # all of them, none twice
    assert [id(p) for p in groups[-1]] == [id(p) for p in model.fc.parameters()]
    assert id(model.conv1.weight) in set(id(p) for p in groups[0])


def test_the_trainer_takes_the_groups_a_model_gives():
    from train.trainer import layer_groups

    class TwoLayers(torch.nn.Module):
        def __init__(self):
            super(TwoLayers, self).__init__()
            self.body, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)

        def layer_groups(self):
            return [[self.body], [self.head]]

    model = TwoLayers()
    assert [[id(p) for p in group] for group in layer_groups(model)] == [
        [id(model.body.weight), id(model.body.bias)], [id(model.head.weight), id(model.head.bias)]]


def test_torchvision_layout_weights_load_strictly_and_keep_new_head(tmp_path):
    donor = build_resnet("resnet18", 1000)
    path = str(tmp_path / "resnet18-imagenet.pth")
    torch.save({"module." + k: v for k, v in donor.state_dict().items()}, path)  # DataParallel prefix
    model = load_backbone_weights(build_resnet("resnet18", 3), "resnet18", path)
    assert torch.equal(model.layer4[1].conv2.weight, donor.layer4[1].conv2.weight)
    assert model.fc.out_features == 3


def test_weights_for_another_arch_are_refused(tmp_path):
    path = str(tmp_path / "r50.pth")
    torch.save(build_resnet("resnet50", 1000).state_dict(), path)
    with pytest.raises(EdgeError, match="do not fit resnet18"):
        load_backbone_weights(build_resnet("resnet18", 3), "resnet18", path)


def test_imagenet_weights_offline_is_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(EdgeError, match="--weights PATH"):
        load_backbone_weights(build_resnet("resnet18", 3), "resnet18", "imagenet")


def test_imagenet_weights_from_the_hub_cache_load_with_a_new_head(hub_cache):
    # What a user with network gets after the first download: torchvision's file in the cache.
    donor = build_resnet("resnet18", 1000)
    torch.save(donor.state_dict(), str(hub_cache / "resnet18-f37072fd.pth"))
    model = load_backbone_weights(build_resnet("resnet18", 3), "resnet18", "imagenet")
    assert torch.equal(model.conv1.weight, donor.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, donor.layer4[1].bn2.running_var)
    assert model.fc.out_features == 3


class _Payload(object):
    def __reduce__(self):
        return (os.mkdir, (_Payload.marker,))


def test_a_tampered_hub_cache_file_is_refused_without_running_it(hub_cache, tmp_path):
    # torch.hub checks the hash only when it downloads; a replaced cache file must not run code.
    _Payload.marker = str(tmp_path / "pwned")
    torch.save({"conv1.weight": _Payload()}, str(hub_cache / "resnet18-f37072fd.pth"))
    with pytest.raises(EdgeError, match="holds pickled objects.*refused for safety"):
        load_backbone_weights(build_resnet("resnet18", 3), "resnet18", "imagenet")
    assert not os.path.exists(_Payload.marker)


def _record():
    torch.manual_seed(0)
    model = build_resnet("resnet18", 3).eval()
    spec = PreprocessSpec(size=(48, 40), resize="stretch", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                          interpolation="area")
    return model, model_record(model, "resnet18", ["cat", "dog", "emu"], spec, metrics={"val": {"accuracy": 0.5}},
                               epoch=4, config={"epochs": 9})


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model, record = _record()
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, record)
    raw = torch.load(path, map_location="cpu", weights_only=True)  # the promise: plain data only
    assert raw["classes"] == ["cat", "dog", "emu"] and raw["arch"] == "resnet18"
    loaded = load_checkpoint(path)
    assert PreprocessSpec.from_dict(loaded["preprocess"]).size == (48, 40)
    assert loaded["metrics"]["val"]["accuracy"] == 0.5 and loaded["epoch"] == 4
    assert set(loaded["versions"]) >= {"torch", "numpy", "python", "edge_toolkit"}
    rebuilt = model_from_record(loaded)
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x))


class Payload(object):
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, record = _record()
    record["metrics"] = Payload()
    torch.save(record, "evil.pt")
    with pytest.raises(EdgeError, match="refused for safety"):
        load_checkpoint("evil.pt")
    assert not os.path.exists("pwned")


def test_foreign_and_damaged_files_get_clear_errors(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(EdgeError, match="not a PyTorch checkpoint"):
        load_checkpoint(str(text))
    plain = str(tmp_path / "plain.pt")
    torch.save(build_resnet("resnet18", 3).state_dict(), plain)
    with pytest.raises(EdgeError, match="--arch and --classes"):
        load_checkpoint(plain)
    _, record = _record()
    record["num_classes"] = 7
    save_checkpoint(str(tmp_path / "bad.pt"), record)
    with pytest.raises(EdgeError, match="damaged"):
        load_checkpoint(str(tmp_path / "bad.pt"))
    with pytest.raises(EdgeError, match="not found"):
        load_checkpoint(str(tmp_path / "missing.pt"))
