"""Every edge-* command reports a bad flag as one line on stderr with exit code 2, no usage dump."""

import importlib

import pytest

COMMANDS = [
    ("edge.predict", "edge-predict"),
    ("edge.camera", "edge-camera"),
    ("edge.bench", "edge-bench"),
    ("edge.collect", "edge-collect"),
    ("export.cli", "edge-export"),
    ("edge.tensorrt.cli", "edge-export"),
    ("edge.doctor.cli", "edge-doctor"),
    ("train.cli", "edge-train"),
    ("train.demo", "python -m train.demo"),
]


def _one_line_error(main, argv, prog, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(prog + ": error: ") and "usage:" not in err, err
    return err


@pytest.mark.parametrize("module, prog", COMMANDS)
def test_unknown_flag_is_one_line(module, prog, capsys):
    main = importlib.import_module(module).main
    err = _one_line_error(main, ["--no-such-flag"], prog, capsys)
    # Missing required arguments are reported first where there are some; either way the
    # line points at --help instead of printing the whole usage block.
    assert "unrecognized arguments: --no-such-flag" in err or "the following arguments are required" in err
    assert err.rstrip().endswith("(see {} --help)".format(prog)), err


@pytest.mark.parametrize("module, prog, argv, message", [
    ("edge.predict", "edge-predict", ["b", "i.png", "--runtime", "caffe"], "argument --runtime: invalid choice: 'caffe'"),
    ("edge.bench", "edge-bench", ["b", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ("export.cli", "edge-export", ["m.pt", "--opset", "x"], "argument --opset: invalid int value: 'x'"),
    ("train.cli", "edge-train", ["data", "--arch", "resnet19"], "argument --arch: invalid choice: 'resnet19'"),
    ("train.demo", "python -m train.demo", ["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
])
def test_argparse_errors_keep_their_message_and_point_at_help(module, prog, argv, message, capsys):
    err = _one_line_error(importlib.import_module(module).main, argv, prog, capsys)
    assert message in err and err.rstrip().endswith("(see {} --help)".format(prog)), err


def test_help_still_prints_usage_and_exits_zero(capsys):
    from edge.predict import main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "usage: edge-predict" in capsys.readouterr().out
