"""The conventions every command shares: one-line usage errors (exit 2), progress on stderr and
results on stdout, `--json PATH|-`, exit codes from edge.errors, Ctrl-C as 130."""

import importlib
import json
import os
import re
import sys
import types

import pytest

from edge import errors
from tests.bundle_fixtures import write_image_folder
from tests.fakes.tiny_bundle import CLASSES, fixture_path

COMMANDS = [
    ("edge.predict", "edge-predict"),
    ("edge.camera", "edge-camera"),
    ("edge.bench", "edge-bench"),
    ("edge.collect", "edge-collect"),
    ("edge.serve.cli", "edge-serve"),
    ("export.cli", "edge-export"),
    ("edge.export", "edge-export"),
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


# ----------------------------------------------------------------------------- streams, --json, exit codes
# The seven commands (edge-export twice: desktop and device) on a tiny bundle exported from an ONNX
# file (no torch, about a second): results on stdout, progress on stderr as "prog: ...", `--json`
# meaning one thing, every exit code from edge.errors.

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND_FILES = ("edge/cli.py", "edge/predict.py", "edge/bench.py", "edge/camera.py", "edge/collect.py",
                 "edge/doctor/cli.py", "edge/export.py", "export/cli.py", "train/cli.py")
BENCH_FAST = ["--warmup", "0", "--min-time", "0.05", "--min-iters", "3", "--batch", "1"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(bundle folder, class-named image folder): a bundle with a golden set, made without torch."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx", reason="exporting the bundle reads the ONNX file with onnx (desktop)")
    from export.options import ExportOptions
    from export.pipeline import export_bundle

    root = tmp_path_factory.mktemp("conventions")
    bundle = str(root / "bundle")
    export_bundle(fixture_path(), bundle, ExportOptions(classes=",".join(CLASSES), size=[32, 32]),
                  log=lambda text: None)
    images = str(root / "images")
    write_image_folder(images, per_class=2, seed=0, classes=CLASSES)
    return bundle, images


def _run(module, argv, capsys):
    code = importlib.import_module(module).main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _streams_follow_the_convention(prog, out, err):
    """Every stderr line is prefixed progress (or an error); stdout holds results, never progress."""
    assert out.strip(), "no result on stdout"
    unprefixed = [line for line in err.splitlines() if line.strip() and not line.startswith(prog + ": ")]
    assert not unprefixed, unprefixed
    assert not any(line.startswith(prog + ": ") for line in out.splitlines()), out


def _fake_training(monkeypatch, run_training):
    """edge-train with `run_training` in place of train.run's (no torch; train/cli.py is what is tested)."""
    fake = types.ModuleType("train.run")
    fake.run_training = run_training
    monkeypatch.setitem(sys.modules, "train.run", fake)


def _finished_training(config, resume=None, find_lr_only=False, log=None):
    log("training resnet18 on cpu, 1 epochs")
    log("epoch 1/1: val accuracy 1.0000")
    run_dir = config["out"]
    return {"run_dir": run_dir, "accuracy": 1.0, "best_epoch": 1, "seconds": 0.1,
            "paths": {"model": os.path.join(run_dir, "model.pt"), "report": os.path.join(run_dir, "report.md")}}


@pytest.mark.parametrize("command", ["predict", "bench", "doctor", "camera", "collect", "export", "train"])
def test_progress_goes_to_stderr_and_results_to_stdout(command, tiny, tmp_path, monkeypatch, capsys):
    bundle, images = tiny
    module, prog, argv, result = {
        "predict": ("edge.predict", "edge-predict", [bundle, images], "top-1 accuracy"),
        "bench": ("edge.bench", "edge-bench", [bundle, "--runtimes", "onnxruntime"] + BENCH_FAST,
                  "stage breakdown"),
        "doctor": ("edge.doctor.cli", "edge-doctor", [bundle, "--runtimes", "onnxruntime"], "verdict:"),
        "camera": ("edge.camera", "edge-camera", [bundle, "--source", images, "--max-frames", "3", "--jsonl", "-"],
                   '"prediction"'),
        "collect": ("edge.collect", "edge-collect", ["--source", images, "--out", tmp_path / "data", "--label", "up",
                                                     "--count", "1"], "saved 1 image(s)"),
        "export": ("export.cli", "edge-export", [fixture_path(), "--classes", ",".join(CLASSES), "--size", "32",
                                                 "-o", tmp_path / "exported"], "golden set"),
        "train": ("train.cli", "edge-train", [images, "--out", tmp_path / "run"], "best validation accuracy"),
    }[command]
    if command == "train":
        _fake_training(monkeypatch, _finished_training)
    code, out, err = _run(module, argv, capsys)
    assert code in (errors.EXIT_OK, errors.EXIT_SOME_FAILED), err   # doctor: 1 when a check here fails
    assert result in out
    _streams_follow_the_convention(prog, out, err)
    assert err.strip(), "no progress on stderr"


def test_device_edge_export_and_predict_build_engine_show_progress_on_stderr(monkeypatch, tmp_path, capsys):
    from tests.fakes.trt import install
    from tests.fakes.tiny_bundle import write_tiny_bundle

    install(monkeypatch, "8.2", device="nano")
    folder = write_tiny_bundle(tmp_path / "b")
    code, out, err = _run("edge.export", [folder, "--engine", "fp16"], capsys)
    assert code == errors.EXIT_OK and "engine-fp16-" in out
    _streams_follow_the_convention("edge-export", out, err)

    # An engine build takes minutes on a Jetson: edge-predict --build-engine shows each phase as it happens.
    other = write_tiny_bundle(tmp_path / "c")
    images = str(tmp_path / "images")
    write_image_folder(images, per_class=1, seed=0, classes=CLASSES)
    code, out, err = _run("edge.predict", [other, images, "--runtime", "tensorrt", "--build-engine"], capsys)
    assert code == errors.EXIT_OK
    _streams_follow_the_convention("edge-predict", out, err)
    phases = ["building it", "parsing model", "optimizing the fp16 engine", "wrote engine-fp16-", "runtime: tensorrt"]
    positions = [next((i for i, line in enumerate(err.splitlines()) if phase in line), None) for phase in phases]
    assert None not in positions and positions == sorted(positions), err


@pytest.mark.parametrize("module, argv, schema", [
    ("edge.predict", ["{bundle}", "{images}"], "edge-toolkit/predict"),
    ("edge.bench", ["{bundle}", "--runtimes", "onnxruntime"] + BENCH_FAST, "edge-toolkit/bench"),
    ("edge.doctor.cli", ["{bundle}", "--runtimes", "onnxruntime"], "edge-toolkit/doctor"),
])
def test_json_means_a_document_at_path_or_on_stdout_for_dash(module, argv, schema, tiny, tmp_path, capsys):
    bundle, images = tiny
    argv = [arg.format(bundle=bundle, images=images) for arg in argv]
    path = str(tmp_path / "result.json")
    code, out, _ = _run(module, argv + ["--json", path], capsys)
    assert code in (errors.EXIT_OK, errors.EXIT_SOME_FAILED)
    assert "wrote {}".format(path) in out   # the table, then where the document went
    with open(path) as handle:
        written = json.load(handle)
    code, out, _ = _run(module, argv + ["--json", "-"], capsys)
    on_stdout = json.loads(out)             # stdout holds the document and nothing else
    assert written["schema"].startswith(schema) and on_stdout["schema"] == written["schema"]
    assert sorted(on_stdout) == sorted(written)


def test_exit_codes_have_one_table():
    assert (errors.EXIT_OK, errors.EXIT_SOME_FAILED, errors.EXIT_USAGE, errors.EXIT_UNUSABLE,
            errors.EXIT_INTERRUPTED) == (0, 1, 2, 3, 130)
    assert errors.EdgeError.exit_code == errors.EXIT_USAGE and errors.Unusable.exit_code == errors.EXIT_UNUSABLE
    from edge.camera import Unusable as camera_unusable
    from edge.collect import Unusable as collect_unusable
    from export.verify import VerificationFailed
    assert camera_unusable is collect_unusable is errors.Unusable and issubclass(VerificationFailed, errors.Unusable)
    # No command spells an exit code as a number of its own.
    literal = re.compile(r"exit_code\s*=\s*\d|return\s+\d+\s*$|return\s+\d+\s+if|else\s+\d+\s*$")
    for name in COMMAND_FILES:
        with open(os.path.join(ROOT, name)) as handle:
            found = [line.strip() for line in handle if literal.search(line)]
        assert not found, (name, found)
    for package in ("edge", "export", "train"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for file_name in files:
                if file_name.endswith(".py") and file_name != "errors.py":
                    with open(os.path.join(folder, file_name)) as handle:
                        assert not re.search(r"exit_code\s*=\s*\d", handle.read()), file_name


@pytest.mark.parametrize("module, prog", COMMANDS)
def test_ctrl_c_exits_130_with_one_line(module, prog, monkeypatch, capsys):
    loaded = importlib.import_module(module)

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(loaded, "_main", interrupted)
    assert loaded.main([]) == errors.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "{}: interrupted\n".format(prog)


@pytest.mark.parametrize("module", ["export.cli", "edge.export"])
def test_edge_export_handles_sigterm_as_ctrl_c_and_exits_143(module, monkeypatch, capsys):
    import signal
    import time

    loaded = importlib.import_module(module)
    cleaned = []

    def terminated(argv):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here
        finally:
            cleaned.append(True)  # a staging folder's `with` (edge.util.staging) runs its exit here

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(loaded, "_main", terminated)
    assert loaded.main([]) == errors.EXIT_TERMINATED == 143 and cleaned == [True]
    assert capsys.readouterr().err == "edge-export: terminated\n"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the command's only while it runs


def test_edge_train_ctrl_c_keeps_the_resume_line_and_exits_130(tmp_path, monkeypatch, capsys):
    # As train.trainer does: Ctrl-C in an epoch saves last.pt, then says how to resume
    # (tests/train/test_train_run.py interrupts a real run).
    def interrupted_training(config, resume=None, find_lr_only=False, log=None):
        log("training resnet18 on cpu, 3 epochs")
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise errors.EdgeError("interrupted in epoch 2 after 8 of 20 images; resumable state saved: "
                                   "edge-train --resume run/last.pt")

    images = str(tmp_path / "images")
    write_image_folder(images, per_class=1, seed=0, classes=CLASSES)
    _fake_training(monkeypatch, interrupted_training)
    code, out, err = _run("train.cli", [images, "--out", tmp_path / "run"], capsys)
    assert code == errors.EXIT_INTERRUPTED and out == ""
    assert err.splitlines()[-1] == ("edge-train: interrupted in epoch 2 after 8 of 20 images; resumable state "
                                    "saved: edge-train --resume run/last.pt")
