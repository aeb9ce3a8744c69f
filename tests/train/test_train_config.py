"""edge-train's options, from flags or a YAML file, are checked against one table (edge.options.ranges)
before torch is imported: a typo in a config file costs a second, not a minute, and never a traceback."""

import pytest

from edge.errors import EdgeError
from tests.helpers import run_blocked
from train import config as train_config


@pytest.mark.parametrize("yaml_text, message", [
    ("epochs: 0\n", "--epochs (flag or epochs in {path}) must be a whole number from 1 to 100000"),
    ("lr: fast\n", "--lr (flag or lr in {path}) must be a number (peak learning rate), got a string ('fast')"),
    ("batch_size: [8]\n", "--batch-size (flag or batch_size in {path}) must be a whole number"),
    ("hflip: 2\n", "probability of a horizontal flip"),
    ("augment: {rotate: -5}\n", "--rotate (flag or rotate in {path}) must be a number from 0 to 180"),
    ("arch: resnet19\n", "--arch (flag or arch in {path}) must be one of resnet18, resnet34"),
    ("sync_bn: maybe\n", "must be one of auto, on, off, got 'maybe'"),
    ("epochs: 2\nfreeze_epochs: 3\n", "--freeze-epochs must be between 0 and --epochs (2)"),
    ("val_fraction: 1\n", "share of DATA held out for validation"),
])
def test_a_bad_yaml_value_is_named_with_its_range(tmp_path, yaml_text, message):
    path = tmp_path / "train.yaml"
    path.write_text(yaml_text)
    with pytest.raises(EdgeError) as caught:
        train_config.resolve({"data": "d"}, str(path))
    assert message.format(path=path) in str(caught.value)


def test_words_and_numbers_are_resolved_to_their_types():
    config = train_config.resolve({"data": "d", "epochs": "12", "lr": "3e-4", "batch_size": "auto",
                                   "freeze_epochs": "auto", "rotate": "15"})
    assert (config["epochs"], config["lr"], config["batch_size"], config["freeze_epochs"]) == (12, 3e-4, "auto", "auto")
    assert config["augment"]["rotate"] == 15.0
    assert train_config.resolve({"data": "d", "lr": "find"})["lr"] == "find"


def test_the_choices_are_the_models_the_trainer_builds():
    from train.resnet import ARCHS

    assert set(train_config.CHOICES["arch"]) == set(ARCHS)


def test_the_preprocessing_defaults_are_the_bundle_specs_and_written_as_plain_lists():
    from edge.bundle.preprocess import PreprocessSpec

    spec = PreprocessSpec()
    config = train_config.resolve({"data": "d"})
    assert (config["size"], config["size"]) == spec.size
    assert tuple(config["mean"]) == spec.mean and tuple(config["std"]) == spec.std
    assert "mean:\n- 0.485\n" in train_config.dump_yaml(config)   # config.yaml holds lists, not tuples


def test_the_task_words_are_the_registered_tasks_and_their_losses():
    from train import tasks

    assert train_config.choices()["task"] == ("auto", "classification", "regression") == ("auto",) + tasks.names()
    assert train_config.choices()["loss"] == ("auto", "cross_entropy", "smooth_l1", "mse")


def test_a_bad_config_file_is_refused_without_importing_torch(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("epochs: 3\nweight_decay: 5\n")
    done = run_blocked("from train.cli import main; raise SystemExit(main(['data', '--config', {!r}]))".format(
        str(path)), blocked=("torch",))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "edge-train: error: --weight-decay (flag or weight_decay in {}) must be a number from 0 to 1 "
        "(AdamW weight decay), got 5".format(path)]
