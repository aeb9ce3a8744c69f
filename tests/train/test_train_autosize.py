"""Settings chosen from the dataset's size, and BatchNorm re-estimation (small, deterministic)."""

import pytest
import torch
from torch import nn

from edge.errors import EdgeError
from train.autosize import auto_batch_size, auto_epochs, memory_cap, resolve_for_dataset
from train.bn_stats import reestimate_batchnorm, sample_indices


@pytest.mark.parametrize("train_images, batch", [
    (16, 8), (40, 8), (80, 8), (160, 16), (320, 32), (400, 32), (600, 32), (640, 64), (100000, 64)])
def test_the_batch_size_gives_an_epoch_about_ten_steps_within_8_to_64(train_images, batch):
    assert auto_batch_size(train_images, "resnet18", 224)[0] == batch


def test_the_batch_size_is_capped_for_big_models_and_inputs():
    assert memory_cap("resnet18", 224) == 256 and memory_cap("resnet152", 224) == 32
    assert auto_batch_size(100000, "resnet152", 224) == (32, "100000 training images -> 3125 steps an epoch; "
                                                             "capped at 32 for resnet152 at 224 px")
    assert auto_batch_size(100000, "resnet50", 448)[0] == 16
    assert auto_batch_size(100000, "resnet18", 96)[0] == 64


def config(batch_size="auto", bn="auto", epochs=10):
    return {"batch_size": batch_size, "bn_reestimate": bn, "arch": "resnet18", "size": 224, "epochs": epochs,
            "freeze_epochs": 0, "weights": "none"}


def test_auto_values_are_resolved_and_explained_and_an_explicit_batch_size_wins():
    resolved = config()
    lines = resolve_for_dataset(resolved, 160)
    assert (resolved["batch_size"], resolved["bn_reestimate"]) == (16, "on")
    assert lines == ["batch size auto: 16 (160 training images -> 10 steps an epoch)",
                     "BatchNorm statistics re-estimated before each validation: on (10 steps an epoch < 100)"]
    explicit = config(batch_size=64)
    resolve_for_dataset(explicit, 160)
    assert explicit["batch_size"] == 64
    many = config()
    resolve_for_dataset(many, 100000)   # 1563 steps an epoch: the moving average keeps up
    assert (many["batch_size"], many["bn_reestimate"]) == (64, "off")
    forced = config(bn="on")
    assert resolve_for_dataset(forced, 100000) == ["batch size auto: 64 (100000 training images -> 1563 steps an epoch)"]
    assert forced["bn_reestimate"] == "on"


def test_the_reestimation_sample_is_fixed_bounded_shuffled_and_never_ends_on_a_batch_of_one():
    assert sorted(sample_indices(20, 1024, 8, 0)) == list(range(20))
    assert sample_indices(20, 1024, 8, 0) != list(range(20))    # folders list images class by class
    assert len(sample_indices(17, 1024, 8, 0)) == 16            # 17 = 8 + 8 + 1
    sample = sample_indices(5000, 1024, 64, 3)
    assert len(set(sample)) == 1024 and sample == sample_indices(5000, 1024, 64, 3)


def test_batches_of_one_class_each_would_underestimate_the_variance():
    # Why the sample is shuffled: two "classes" far apart, estimated class by class or mixed.
    torch.manual_seed(0)
    layer = nn.BatchNorm1d(1)
    dark, light = torch.randn(32, 1) - 5, torch.randn(32, 1) + 5
    reestimate_batchnorm(layer, [(dark[:16], None), (dark[16:], None), (light[:16], None), (light[16:], None)],
                         torch.device("cpu"))
    assert layer.running_var.item() < 2                      # within-class only
    both = torch.cat([dark, light])[torch.tensor(sample_indices(64, 1024, 16, 0))]
    reestimate_batchnorm(layer, [(both[i:i + 16], None) for i in range(0, 64, 16)], torch.device("cpu"))
    assert layer.running_var.item() > 20                     # the between-class spread (~25) is in it


def test_batchnorm_statistics_are_recomputed_for_the_current_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2))
    batches = [(torch.randn(8, 3, 6, 6) * 3 + 2, torch.zeros(8)) for _ in range(4)]
    model.eval()
    reestimate_batchnorm(model, batches, torch.device("cpu"))
    assert not model.training and [m.momentum for m in model if isinstance(m, nn.BatchNorm2d)] == [0.1, 0.1]
    features = torch.cat([model[0](images) for images, _ in batches])
    expected_mean = features.mean(dim=(0, 2, 3))
    # Average of the per-batch unbiased variances (equal batches): what a cumulative average gives.
    expected_var = torch.stack([model[0](images).transpose(0, 1).reshape(4, -1).var(dim=1)
                                for images, _ in batches]).mean(0)
    assert torch.allclose(model[1].running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(model[1].running_var, expected_var, rtol=1e-4)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    reestimate_batchnorm(model, batches, torch.device("cpu"))   # deterministic, and only the statistics change
    assert torch.allclose(model[1].running_mean, expected_mean, atol=1e-5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


@pytest.mark.parametrize("train_images, batch, epochs", [
    (16, 8, 100), (40, 8, 60), (60, 8, 38), (160, 16, 30), (640, 64, 30), (1437, 64, 14), (1920, 64, 10),
    (100000, 64, 10)])
def test_auto_epochs_from_pretrained_weights_aim_at_about_300_steps_within_10_to_100(train_images, batch, epochs):
    assert auto_epochs(train_images, batch, pretrained=True)[0] == epochs


@pytest.mark.parametrize("train_images, batch, epochs", [
    (40, 8, 100), (120, 8, 67), (160, 16, 100), (640, 64, 100), (1437, 64, 44), (6400, 64, 10), (100000, 64, 10)])
def test_auto_epochs_from_scratch_aim_at_about_1000_steps_within_10_to_100(train_images, batch, epochs):
    assert auto_epochs(train_images, batch, pretrained=False)[0] == epochs


def test_auto_epochs_follow_the_resolved_batch_size_the_start_and_an_explicit_count_wins():
    pretrained = dict(config(), epochs="auto", freeze_epochs=1, weights="earlier/model.pt")
    lines = resolve_for_dataset(pretrained, 40)
    assert (pretrained["batch_size"], pretrained["epochs"]) == (8, 60)
    assert "epochs auto: 60 (5 steps an epoch -> 300 steps)" in lines
    scratch = dict(config(), epochs="auto")
    lines = resolve_for_dataset(scratch, 120)
    assert (scratch["batch_size"], scratch["epochs"]) == (8, 67)
    assert "epochs auto: 67 (15 steps an epoch -> 1005 steps (from scratch))" in lines
    explicit = dict(config(batch_size=40), epochs=3, freeze_epochs=1)
    resolve_for_dataset(explicit, 40)
    assert explicit["epochs"] == 3


def test_freeze_epochs_beyond_the_automatic_count_is_one_line():
    with pytest.raises(EdgeError, match="--freeze-epochs must be between 0 and --epochs"):
        resolve_for_dataset(dict(config(), epochs="auto", freeze_epochs=200), 100000)
