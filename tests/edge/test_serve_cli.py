"""The edge-serve command as a process: SIGTERM drains the requests in flight and exits 0; usage
errors are one line with exit code 2; binding beyond loopback without a token is warned about."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from edge.net.http_access import is_loopback
from edge.serve.cli import main
from tests.edge.realparts import free_port
from tests.edge.serving import ROOT


def start_server(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "edge.serve"] + [str(a) for a in argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def get_json(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, ConnectionError):
        return None, None


def post_image(url, data, answers):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "image/png"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answers.append((response.status, json.loads(response.read().decode("utf-8"))))
    except urllib.error.HTTPError as error:
        answers.append((error.code, error.read()))


def test_sigterm_answers_the_requests_in_flight_then_exits_0(export_fused_int8_bundle, export_images):
    port = free_port()
    # Batches wait 10 s for company: only the drain can get these requests answered in time.
    server = start_server([export_fused_int8_bundle, "--port", port, "--max-batch", "4", "--max-delay-ms", "10000",
                           "--runtime", "onnxruntime", "--precision", "fp32", "--threads", "1"])
    base = "http://127.0.0.1:{}".format(port)
    answers, clients = [], []
    try:
        deadline = time.time() + 60
        while get_json(base + "/v2/health/ready")[0] != 200:
            assert server.poll() is None and time.time() < deadline, server.stderr.read()
            time.sleep(0.1)
        with open(os.path.join(export_images, "red", "red_000.png"), "rb") as handle:
            image = handle.read()
        clients = [threading.Thread(target=post_image, args=(base + "/v1/predict", image, answers)) for _ in range(3)]
        for thread in clients:
            thread.start()
        while (get_json(base + "/healthz")[1] or {}).get("in_flight") != 3:
            assert time.time() < deadline, "the requests never reached the batcher"
            time.sleep(0.05)
        signalled = time.time()
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
        took = time.time() - signalled
        for thread in clients:
            thread.join(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    err = server.stderr.read()
    print("drained and exited {:.2f} s after SIGTERM".format(took))
    assert code == 0, err
    assert [status for status, _ in answers] == [200, 200, 200], answers
    assert all(answer["prediction"] == "red" and answer["latency_ms"]["batch_size"] == 3 for _, answer in answers)
    assert "signal 15: draining" in err and "edge-serve: stopped" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--max-batch", "0"], "--max-batch must be a whole number from 1 to 1024"),
    (["--max-delay-ms", "-1"], "--max-delay-ms must be a number from 0 to 10000"),
    (["--port", "70000"], "--port must be a whole number from 0 to 65535"),
    (["--token-file", "/nonexistent/token"], "cannot read --token-file /nonexistent/token"),
    (["--model-name", "a/b"], "--model-name 'a/b'"),
    (["--mqtt-protocol", "4"], "argument --mqtt-protocol: invalid choice"),
])
def test_usage_errors_are_one_line(export_fp32_bundle, argv, message, capsys):
    assert main([export_fp32_bundle] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_an_empty_token_file_is_refused(export_fp32_bundle, tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("\n")
    assert main([export_fp32_bundle, "--token-file", str(token)]) == 2
    assert "must hold one token" in capsys.readouterr().err


def test_a_port_in_use_is_one_line(export_fp32_bundle, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert main([export_fp32_bundle, "--port", str(taken.getsockname()[1]), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot serve HTTP on 127.0.0.1:" in err and "choose another --port" in err and "Traceback" not in err


def test_binding_beyond_loopback_without_a_token_warns(export_fp32_bundle, capsys):
    # A host name that cannot resolve: the warning comes before binding, and nothing is bound.
    assert main([export_fp32_bundle, "--host", "edge-serve-test.invalid", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "warning: serving on edge-serve-test.invalid beyond this machine without a token" in err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("::")
