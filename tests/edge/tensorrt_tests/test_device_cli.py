"""edge-export on the device (edge.export): a bundle in, engines for this GPU out, with edge/ alone."""

from edge.bundle.bundle import Bundle
from edge.export import main
from tests.fakes.tiny_bundle import write_tiny_bundle
from tests.helpers import STAND_IN_ENGINES, run_blocked


def test_builds_the_engines_and_prints_the_bundle_table(monkeypatch, tmp_path, capsys):
    from tests.fakes.trt import install

    folder = write_tiny_bundle(tmp_path / "b")
    install(monkeypatch, "8.2", device="nano")
    assert main([folder, "--engine", "fp16,int8", "--workspace-mb", "64"]) == 0
    captured = capsys.readouterr()
    out, progress = captured.out, captured.err   # the bundle's table on stdout, the build's progress on stderr
    entry, = Bundle.load(folder).artifacts("tensorrt_engine")
    assert entry["file"] in out and "fp16 engine" in progress and "NVIDIA Tegra X1" in progress
    assert "no fast INT8" in progress and entry["workspace_mb"] == 64
    assert all(line.startswith("edge-export: ") for line in progress.splitlines())


def test_bad_input_is_one_line(tmp_path, capsys):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not a bundle")
    assert main([str(model), "--engine", "fp16"]) == 2
    err = capsys.readouterr().err
    assert "not a bundle folder" in err and "on the desktop" in err and err.count("\n") == 1
    folder = write_tiny_bundle(tmp_path / "b")
    assert main([folder]) == 2
    assert "--engine fp16" in capsys.readouterr().err
    assert main([folder, "--engine", "fp8"]) == 2
    assert "--engine" in capsys.readouterr().err


def test_runs_with_edge_alone(tmp_path):
    """As installed on a Jetson: train/, export/, torch, onnx and onnxruntime cannot be imported."""
    folder = write_tiny_bundle(tmp_path / "b")
    code = STAND_IN_ENGINES + """
from edge.export import main
status = main([sys.argv[1], '--engine', 'fp16'])
print('status', status, 'calls', calls)
"""
    result = run_blocked(code, ("torch", "onnx", "onnxruntime", "train", "export"), [folder])
    assert result.returncode == 0, result.stderr
    assert "status 0 calls [({!r}, ['fp16'])]".format(folder) in result.stdout
