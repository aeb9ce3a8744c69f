"""Health that tells the truth: a sink that cannot deliver makes the daemon `degraded`, with the
reason, in /healthz, /metrics and the console; a real mosquitto that is down from the start, and
one that goes away mid-run."""

import json
import os
import re
import signal

import pytest

from edge.daemon.telemetry import Telemetry
from tests.edge.realparts import Broker, free_port, needs_ffmpeg, needs_mosquitto
from tests.edge.test_camera_daemon import get, start_daemon, wait_until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> ({(name, labels): value}, {name: type}). Strict: every line
    is a HELP, a TYPE or a sample, and every sample's family has a TYPE."""
    try:  # the real parser, where it is installed
        from prometheus_client.parser import text_string_to_metric_families
        list(text_string_to_metric_families(text))
    except ImportError:
        pass
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, "not a sample line: {!r}".format(line)
        name, labels = match.group(1), tuple(sorted(LABEL.findall(match.group(3) or "")))
        family = re.sub(r"_(sum|count)$", "", name)
        assert name in types or family in types, "no TYPE for {}".format(name)
        samples[(name, labels)] = float(match.group(4))
    return samples, types


def sink_metric(samples, name, sink):
    return samples.get((name, (("sink", sink),)))


class FakeSink(object):
    def __init__(self, name, health):
        self.name, self._health = name, health
        self.published, self.errors = health.get("delivered", 0), 0

    def health(self):
        return dict(self._health)


def test_a_sink_that_cannot_deliver_makes_the_state_degraded_with_the_reason():
    telemetry = Telemetry()
    telemetry.set_state("ok")
    telemetry.sinks = [
        FakeSink("jsonl", {"ok": True, "connected": True, "queued": 0, "dropped": 0, "delivered": 7}),
        FakeSink("mqtt", {"ok": False, "reason": "not connected to 127.0.0.1:1883", "connected": False,
                          "queued": 12, "dropped": 3, "delivered": 5}),
    ]
    snapshot = telemetry.snapshot()
    assert snapshot["state"] == "degraded" and "mqtt" in snapshot["reason"] and "1883" in snapshot["reason"]
    assert not telemetry.healthy()
    samples, types = parse_metrics(telemetry.render_prometheus())
    assert types["edge_sink_connected"] == "gauge" and types["edge_sink_queued"] == "gauge"
    assert types["edge_sink_dropped_total"] == "counter" and types["edge_sink_delivered_total"] == "counter"
    assert sink_metric(samples, "edge_sink_connected", "mqtt") == 0
    assert sink_metric(samples, "edge_sink_connected", "jsonl") == 1
    assert sink_metric(samples, "edge_sink_queued", "mqtt") == 12
    assert sink_metric(samples, "edge_sink_dropped_total", "mqtt") == 3
    assert sink_metric(samples, "edge_sink_delivered_total", "mqtt") == 5
    assert sink_metric(samples, "edge_sink_delivered_total", "jsonl") == 7
    assert samples[("edge_up", ())] == 0

    telemetry.sinks[1]._health.update(ok=True, connected=True, queued=0)
    assert telemetry.snapshot()["state"] == "ok" and telemetry.healthy()
    # A lost source stays the first reason; a failing sink is added to it.
    telemetry.set_state("degraded", "source stalled")
    telemetry.sinks[1]._health.update(ok=False)
    reason = telemetry.snapshot()["reason"]
    assert reason.startswith("source stalled") and "mqtt" in reason


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to simulate a full disk")
def test_a_json_lines_file_that_fails_reports_it_until_a_write_succeeds(tmp_path):
    from edge.sinks.jsonl import JsonLinesSink

    sink = JsonLinesSink("/dev/full")
    sink.start()
    for frame in range(3):
        sink.publish({"frame": frame})
    health = sink.health()
    assert health["ok"] is False and "/dev/full" in health["reason"] and sink.errors == 3
    sink.path = str(tmp_path / "ok.jsonl")  # the disk has room again (here: another file)
    sink.publish({"frame": 3})
    assert sink.health()["ok"] is True
    sink.close()


# ----- with a real daemon and a real broker --------------------------------------------------------
def _health(port):
    status, _, body = get("http://127.0.0.1:{}/healthz".format(port))
    return status, (json.loads(body.decode()) if status else {})


def _metrics(port):
    status, _, body = get("http://127.0.0.1:{}/metrics".format(port))
    return parse_metrics(body.decode())[0] if status == 200 else {}


def _daemon(bundle, video, http_port, mqtt_port, outbox):
    return start_daemon([bundle, "--source", video, "--realtime", "--loop", "--http-port", http_port,
                         "--mqtt-host", "127.0.0.1", "--mqtt-port", mqtt_port, "--mqtt-outbox", outbox,
                         "--log-every", "1"])


def _stop(daemon):
    daemon.send_signal(signal.SIGTERM)
    out, err = daemon.communicate(timeout=20)
    return err


@needs_ffmpeg
@needs_mosquitto
def test_a_broker_down_from_the_start_is_reported_as_degraded(export_int8_bundle, video, tmp_path):
    http_port, mqtt_port = free_port(), free_port()  # nothing listens on mqtt_port
    daemon = _daemon(export_int8_bundle, video, http_port, mqtt_port, tmp_path / "outbox.db")
    try:
        assert wait_until(lambda: _health(http_port)[1].get("frames", 0) >= 10, 30), "the daemon did not start"
        status, health = _health(http_port)
        assert status == 503 and health["state"] == "degraded", health
        assert "mqtt" in health["reason"] and str(mqtt_port) in health["reason"], health["reason"]
        samples = _metrics(http_port)
        assert sink_metric(samples, "edge_sink_connected", "mqtt") == 0
        assert sink_metric(samples, "edge_sink_queued", "mqtt") > 0
        assert sink_metric(samples, "edge_sink_delivered_total", "mqtt") == 0
        assert sink_metric(samples, "edge_sink_connected", "http") == 1
        assert samples[("edge_up", ())] == 0
        assert wait_until(lambda: False, 1.5) is False  # one status line at least (--log-every 1)
    finally:
        err = _stop(daemon)
    assert daemon.returncode == 0, err
    status_lines = [line for line in err.splitlines() if "| state " in line]
    assert status_lines and all("state degraded" in line and "mqtt" in line for line in status_lines[1:]), \
        status_lines
    assert re.search(r"\d+ results kept in the outbox", err.strip().splitlines()[-1]), err


@needs_ffmpeg
@needs_mosquitto
def test_a_broker_that_goes_away_mid_run_is_reported_and_recovers(export_int8_bundle, video, tmp_path):
    http_port, mqtt_port = free_port(), free_port()
    broker = Broker(mqtt_port).start()
    daemon = _daemon(export_int8_bundle, video, http_port, mqtt_port, tmp_path / "outbox.db")
    try:
        assert wait_until(lambda: (sink_metric(_metrics(http_port), "edge_sink_delivered_total", "mqtt") or 0) >= 10,
                          30), "nothing delivered"
        assert wait_until(lambda: _health(http_port)[1].get("state") == "ok", 10), _health(http_port)
        assert sink_metric(_metrics(http_port), "edge_sink_connected", "mqtt") == 1

        broker.stop()                   # the broker goes away...
        assert wait_until(lambda: _health(http_port)[1].get("state") == "degraded", 20), _health(http_port)
        assert "mqtt" in _health(http_port)[1]["reason"]
        assert wait_until(lambda: (sink_metric(_metrics(http_port), "edge_sink_queued", "mqtt") or 0) >= 10, 10)

        samples = _metrics(http_port)
        backlog = sink_metric(samples, "edge_sink_queued", "mqtt")
        delivered = sink_metric(samples, "edge_sink_delivered_total", "mqtt")
        broker.start()                  # ...and comes back: everything queued goes out, oldest first
        assert wait_until(lambda: _health(http_port)[1].get("state") == "ok", 30), _health(http_port)
        # Results keep coming at the video's rate, so the queue need not be empty at any one sample: the backlog
        # is out once that many more were delivered (the outbox sends the oldest first).
        assert wait_until(lambda: sink_metric(_metrics(http_port), "edge_sink_delivered_total", "mqtt") - delivered
                          >= backlog, 30), (backlog, delivered, _metrics(http_port))
        assert wait_until(lambda: sink_metric(_metrics(http_port), "edge_sink_queued", "mqtt") < backlog, 10)
        assert sink_metric(_metrics(http_port), "edge_sink_dropped_total", "mqtt") == 0
    finally:
        err = _stop(daemon)
        broker.cleanup()
    assert daemon.returncode == 0, err
    assert any("state degraded" in line and "mqtt" in line for line in err.splitlines()), err
    last = err.strip().splitlines()[-1]
    assert "went away" not in last and "stopped" in "\n".join(err.strip().splitlines()[-3:]), err


def test_cpu_percent_is_in_healthz_and_metrics(monkeypatch):
    """What the process costs, as top shows it, over the fps window: CPU seconds per wall second.

    Both clocks are driven by the test: on a loaded machine a busy loop gets any share of a core,
    so real time would make the figure (not the code) vary from run to run.
    """
    import edge.daemon.telemetry

    clock = {"wall": 1000.0, "cpu": 50.0}

    class Clock(object):
        @staticmethod
        def time():
            return clock["wall"]

    monkeypatch.setattr(edge.daemon.telemetry, "time", Clock)
    monkeypatch.setattr(edge.daemon.telemetry, "process_cpu_seconds", lambda: clock["cpu"])
    telemetry = Telemetry(fps_window_s=5.0)
    for _ in range(8):                                 # 8 s of frames, 0.75 CPU s each second
        clock["wall"] += 1.0
        clock["cpu"] += 0.75
        telemetry.observe_frame({"inference": 1.0})
    assert telemetry.snapshot()["cpu_percent"] == pytest.approx(75.0)
    for _ in range(3):                                 # two threads busy: 200%, as top shows it
        clock["wall"] += 1.0
        clock["cpu"] += 2.0
        telemetry.observe_frame({"inference": 1.0})
    assert telemetry.cpu_percent() == pytest.approx(100.0 * (3 * 2.0 + 2 * 0.75) / 5.0)
    text = telemetry.render_prometheus()
    assert "# TYPE edge_cpu_percent gauge" in text and "# TYPE edge_process_cpu_seconds_total counter" in text
    total = [line for line in text.splitlines() if line.startswith("edge_process_cpu_seconds_total ")][0]
    assert float(total.split()[1]) == pytest.approx(clock["cpu"])
    clock["wall"] += 10.0                              # idle: no CPU spent over the whole window
    assert telemetry.cpu_percent() == pytest.approx(0.0)


def test_process_cpu_seconds_counts_this_processs_work():
    import time

    from edge.util.cpu import process_cpu_seconds

    before = process_cpu_seconds()
    started = time.process_time()
    while time.process_time() - started < 0.3:        # CPU time, not wall time: holds on a loaded machine
        sum(i * i for i in range(2000))
    assert process_cpu_seconds() - before >= 0.25


def test_the_daemons_runner_does_not_spin_but_benchmarks_may(export_int8_bundle):
    from edge.bundle.bundle import Bundle
    from edge.runners.select import make_runner

    bundle = Bundle.load(export_int8_bundle)
    for spinning, expected in ((False, "0"), (True, "1")):
        runner, _ = make_runner(bundle, "onnxruntime", "fp32", spinning=spinning)
        with runner:
            options = runner.session.get_session_options()
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
