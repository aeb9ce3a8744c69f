"""edge-camera with real parts: a video file, HTTP endpoints while running, a real mosquitto broker
stopped and restarted mid-run, SIGTERM, and sinks that fail without stopping inference."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.edge.realparts import Broker, Subscriber, free_port, needs_ffmpeg, needs_mosquitto

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def start_daemon(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "edge.camera"] + [str(a) for a in argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()
    except urllib.error.URLError:  # not listening yet
        return None, None, b""


def wait_until(predicate, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.endswith("\n")]


@needs_ffmpeg
def test_daemon_serves_health_metrics_latest_and_preview_while_running(export_int8_bundle, video, tmp_path):
    port = free_port()
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([export_int8_bundle, "--source", video, "--realtime", "--loop", "--duration", "20",
                           "--http-port", port, "--jsonl", jsonl, "--top-k", "2"])
    base = "http://127.0.0.1:{}".format(port)
    try:
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= 5, 20), daemon.stderr.read() if daemon.poll() else ""
        status, kind, body = get(base + "/healthz")
        health = json.loads(body.decode())
        assert status == 200 and kind == "application/json" and health["state"] == "ok"
        assert health["frames"] >= 5 and health["source"]["up"] is True

        status, kind, body = get(base + "/metrics")
        text = body.decode()
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        assert "# TYPE edge_frames_total counter" in text and "# HELP edge_fps" in text
        assert 'edge_stage_latency_ms{stage="inference",quantile="0.99"}' in text
        assert 'edge_sink_published_total{sink="jsonl"}' in text
        frames_total = [l for l in text.splitlines() if l.startswith("edge_frames_total ")][0]
        assert int(frames_total.split()[1]) >= 5

        status, _, body = get(base + "/latest")
        latest = json.loads(body.decode())
        assert status == 200 and len(latest["top"]) == 2 and latest["runtime"].startswith("onnxruntime")
        # At camera rate ONNX Runtime's idle threads sleep instead of spinning (CPU per result).
        assert "no spinning" in latest["runtime"]
        assert set(latest["latency_ms"]) == {"capture_wait", "preprocess", "inference", "postprocess", "publish",
                                             "total", "capture_to_result"}

        with urllib.request.urlopen(base + "/stream.mjpg", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = b""
            while b"\r\n\r\n" not in head:
                head += response.read(1)
            length = int([l for l in head.decode().split("\r\n") if l.startswith("Content-Length")][0].split(":")[1])
            jpeg = response.read(length)
        import cv2
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (120, 160, 3)
        assert get(base + "/nope")[0] == 404
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    rows = read_jsonl(jsonl)
    assert [r["frame"] for r in rows] == sorted(r["frame"] for r in rows)
    assert all(r["top"][0]["confidence"] >= r["top"][1]["confidence"] for r in rows)
    assert all((r["prediction"], r["confidence"]) == (r["top"][0]["label"], r["top"][0]["confidence"]) for r in rows)


@needs_ffmpeg
def test_sigterm_stops_within_two_seconds_and_flushes(export_int8_bundle, video, tmp_path):
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([export_int8_bundle, "--source", video, "--realtime", "--loop", "--jsonl", jsonl])
    try:
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= 3, 20)
    finally:
        sent = time.time()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=10)
    stopped_after = time.time() - sent
    assert daemon.returncode == 0, err
    assert stopped_after < 2.0, "took {:.2f} s to stop".format(stopped_after)
    assert "signal 15: stopping" in err
    with open(jsonl) as handle:
        assert handle.read().endswith("\n")  # the last line is whole


@needs_ffmpeg
def test_file_source_ends_cleanly_and_counts_every_frame(export_int8_bundle, video, tmp_path):
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([export_int8_bundle, "--source", video, "--jsonl", jsonl])
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert "source ended: 90 frames, 0 dropped" in err
    assert [r["frame"] for r in read_jsonl(jsonl)] == list(range(90))


@needs_ffmpeg
def test_jsonl_file_rotates_by_size_and_loses_no_result(export_int8_bundle, video, tmp_path):
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([export_int8_bundle, "--source", video, "--jsonl", jsonl, "--jsonl-max-mb", "0.004",
                           "--jsonl-keep", "50"])
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    rotated = sorted((int(name.rsplit(".", 1)[1]) for name in os.listdir(str(tmp_path))
                      if name.startswith("results.jsonl.")), reverse=True)
    assert len(rotated) >= 3 and rotated[-1] == 1 and rotated == list(range(len(rotated), 0, -1))
    files = ["{}.{}".format(jsonl, index) for index in rotated] + [jsonl]   # oldest first
    assert all(os.path.getsize(path) < 4 * 1024 * 1.1 for path in files)
    assert [r["frame"] for path in files for r in read_jsonl(path)] == list(range(90))


@needs_ffmpeg
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to simulate a full disk")
def test_a_failing_sink_never_stops_inference(export_int8_bundle, video, tmp_path):
    # /dev/full opens fine and fails every write with "No space left on device".
    port = free_port()
    daemon = start_daemon([export_int8_bundle, "--source", video, "--realtime", "--loop", "--http-port", port,
                           "--jsonl", "/dev/full"])
    try:
        metrics = lambda: get("http://127.0.0.1:{}/metrics".format(port))[2].decode()
        assert wait_until(lambda: daemon.poll() is None and _value(metrics(), 'edge_sink_errors_total{sink="jsonl"}')
                          >= 10, 30)
        assert _value(metrics(), "edge_frames_total") >= 10
        # Inference goes on, and health says plainly that results are not being written.
        health = json.loads(get("http://127.0.0.1:{}/healthz".format(port))[2].decode())
        assert health["state"] == "degraded" and "jsonl: cannot write /dev/full" in health["reason"], health
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err


def _value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


@pytest.mark.parametrize("argv, message, code", [
    (["--source", "csi://9"], "sensor id", 2),
    (["--source", "{video}", "--mqtt-qos", "5"], "invalid choice", 2),
    (["--source", "{video}", "--min-confidence", "2"], "min-confidence", 2),
    (["--source", "{tmp}/empty"], "no images", 3),
    (["--source", "{video}", "--jsonl", "{tmp}/missing/r.jsonl"], "cannot open --jsonl", 2),
    (["--source", "{video}", "--jsonl-keep", "-1"], "--jsonl-keep must be a whole number from 0", 2),
])
def test_bad_configuration_exits_with_one_line(export_int8_bundle, video, tmp_path, argv, message, code):
    os.makedirs(str(tmp_path / "empty"))
    argv = [a.format(video=video, tmp=tmp_path) for a in argv]
    daemon = start_daemon([export_int8_bundle] + argv)
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == code and message in err and "Traceback" not in err


def test_config_file_with_flags_winning(export_int8_bundle, video, tmp_path):
    config = tmp_path / "camera.yaml"
    config.write_text("bundle: {}\nsource: {}\nmax-frames: 5\ntop_k: 1\njsonl: {}\n".format(
        export_int8_bundle, video, tmp_path / "a.jsonl"))
    out, err = start_daemon(["--config", config, "--max-frames", "7"]).communicate(timeout=60)
    assert "max frames reached: 7 frames" in err
    rows = read_jsonl(str(tmp_path / "a.jsonl"))
    assert len(rows) == 7 and all(len(r["top"]) == 1 for r in rows)
    config.write_text("bundle: {}\nsource: {}\nmax_frame: 5\n".format(export_int8_bundle, video))
    out, err = start_daemon(["--config", config]).communicate(timeout=60)
    assert "unknown option 'max_frame'" in err


@needs_mosquitto
@pytest.mark.slow
def test_mqtt_results_survive_a_broker_restart_at_qos1():
    from edge.net.mqtt_settings import MqttSettings
    from edge.sinks.mqtt import MqttSink

    port = free_port()
    broker = Broker(port).start()
    subscriber = Subscriber(port, "test/results")
    sink = MqttSink(MqttSettings("127.0.0.1", port, qos=1), "test/results", reconnect_max=1)
    try:
        assert subscriber.connected.wait(10)
        time.sleep(0.3)  # the subscription is in place
        sink.start()
        result = {"prediction": "x", "confidence": 1.0, "top": [{"label": "x", "index": 0, "confidence": 1.0}]}
        for frame in range(60):
            if frame == 20:
                assert wait_until(lambda: subscriber.frames() >= set(range(20)), 10)
                broker.stop()            # the broker goes away mid-run...
                assert wait_until(lambda: not sink.health()["connected"], 10)
            if frame == 40:
                broker.start()           # ...and comes back
            sink.publish(dict(result, frame=frame))
            time.sleep(0.02)
        assert wait_until(lambda: subscriber.frames() >= set(range(60)), 30), \
            sorted(set(range(60)) - subscriber.frames())
        # Queued counts results until their PUBACK, which may follow the subscriber's copy.
        assert wait_until(lambda: sink.health()["queued"] == 0, 10) and sink.health()["dropped"] == 0
    finally:
        sink.close(timeout=1.0)
        subscriber.close()
        broker.cleanup()


@needs_mosquitto
@needs_ffmpeg
def test_daemon_publishes_to_mqtt_on_change(export_int8_bundle, tmp_path):
    import cv2
    from tests.bundle_fixtures import export_colour_image

    # A folder source: 10 blue, 10 green, 10 red frames -> exactly 3 label changes.
    rng = np.random.RandomState(0)
    for index in range(30):
        cv2.imwrite(str(tmp_path / "{:03d}.png".format(index)), export_colour_image(rng, index // 10))
    port = free_port()
    broker = Broker(port).start()
    subscriber = Subscriber(port, "edge/camera/results")
    try:
        assert subscriber.connected.wait(10)
        time.sleep(0.3)
        out, err = start_daemon([export_int8_bundle, "--source", tmp_path, "--mqtt-host", "127.0.0.1",
                                 "--mqtt-port", port, "--mqtt-outbox", tmp_path / "outbox.db",
                                 "--on-change"]).communicate(timeout=60)
        assert "source ended: 30 frames" in err, err
        assert wait_until(lambda: len(subscriber.messages) >= 3, 10)
        time.sleep(0.3)
        labels = [m["prediction"] for m in subscriber.messages]
        assert labels == ["blue", "green", "red"]
    finally:
        subscriber.close()
        broker.cleanup()


def test_publish_policy():
    from edge.sinks.filters import PublishPolicy

    def result(label, confidence):
        return {"prediction": label, "confidence": confidence,
                "top": [{"label": label, "index": 0, "confidence": confidence}]}

    change = PublishPolicy(on_change=True)
    assert [change.wants(result(l, 0.9)) for l in "aabba"] == [True, False, True, False, True]
    confident = PublishPolicy(min_confidence=0.8)
    assert [confident.wants(result("a", p)) for p in (0.5, 0.8, 0.95)] == [False, True, True]
    beat = PublishPolicy(on_change=True, heartbeat=0.0)
    assert all(beat.wants(result("a", 0.9)) for _ in range(3))


def test_filtered_sink_reads_the_wrapped_sinks_counters():
    from edge.sinks.base import Sink
    from edge.sinks.filters import FilteredSink, PublishPolicy

    class Counting(Sink):
        name = "counting"

        def publish(self, result, frame=None):
            self.published += 1

    inner = Counting()
    inner.errors = 2
    sink = FilteredSink(inner, PublishPolicy(on_change=True))
    for label in "aab":
        sink.publish({"prediction": label, "confidence": 0.9})
    assert (sink.name, sink.published, sink.errors, sink.filtered) == ("counting", 2, 2, 1)
    assert sink.health()["filtered"] == 1 and sink.health()["published"] == 2


def test_prometheus_rendering_and_bounded_windows():
    from edge.daemon.telemetry import Telemetry

    telemetry = Telemetry(window=50)
    for index in range(500):
        telemetry.observe_frame({"inference": float(index % 10), "total": 1.0}, dropped_total=index)
    assert len(telemetry.latency["inference"].samples) == 50 and telemetry.latency["inference"].count == 500
    text = telemetry.render_prometheus()
    assert "edge_frames_total 500" in text and "edge_frames_dropped_total 499" in text
    assert 'edge_stage_latency_ms_count{stage="inference"} 500' in text
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or len(line.split(" ")) == 2, line


@needs_ffmpeg
def test_sighup_reloads_the_model_and_the_daemon_goes_on(export_int8_bundle, video, tmp_path):
    # SIGHUP is `systemctl reload`: the bundle is swapped live (tests/edge/test_model_swap.py), nothing stops;
    # SIGTERM then stops it cleanly.
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([export_int8_bundle, "--source", video, "--realtime", "--loop", "--jsonl", jsonl])
    try:
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= 3, 20)
        daemon.send_signal(signal.SIGHUP)
        count = len(read_jsonl(jsonl))
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= count + 30, 30) and daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, (daemon.returncode, err)
    assert "signal 1: reloading the model" in err and "model swap: now running bundle" in err
    assert "signal 15: stopping" in err and "stopped: " in err
    with open(jsonl) as handle:
        assert handle.read().endswith("\n")
