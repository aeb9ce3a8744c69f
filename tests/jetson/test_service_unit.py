"""The systemd units (edge-camera, edge-serve) and their example configs: systemd's own verifier where
present, and a parser check."""

import os
import re
import shutil
import subprocess

import pytest

from edge.options.camera_config import CAMERA_OPTIONS
from edge.options.yaml_file import load_options

JETSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "jetson")
UNIT = os.path.join(JETSON, "edge-camera.service")
SERVE_UNIT = os.path.join(JETSON, "edge-serve.service")
SERVE_ENV = os.path.join(JETSON, "edge-serve.env")
UNITS = (UNIT, SERVE_UNIT)


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
    # exit 2 (bad option, config or bundle) and 3 (a source that can never work): no restart loop
    assert service["RestartPreventExitStatus"] == ["2 3"]
    assert "PYTHONPATH=/opt/edge-toolkit/lib" in service["Environment"]
    assert service["PrivateTmp"] == ["false"]  # the Argus socket for CSI cameras is in /tmp
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("path", UNITS, ids=os.path.basename)
def test_systemd_analyze_verify_is_clean(path):
    result = subprocess.run(["systemd-analyze", "verify", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=60)
    assert result.returncode == 0 and path not in result.stdout, result.stdout


# Hardening and conventions both services share: the unprivileged user in video, no new privileges,
# a read-only system and home, writes only under /var/lib/edge-toolkit, restarts on failure without
# looping, SIGTERM with a bounded stop, the runtime from /opt/edge-toolkit/lib, started at boot.
SHARED = {"User": ["edge"], "Group": ["video"], "SupplementaryGroups": ["video"], "NoNewPrivileges": ["true"],
          "ProtectSystem": ["full"], "ProtectHome": ["read-only"], "ReadWritePaths": ["/var/lib/edge-toolkit"],
          "WorkingDirectory": ["/var/lib/edge-toolkit"], "Restart": ["on-failure"], "RestartSec": ["5"],
          "KillSignal": ["SIGTERM"], "TimeoutStopSec": ["10"], "Type": ["simple"],
          # `systemctl reload` swaps the model live (edge.daemon.swap): SIGHUP to the main process
          "ExecReload": ["/bin/kill -HUP $MAINPID"]}


@pytest.mark.parametrize("path", UNITS, ids=os.path.basename)
def test_units_are_hardened_the_same_way(path):
    unit = parse_unit(path)
    assert set(unit) == {"Unit", "Service", "Install"}
    for key, value in SHARED.items():
        assert unit["Service"].get(key) == value, (key, unit["Service"].get(key))
    assert "PYTHONPATH=/opt/edge-toolkit/lib" in unit["Service"]["Environment"]
    assert unit["Unit"]["StartLimitIntervalSec"] == ["300"] and unit["Unit"]["StartLimitBurst"] == ["10"]
    assert "network-online.target" in unit["Unit"]["Wants"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def systemd_environment_file(path):
    """KEY=VALUE lines as systemd reads them (comments and blank lines skipped, one level of double
    quotes removed)."""
    values = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, value = line.split("=", 1)
            assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key), line
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            assert '"' not in value and "'" not in value and "\\" not in value, line
            values[key] = value
    return values


def test_serve_unit_runs_edge_serve_from_its_environment_file():
    service = parse_unit(SERVE_UNIT)["Service"]
    assert service["EnvironmentFile"] == ["/etc/edge-toolkit/edge-serve.env"]
    # $NAME (without braces) is split at whitespace into arguments; ${NAME} would be one argument.
    assert service["ExecStart"] == ["/usr/bin/python3 -m edge.serve.cli $EDGE_SERVE_BUNDLE $EDGE_SERVE_OPTIONS"]
    assert service["RestartPreventExitStatus"] == ["2"]   # bad options or bundle: a restart does not fix it
    assert service["PrivateTmp"] == ["true"]               # no Argus socket to reach
    assert os.path.isfile(os.path.join(JETSON, "..", "edge", "serve", "cli.py"))


def test_serve_environment_file_gives_valid_options_bound_to_loopback():
    from edge.net.http_access import is_loopback
    from edge.serve.cli import build_parser

    values = systemd_environment_file(SERVE_ENV)
    assert set(values) == {"EDGE_SERVE_BUNDLE", "EDGE_SERVE_OPTIONS"}
    assert values["EDGE_SERVE_BUNDLE"] == "/var/lib/edge-toolkit/bundle"
    argv = values["EDGE_SERVE_BUNDLE"].split() + values["EDGE_SERVE_OPTIONS"].split()
    args = build_parser().parse_args(argv)   # edge-serve's own parser: every option exists
    assert args.bundle == "/var/lib/edge-toolkit/bundle"
    assert is_loopback(args.host) and args.http_port == 8000 and args.token_file is None
    # The commented examples are valid edge-serve options too.
    with open(SERVE_ENV) as handle:
        examples = [line.split("=", 1)[1] for line in handle if line.startswith("# EDGE_SERVE_OPTIONS=")]
    assert examples
    for example in examples:
        build_parser().parse_args([values["EDGE_SERVE_BUNDLE"]] + example.strip().strip('"').split())
    with open(SERVE_ENV) as handle:
        text = handle.read()
    assert "--token-file /etc/edge-toolkit/serve.token" in text and "chmod 640" in text


def test_example_config_uses_only_known_keys():
    config = load_options(os.path.join(JETSON, "edge-camera.yaml"))
    assert set(config) <= set(CAMERA_OPTIONS.names())
    assert config["source"] == "csi://0" and config["http_host"] == "127.0.0.1"
