"""Paths the user names fail in one line, never a traceback: a --config that is not UTF-8 or not YAML
(edge-camera's, edge-train's: edge.options.yaml_file), an output that cannot be created or written (--json,
-o, --out: edge.util.atomic, edge.util.staging); and the camera's source that never opens does what the README says."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edge.errors import EXIT_OK, EXIT_UNUSABLE, EXIT_USAGE
from tests.edge.realparts import free_port
from tests.fakes.tiny_bundle import write_tiny_bundle
from tests.helpers import ROOT

BAD_CONFIGS = {
    "latin1.yaml": (b"source: caf\xe9.mp4\n", "not UTF-8 text: byte 0xe9 at offset 11; save it as UTF-8"),
    "binary.yaml": (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text: byte 0x89 at offset 0"),
    "date.yaml": (b"duration: 2020-13-45\n", "holds a value YAML cannot read: month must be in 1..12"),
    "deep.yaml": (b"top-k: " + b"[" * 5000 + b"]" * 5000 + b"\n", "is nested too deeply to be a config"),
}


def one_line_error(err, prog):
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith(prog + ": error: "), err
    return err.strip()


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("module, prog", [("edge.camera", "edge-camera"), ("train.cli", "edge-train")])
def test_a_config_file_that_is_not_utf8_or_not_yaml_is_one_line(module, prog, name, tmp_path, capsys):
    import importlib

    data, message = BAD_CONFIGS[name]
    path = tmp_path / name
    path.write_bytes(data)
    argv = ["--config", str(path)] + ([str(tmp_path)] if module == "train.cli" else [])
    assert importlib.import_module(module).main(argv) == EXIT_USAGE
    line = one_line_error(capsys.readouterr().err, prog)
    assert str(path) in line and message in line, line


def _blocked(tmp_path):
    """A folder that can never be made: its parent is a file (ENOTDIR, whoever runs the tests, root too)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return blocker / "out"


def test_json_to_a_path_that_cannot_be_made_is_one_line(tmp_path, capsys):
    import cv2

    from edge.predict import main

    bundle = write_tiny_bundle(tmp_path / "bundle")
    image = str(tmp_path / "x.png")
    cv2.imwrite(image, np.full((40, 48, 3), 90, np.uint8))
    target = str(_blocked(tmp_path) / "result.json")
    assert main([bundle, image, "--json", target]) == EXIT_USAGE
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and line == "edge-predict: error: cannot write {} (Not a directory)".format(target)


def test_collect_into_a_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    import cv2

    from edge.collect import main

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((40, 48, 3), 90, np.uint8))
    out = str(_blocked(tmp_path))
    assert main(["--source", str(images), "--out", out, "--label", "up", "--count", "1"]) == EXIT_USAGE
    line = one_line_error(capsys.readouterr().err, "edge-collect")
    assert line == "edge-collect: error: cannot write --out folder {} (Not a directory)".format(
        os.path.join(out, "up")), line


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_json_under_proc_is_one_line(tmp_path, capsys):
    from edge.cli import write_json_result
    from edge.errors import CannotUsePath

    with pytest.raises(CannotUsePath) as refused:
        write_json_result("/proc/x/result.json", {"a": 1})
    assert str(refused.value) == "cannot write /proc/x/result.json (No such file or directory)"
    assert isinstance(refused.value, OSError) and refused.value.errno == 2  # still an OSError for sinks


# ----------------------------------------------------------------------------- a source that never opens

def _camera(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "edge.camera"] + [str(a) for a in argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def _health(port):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen("http://127.0.0.1:{}/healthz".format(port), timeout=2) as response:
            return response.status, json.loads(response.read().decode())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None, None


def test_a_live_source_that_never_opens_is_retried_with_health_degraded(tmp_path):
    """Under systemd the camera may come later: the daemon stays up, says degraded and why, and keeps trying."""
    bundle = write_tiny_bundle(tmp_path / "bundle")
    port, closed = free_port(), free_port()  # nothing listens on `closed`
    uri = "http://127.0.0.1:{}/stream.mjpg".format(closed)
    daemon = _camera([bundle, "--source", uri, "--http-port", port, "--duration", "8", "--reconnect-max", "1"])
    try:
        deadline, seen = time.time() + 30, (None, None)
        while time.time() < deadline and daemon.poll() is None:
            seen = _health(port)
            if seen[1] and seen[1].get("state") == "degraded":
                break
            time.sleep(0.1)
        status, health = seen
        assert status == 503 and health["state"] == "degraded" and str(closed) in health["reason"], seen
        out, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=10)
    assert daemon.returncode == EXIT_OK, err        # stopped by --duration, not by the source
    assert err.count("source unavailable") >= 2 and "Traceback" not in err, err   # retried, more than once


def test_a_file_source_that_cannot_be_opened_exits_3_in_one_line(tmp_path):
    bundle = write_tiny_bundle(tmp_path / "bundle")
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(os.urandom(4096))
    daemon = _camera([bundle, "--source", junk])
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == EXIT_UNUSABLE, err
    errors = [line for line in err.splitlines() if line.startswith("edge-camera: error: ")]
    assert errors == ["edge-camera: error: cannot open {}".format(junk)] and "Traceback" not in err, err


def test_the_readme_and_the_help_say_what_the_daemon_does():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = " ".join(handle.read().split())
    assert "a camera source that never works" not in readme  # the promise the daemon never kept
    assert ("a file or folder source that cannot be opened or a source setting that can never work; a live camera "
            "or stream that does not open is retried") in readme
    assert "A live source (camera, RTSP, HTTP) that never opens is retried the same way" in readme
    from edge import camera
    doc = " ".join(camera.__doc__.split())
    assert ("3 a file or folder source that cannot be opened, or a source setting that can never work (a live camera "
            "or stream that does not open is retried with backoff") in doc
