"""Every number an edge-* command takes has one range, refused in one line from flags and from YAML."""

import argparse
import importlib

import pytest

from edge.errors import EdgeError
from edge.options.ranges import RANGES, ROWS, check

# Each command with the arguments it needs before options are checked (nothing here exists:
# a range must be refused before any file is opened).
COMMANDS = {
    "edge-predict": ("edge.predict", ["nowhere-bundle", "nowhere.png"]),
    "edge-camera": ("edge.camera", ["nowhere-bundle", "--source", "nowhere.mp4"]),
    "edge-bench": ("edge.bench", ["nowhere-bundle"]),
    "edge-collect": ("edge.collect", ["--source", "nowhere.mp4", "--out", "nowhere", "--label", "a"]),
    "edge-doctor": ("edge.doctor.cli", ["nowhere-bundle"]),
    "edge-serve": ("edge.serve.cli", ["nowhere-bundle"]),
}


def _numeric_flags(module):
    """{dest: flag} of every int/float option of a command's parser."""
    parser = importlib.import_module(module).build_parser()
    return dict((action.dest, action.option_strings[-1]) for action in parser._actions
                if action.option_strings and action.type in (int, float))


def _outside(row):
    """(value below the range, value above it)."""
    low = row.low if row.above else row.low - 1
    return low, row.high + 1


def _cli_cases():
    for prog, (module, base) in sorted(COMMANDS.items()):
        for dest, flag in sorted(_numeric_flags(module).items()):
            for value in _outside(RANGES[dest]) if dest in RANGES else ():
                yield pytest.param(prog, flag, value, id="{} {}={}".format(prog, flag, value))


def test_every_number_of_every_command_has_a_row():
    missing = ["{} {}".format(prog, flag) for prog, (module, _) in sorted(COMMANDS.items())
               for dest, flag in sorted(_numeric_flags(module).items()) if dest not in RANGES]
    assert not missing, "no range in edge.options.ranges for: " + ", ".join(missing)


def _camera_numbers():
    from edge.options.camera_config import CAMERA_OPTIONS

    return [row for row in CAMERA_OPTIONS.rows if row.kind in (int, float)]


def test_every_yaml_number_of_edge_camera_has_a_row():
    numbers = _camera_numbers()
    assert len(numbers) > 20 and sorted(set(row.name for row in numbers) - set(RANGES)) == []
    for row in numbers:
        assert RANGES[row.name].kind is row.kind, row.name


def test_every_edge_camera_config_key_is_a_flag():
    """No config-only keys: each YAML key is documented by its flag's --help (reconnect-max included), and
    each flag but --config and --help is a YAML key."""
    from edge.camera import build_parser
    from edge.options.camera_config import CAMERA_OPTIONS

    dests = set(action.dest for action in build_parser()._actions)
    assert set(CAMERA_OPTIONS.names()) == dests - {"config", "help"}
    assert build_parser().parse_args(["b", "--reconnect-max", "3"]).reconnect_max == 3.0


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_each_row_takes_its_bounds_and_refuses_beyond_them(row):
    if not row.above:
        assert check(row.name, row.low) == row.low
    assert check(row.name, row.high) == row.high
    for value in _outside(row):
        with pytest.raises(EdgeError) as refused:
            check(row.name, value)
        text = str(refused.value)
        assert "\n" not in text and "--" + row.name.replace("_", "-") in text and row.meaning in text, text


@pytest.mark.parametrize("prog, flag, value", list(_cli_cases()))
def test_a_flag_outside_its_range_is_one_line_and_exit_2(prog, flag, value, capsys):
    module, base = COMMANDS[prog]
    code = importlib.import_module(module).main(base + ["{}={}".format(flag, value)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(prog + ": error: "), err
    assert flag in err and "Traceback" not in err, err


def _camera_yaml(tmp_path, capsys, text):
    from edge.camera import main

    path = tmp_path / "edge-camera.yaml"
    path.write_text("bundle: nowhere-bundle\nsource: nowhere.mp4\n" + text)
    code = main(["--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("edge-camera: error: "), err
    return err


def _yaml_cases():
    for name in [row.name for row in _camera_numbers()]:
        for value in _outside(RANGES[name]) if name in RANGES else ():
            yield pytest.param(name, value, id="{}={}".format(name, value))


@pytest.mark.parametrize("name, value", list(_yaml_cases()))
def test_a_yaml_value_outside_its_range_is_one_line_and_exit_2(name, value, tmp_path, capsys):
    err = _camera_yaml(tmp_path, capsys, "{}: {}\n".format(name.replace("_", "-"), value))
    assert name.replace("_", "-") in err and "edge-camera.yaml" in err, err


@pytest.mark.parametrize("text, message", [
    ("threads: 100000\n", "threads in {config} must be a whole number from 1 to 256"),
    ("threads: four\n", "threads in {config} must be a whole number (CPU threads for ONNX Runtime / PyTorch), "
                        "got a string ('four')"),
    ("log-every: [1, 2]\n", "log-every in {config} must be a number (seconds between status lines), got a list"),
    ("heartbeat: true\n", "heartbeat in {config} must be a number"),
    ("source: [video]\n", "source in {config} must be a string (a URI), got a list"),
    ("bundle: {a: 1}\n", "bundle in {config} must be a string (the bundle folder), got a mapping"),
    ("loop: 3\n", "loop in {config} must be true or false, got a number (3)"),
])
def test_a_yaml_value_of_the_wrong_type_names_the_type(text, message, tmp_path, capsys):
    err = _camera_yaml(tmp_path, capsys, text)
    assert message.format(config=tmp_path / "edge-camera.yaml") in err, err


def test_the_issue_s_examples_are_refused_by_name(capsys):
    from edge.camera import main as camera
    from edge.predict import main as predict

    for argv in (["--threads", "100000"], ["--threads=-2"], ["--log-every", "0"], ["--log-every=-5"],
                 ["--stall-timeout=-1"], ["--heartbeat=-1"]):
        assert camera(COMMANDS["edge-camera"][1] + argv) == 2
        err = capsys.readouterr().err
        assert argv[0].split("=")[0] + " must be" in err, err
    assert predict(COMMANDS["edge-predict"][1] + ["--threads", "100000"]) == 2
    assert "--threads must be a whole number from 1 to 256" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["width", "height", "fps", "flip", "latency"])
def test_a_source_setting_is_checked_against_its_row_wherever_it_comes_from(name):
    """edge.sources.uri (open_source, the API) states no limits of its own: the row is the one home."""
    from edge.sources.uri import parse_source

    row = RANGES[name]
    assert parse_source("csi://0", **{name: row.high}).options[name] == row.high
    for value in _outside(row):
        with pytest.raises(EdgeError) as refused:
            parse_source("csi://0", **{name: value})
        assert row.meaning in str(refused.value) and row.describe() in str(refused.value)


def test_threads_help_states_the_range():
    from edge.options.runner_args import add_runner_arguments

    parser = argparse.ArgumentParser()
    add_runner_arguments(parser)
    assert "from 1 to 256" in parser.format_help()
