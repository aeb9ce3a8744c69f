"""train.fit: edge-train's options as keywords, resolved and run by the functions edge-train calls."""

import json
import os

import pytest

import train
from edge.errors import EdgeError
from tests import helpers
from train import api
from train import cli
from train import config as train_config


def test_import_train_is_cheap_and_fit_checks_options_before_torch():
    result = helpers.run_blocked("import train\ntry:\n    train.fit('data', epocs=3)\nexcept TypeError as exc:\n"
                                 "    print(exc)", ("torch",))
    assert result.returncode == 0, result.stderr
    assert "unknown option(s) epocs" in result.stdout and "epochs" in result.stdout


def test_every_flag_that_configures_a_run_is_an_option():
    # and the options a YAML file alone sets (mean, std) too
    assert {"mean", "std", "augment"} <= set(api.option_names())
    assert set(cli.flags_from_args(cli.build_parser().parse_args(["data"]))) - {"data"} <= set(api.option_names())


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """run_training replaced by a recorder that writes a metrics.json; returns the configs it was given."""
    calls = []

    def run_training(config, resume=None, find_lr_only=False, log=print):
        calls.append((config, resume))
        run_dir = str(tmp_path / "run")
        os.makedirs(run_dir)
        paths = {"model": os.path.join(run_dir, "model.pt"), "metrics": os.path.join(run_dir, "metrics.json")}
        with open(paths["metrics"], "w") as handle:
            json.dump({"accuracy": 0.75, "best_epoch": 2, "classes": ["a", "b"]}, handle)
        return {"run_dir": run_dir, "paths": paths, "accuracy": 0.75, "best_epoch": 2, "seconds": 1.5}

    import train.run
    monkeypatch.setattr(train.run, "run_training", run_training)
    return calls


def test_fit_resolves_options_as_edge_train_resolves_its_flags(recorded, tmp_path):
    config_file = tmp_path / "base.yaml"
    config_file.write_text("epochs: 7\nsize: 64\n")
    run = train.fit("data/x", config=str(config_file), size=32, batch_size=8, hflip=0.0, d4=True)
    argv = ["data/x", "--config", str(config_file), "--size", "32", "--batch-size", "8", "--hflip", "0", "--d4"]
    args = cli.build_parser().parse_args(argv)
    assert recorded == [(train_config.resolve(cli.flags_from_args(args), args.config), None)]
    assert run.run_dir == str(tmp_path / "run") and run.model_path.endswith("model.pt")
    assert (run.accuracy, run.best_epoch, run.classes, run.seconds) == (0.75, 2, ["a", "b"], 1.5)
    assert run.metrics["accuracy"] == 0.75 and "accuracy=0.7500" in repr(run)


def test_fit_resumes_a_run_exactly_as_configured(recorded):
    train.fit(resume="runs/x/last.pt")
    assert recorded == [(None, "runs/x/last.pt")]
    with pytest.raises(EdgeError, match="resume continues a run"):
        train.fit("data/x", resume="runs/x/last.pt")
    with pytest.raises(EdgeError, match="resume continues a run"):
        train.fit(resume="runs/x/last.pt", epochs=3)


def test_fit_keeps_an_earlier_run_unless_told(recorded, tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "last.pt").write_bytes(b"")
    with pytest.raises(EdgeError, match="already holds a run.*overwrite=True"):
        train.fit("data/x", out=str(out))
    assert recorded == []
    train.fit("data/x", out=out, overwrite=True)      # a pathlib.Path is recorded as its str
    assert recorded[0][0]["out"] == str(out)


def test_bad_values_are_one_clear_error(recorded):
    with pytest.raises(EdgeError, match="augment"):
        train.fit("data/x", augment=["hflip"])
    with pytest.raises(EdgeError, match="unknown augment option"):
        train.fit("data/x", augment={"hlfip": 0.5})
