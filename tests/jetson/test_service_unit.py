"""The systemd unit and the example config: systemd's own verifier where present, and a parser check."""

import os
import shutil
import subprocess

import pytest

from edge.camera_config import DEFAULTS
from edge.options_file import load_options

JETSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "jetson")
UNIT = os.path.join(JETSON, "edge-camera.service")


def parse_unit(path):
    sections, current = {}, None
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            assert current is not None and "=" in line, line
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    return sections


def test_unit_runs_the_daemon_unprivileged_and_restarts_on_failure():
    unit = parse_unit(UNIT)
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["ExecStart"] == ["/usr/bin/python3 -m edge.camera --config /etc/edge-toolkit/edge-camera.yaml"]
    assert service["User"] == ["edge"] and "video" in service["SupplementaryGroups"]
    assert service["Restart"] == ["on-failure"] and service["KillSignal"] == ["SIGTERM"]
    assert "PYTHONPATH=/opt/edge-toolkit/lib" in service["Environment"]
    assert service["PrivateTmp"] == ["false"]  # the Argus socket for CSI cameras is in /tmp
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean():
    result = subprocess.run(["systemd-analyze", "verify", UNIT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=60)
    assert result.returncode == 0 and UNIT not in result.stdout, result.stdout


def test_example_config_uses_only_known_keys():
    config = load_options(os.path.join(JETSON, "edge-camera.yaml"))
    assert set(config) <= set(DEFAULTS)
    assert config["source"] == "csi://0" and config["http_host"] == "127.0.0.1"
