"""edge-camera's sinks named by URI (--sink, YAML `sinks:`): each kind end to end through the daemon with real
parts (a folder source, mosquitto, sockets on 127.0.0.1), the old flags as aliases meaning the same, and bad
URIs or a sink named both ways refused in one line with exit code 2 before anything starts."""

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from edge.options.camera_config import CAMERA_OPTIONS, resolve
from edge.options.sink_args import SINK_KINDS
from edge.sinks.factory import sink_specs
from tests.edge.realparts import Broker, Subscriber, free_port, needs_mosquitto
from tests.edge.test_camera_daemon import get, read_jsonl, start_daemon, wait_until

BASE = ["nowhere-bundle", "--source", "nowhere.mp4"]   # nothing is opened before the sinks are checked


def _specs(argv, config_path=None):
    from edge.camera import build_parser

    args = build_parser().parse_args(argv)
    config = resolve(CAMERA_OPTIONS.flags_of(args), config_path or args.config)
    return config, sink_specs(config)


def _settings(config, spec):
    """The options a sink is built from: its kind's, with the URI's over the flags' and the defaults."""
    values = dict(config, **spec.settings)
    return dict((row.name, values[row.name]) for row in SINK_KINDS[spec.kind][1])


@pytest.fixture
def colour_folder(tmp_path):
    """10 blue, 10 green, 10 red frames: a folder source the test bundle labels."""
    import cv2
    from tests.bundle_fixtures import export_colour_image

    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for index in range(30):
        cv2.imwrite(str(folder / "{:03d}.png".format(index)), export_colour_image(rng, index // 10))
    return folder


# ----- the old flags are aliases: the same sink, the same settings -------------------------------------------
@pytest.mark.parametrize("flags, uri", [
    (["--jsonl", "r.jsonl", "--jsonl-max-mb", "2", "--jsonl-keep", "3"], "jsonl:r.jsonl?max_mb=2&keep=3"),
    (["--jsonl", "-"], "jsonl:-"),
    (["--jsonl", "/var/log/x.jsonl"], "jsonl:///var/log/x.jsonl"),
    (["--http-port", "8080", "--http-host", "0.0.0.0"], "http://0.0.0.0:8080"),
    (["--http-port", "0", "--http-host", "::1"], "http://[::1]:0"),
    (["--mqtt-host", "broker", "--mqtt-port", "1884", "--mqtt-topic", "line/1", "--mqtt-qos", "2", "--mqtt-retain",
      "--mqtt-outbox", "o.db", "--mqtt-queue", "10", "--mqtt-username", "cam", "--mqtt-tls-insecure"],
     "mqtt://cam@broker:1884/line/1?qos=2&retain=1&outbox=o.db&queue=10&tls_insecure=true"),
    (["--mqtt-host", "broker"], "mqtt://broker"),
])
def test_an_alias_flag_and_its_uri_give_the_same_sink(flags, uri):
    by_flags, (old,) = _specs(BASE + flags)
    by_uri, (new,) = _specs(BASE + ["--sink", uri])
    assert old.kind == new.kind
    assert _settings(by_flags, old) == _settings(by_uri, new)


def test_the_other_flags_of_a_kind_set_its_options_for_a_uri_sink():
    config, (spec,) = _specs(BASE + ["--sink", "mqtt://broker/t", "--mqtt-outbox", "o.db", "--mqtt-qos", "0"])
    settings = _settings(config, spec)
    assert (settings["mqtt_outbox"], settings["mqtt_qos"], settings["mqtt_topic"]) == ("o.db", 0, "t")
    assert settings["mqtt_port"] == 1883 and settings["mqtt_outbox_max_mb"] == 100.0   # the built-in defaults


def test_flags_win_over_the_yaml_sinks_key(tmp_path):
    path = tmp_path / "edge-camera.yaml"
    path.write_text("bundle: b\nsource: s.mp4\nsinks: [jsonl:a.jsonl, 'http://127.0.0.1:8080']\n")
    _, specs = _specs(["--config", str(path)])
    assert [(spec.kind, spec.uri) for spec in specs] == [("http", "http://127.0.0.1:8080"), ("jsonl", "jsonl:a.jsonl")]
    _, specs = _specs(["--config", str(path), "--sink", "jsonl:b.jsonl"])
    assert [spec.uri for spec in specs] == ["jsonl:b.jsonl"]


# ----- refusals: one line, exit code 2, what is wrong and what to write ---------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--sink", "ftp://host/x"], "sink 'ftp://host/x' is not a sink URI; write jsonl:PATH, http://HOST:PORT or "
                                 "mqtt://HOST[:PORT]/TOPIC"),
    (["--sink", "mqtt://h/a/#"], "topic 'a/#' has a wildcard; write a publish topic"),
    (["--sink", "mqtt://h/t?qos=5"], "qos in sink 'mqtt://h/t?qos=5' must be a whole number from 0 to 2"),
    (["--sink", "mqtt://h/t?qso=1"], "unknown query key 'qso'; write one of: client_id,"),
    (["--sink", "mqtt://u:secret@h/t"], "a password in a URI shows in ps and in logs; write "
                                        "mqtt://USER@HOST/TOPIC?password_file=FILE"),
    (["--sink", "mqtt://h:port/t"], "port 'port' is not a number"),
    (["--sink", "mqtt://h:70000/t"], "port in sink 'mqtt://h:70000/t' must be a whole number from 1 to 65535"),
    (["--sink", "http://0.0.0.0"], "the HTTP sink takes an address and a port only; write http://HOST:PORT"),
    (["--sink", "https://0.0.0.0:8443"], "serve HTTPS with http://HOST:PORT and --tls-cert, --tls-key"),
    (["--sink", "jsonl://host/x.jsonl"], "a file has no host; write jsonl:///absolute/path.jsonl"),
    (["--sink", "jsonl:x.jsonl?keep=-1"], "keep in sink 'jsonl:x.jsonl?keep=-1' must be a whole number from 0"),
    (["--sink", "mqtt://h/t?password_file=/nowhere"], "mqtt-password-file /nowhere not found"),
    (["--jsonl", "a.jsonl", "--sink", "jsonl:b.jsonl"],
     "the jsonl sink is named twice, by sink 'jsonl:b.jsonl' and by --jsonl (an alias of --sink until 0.2)"),
    (["--mqtt-host", "h", "--sink", "mqtt://h/t"], "the mqtt sink is named twice"),
    (["--mqtt-qos", "0", "--sink", "mqtt://h/t?qos=1"],
     "qos is set twice, by sink 'mqtt://h/t?qos=1' and by --mqtt-qos (or mqtt_qos: in --config): set it one way"),
    (["--http-host", "0.0.0.0", "--sink", "http://127.0.0.1:8080"], "host is set twice"),
    (["--sink", "jsonl:a.jsonl", "--sink", "jsonl:./a.jsonl"], "would share"),
    (["--sink", "mqtt://h/a", "--sink", "mqtt://g/b"], "give them an outbox each (?outbox=FILE)"),
    (["--sink", "http://127.0.0.1:8080", "--sink", "http://0.0.0.0:8080"], "give them a port each"),
])
def test_a_bad_sink_is_one_line_and_exit_2(argv, message, capsys):
    from edge.camera import main

    code = main(BASE + argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("edge-camera: error: ") and "Traceback" not in err, err
    assert message in err, err


def test_a_bad_yaml_sinks_value_is_named(tmp_path, capsys):
    from edge.camera import main

    path = tmp_path / "edge-camera.yaml"
    for text, message in (("sinks: {a: 1}\n", "sinks in {} must be a list of strings (sink URIs), got a mapping"),
                          ("sinks: [ftp://x]\n", "sink 'ftp://x' is not a sink URI")):
        path.write_text("bundle: b\nsource: s.mp4\n" + text)
        assert main(["--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message.format(path) in err, err


# ----- each kind end to end through the daemon ---------------------------------------------------------------
def test_jsonl_uris_write_a_file_and_stdout(export_int8_bundle, colour_folder, tmp_path):
    path = tmp_path / "out" / "results.jsonl"
    path.parent.mkdir()
    out, err = start_daemon([export_int8_bundle, "--source", colour_folder, "--sink", "jsonl://" + str(path),
                             "--sink", "jsonl:-", "--top-k", "1"]).communicate(timeout=60)
    assert "source ended: 30 frames" in err, err
    rows = read_jsonl(str(path))
    assert [row["frame"] for row in rows] == list(range(30))
    assert [row["prediction"] for row in rows] == ["blue"] * 10 + ["green"] * 10 + ["red"] * 10
    printed = [json.loads(line) for line in out.splitlines()]
    assert printed == rows


def test_the_yaml_sinks_key_runs_the_daemon(export_int8_bundle, colour_folder, tmp_path):
    config = tmp_path / "edge-camera.yaml"
    config.write_text("bundle: {}\nsource: {}\nsinks:\n  - jsonl:{}?keep=1\n".format(
        export_int8_bundle, colour_folder, tmp_path / "yaml.jsonl"))
    out, err = start_daemon(["--config", config, "--max-frames", "7"]).communicate(timeout=60)
    assert "max frames reached: 7 frames" in err, err
    assert [row["frame"] for row in read_jsonl(str(tmp_path / "yaml.jsonl"))] == list(range(7))


def test_an_http_uri_serves_health_and_the_latest_result(export_int8_bundle, colour_folder):
    port = free_port()
    daemon = start_daemon([export_int8_bundle, "--source", colour_folder, "--loop", "--fps", "10", "--duration",
                           "20", "--sink", "http://127.0.0.1:{}".format(port)])
    try:
        base = "http://127.0.0.1:{}".format(port)
        assert wait_until(lambda: get(base + "/latest")[0] == 200, 30), daemon.stderr
        latest = json.loads(get(base + "/latest")[2].decode())
        assert latest["prediction"] in ("blue", "green", "red")
        assert get(base + "/healthz")[0] == 200
    finally:
        daemon.terminate()
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "serving http://127.0.0.1:{}".format(port) in err, err


@needs_mosquitto
def test_an_mqtt_uri_publishes_on_its_topic_with_its_query_settings(export_int8_bundle, colour_folder, tmp_path):
    port = free_port()
    broker = Broker(port).start()
    subscriber = Subscriber(port, "line1/results")
    try:
        assert subscriber.connected.wait(10)
        time.sleep(0.3)   # the subscription is in place
        uri = "mqtt://127.0.0.1:{}/line1/results?qos=1&outbox={}&queue=1000".format(port, tmp_path / "outbox.db")
        out, err = start_daemon([export_int8_bundle, "--source", colour_folder, "--sink", uri,
                                 "--on-change"]).communicate(timeout=60)
        assert "source ended: 30 frames" in err, err
        assert wait_until(lambda: len(subscriber.messages) >= 3, 10)
        time.sleep(0.3)
        assert [message["prediction"] for message in subscriber.messages] == ["blue", "green", "red"]
        assert (tmp_path / "outbox.db").exists()
    finally:
        subscriber.close()
        broker.cleanup()


@needs_mosquitto
def test_an_mqtt_uri_logs_in_with_its_user_and_password_file(export_int8_bundle, colour_folder, tmp_path):
    """The user from the URI and the password from ?password_file= reach the broker (one that refuses anonymous
    clients on the camera's port), through the one MQTT settings object."""
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("needs mosquitto_passwd")
    open_port, locked_port = free_port(), free_port()
    broker = Broker(open_port)
    password_db = tmp_path / "broker-passwords"
    subprocess.check_call([passwd, "-c", "-b", str(password_db), "camera", "s3cret"])
    shutil.copy(str(password_db), broker.folder)
    with open(broker.config, "w") as handle:   # the subscriber on an open port, the camera on a locked one
        handle.write("per_listener_settings true\nlistener {} 127.0.0.1\nallow_anonymous true\n"
                     "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}/broker-passwords\n".format(
                         open_port, locked_port, broker.folder))
    os.chmod(os.path.join(broker.folder, "broker-passwords"), 0o644)
    (tmp_path / "password").write_text("s3cret\n")
    broker.start()
    subscriber = Subscriber(open_port, "locked/results")
    try:
        assert subscriber.connected.wait(10)
        time.sleep(0.3)
        uri = "mqtt://camera@127.0.0.1:{}/locked/results?password_file={}&outbox={}".format(
            locked_port, tmp_path / "password", tmp_path / "outbox.db")
        out, err = start_daemon([export_int8_bundle, "--source", colour_folder, "--sink", uri, "--max-frames", "5"]
                                ).communicate(timeout=60)
        assert "max frames reached: 5 frames" in err, err
        assert wait_until(lambda: len(subscriber.messages) >= 5, 10), err
        assert "s3cret" not in err
    finally:
        subscriber.close()
        broker.cleanup()
