"""INT8 calibration reports its progress where stderr is not a terminal (edge.util.progress)."""

import os
import re

from edge.util.progress import INTERVAL_VARIABLE


def test_int8_calibration_prints_plain_progress_lines(export_checkpoint, export_images, tmp_path, monkeypatch,
                                                      capsys):
    from export.cli import main

    monkeypatch.setenv(INTERVAL_VARIABLE, "0")   # a line at every step (10 s apart by default)
    out = os.path.join(str(tmp_path), "bundle")
    assert main([export_checkpoint, "-o", out, "--int8", "--int8-flavors", "tensorrt-qdq-s8s8", "--calib",
                 export_images, "--calib-method", "minmax", "--holdout-fraction", "0.25"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("int8 tensorrt-qdq-s8s8 calibration (")]
    # Each image read is a line; between them and around them the heartbeat repeats the count or names the stage.
    # The default export is fused: the flavor is calibrated for the uint8 model, then for the float-pixel one, each
    # run's lines naming its file.
    head = r"^int8 tensorrt-qdq-s8s8 calibration \((model\.int8\.trt(?:\.pixels)?\.onnx)\): "
    counted = [re.match(head + r"image (\d+)/27, \d+ img/s, \d+ s left$", line) for line in lines]
    runs = {}
    for match in counted:
        if match:
            runs.setdefault(match.group(1), []).append(int(match.group(2)))
    assert sorted(runs) == ["model.int8.trt.onnx", "model.int8.trt.pixels.onnx"], lines
    for run in runs.values():
        assert sorted(set(run)) == list(range(1, 28)) and run == sorted(run), lines
    stages = [line for line, match in zip(lines, counted) if not match]
    assert all(re.match(head + r"(preparing the calibration model|computing ranges "
                        r"and writing the quantized model), \d+ s so far$", line) for line in stages), stages


def test_without_the_variable_a_quick_calibration_stays_quiet(export_checkpoint, export_images, tmp_path,
                                                              monkeypatch, capsys):
    from export.cli import main

    monkeypatch.delenv(INTERVAL_VARIABLE, raising=False)
    out = os.path.join(str(tmp_path), "bundle")
    assert main([export_checkpoint, "-o", out, "--int8", "--int8-flavors", "ort-qdq-u8s8", "--calib",
                 export_images, "--calib-method", "minmax", "--holdout-fraction", "0.25"]) == 0
    err = capsys.readouterr().err
    assert "quantizing INT8 ort-qdq-u8s8" in err and "calibration: image" not in err


def test_tensorrt_calibration_says_it_is_running_while_the_build_lasts(monkeypatch, tmp_path, capsys):
    """The device half (edge.tensorrt.calibration_cache) against the TensorRT fakes, with a build that lasts."""
    import time

    import numpy as np

    from edge.tensorrt import build
    from edge.tensorrt.calibration_cache import write_calibration_cache
    from tests.fakes.tiny_bundle import write_tiny_bundle
    from tests.fakes.trt import install

    install(monkeypatch, "8.2", device="xavier")
    real_build = build.build

    def slow_build(*args):
        time.sleep(0.4)      # a Nano's calibration takes minutes
        return real_build(*args)

    monkeypatch.setattr(build, "build", slow_build)
    monkeypatch.setenv(INTERVAL_VARIABLE, "0.1")
    source = write_tiny_bundle(tmp_path / "calib", qdq=False)
    batches = [np.random.RandomState(i).rand(1, 3, 32, 32).astype(np.float32) for i in range(4)]
    write_calibration_cache(source, "model.onnx", batches, "minmax", log=lambda text: None)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(re.match(r"^int8 calibration of model\.onnx: TensorRT calibrates on \d+ batches "
                                            r"and builds the engine, \d+ s so far$", line) for line in lines), lines
