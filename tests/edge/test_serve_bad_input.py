"""Bad input never takes edge-serve down: each kind gets its answer (413, 400, 415, 503 with Retry-After,
401, a dropped connection), over real sockets, and the server answers normally afterwards; /metrics
counts it all in a form Prometheus' own parser reads."""

import glob
import json
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from tests.edge.serving import raw_connection, read_until_closed, serving


def png_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def image(export_images):
    return png_bytes(sorted(glob.glob(os.path.join(export_images, "green", "*.png")))[0])


@pytest.fixture(scope="module")
def server(export_fp32_bundle):
    with serving(export_fp32_bundle, model_name="colours", max_body_bytes=64 * 1024, client_timeout=1.0) as running:
        yield running


def assert_still_answers(server, image):
    status, _, answer = server.json("POST", "/v1/predict", image, {"Content-Type": "image/png"})
    assert status == 200 and answer["prediction"] == "green"
    assert server.request("GET", "/v2/health/ready")[0] == 200


def test_a_body_over_the_limit_gets_413_before_it_is_read(server, image):
    status, headers, answer = server.json("POST", "/v1/predict", b"\x89PNG" + b"x" * (100 * 1024),
                                          {"Content-Type": "image/png"})
    assert status == 413 and "over the limit of 65536" in answer["error"]
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    # A client that asks first (Expect: 100-continue) is told 413 and never asked for the body.
    with raw_connection(server.port) as sock:
        sock.sendall(b"POST /v2/models/colours/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n")
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 413") and b"100 Continue" not in reply
    assert_still_answers(server, image)


@pytest.mark.parametrize("body, content_type, code, message", [
    (b"this is not an image", "image/png", 400, "not a PNG"),
    (None, "image/png", 400, "cannot be decoded"),                 # a truncated PNG
    (None, "image/jpeg", 400, "not a JPEG (it looks like a PNG)"),
    (None, "text/plain", 415, "image/jpeg or image/png"),
    (None, None, 415, "image/jpeg or image/png"),
    (b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b--\r\n", "multipart/form-data; boundary=b",
     400, "no image file field"),
])
def test_an_image_that_cannot_be_used_is_a_json_error(server, image, body, content_type, code, message):
    if body is None:
        body = image[:60] if message == "cannot be decoded" else image
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = server.json("POST", "/v1/predict", body, headers)
    assert (status, message in answer["error"]) == (code, True), answer
    assert_still_answers(server, image)


def test_an_image_declaring_a_huge_size_is_refused_before_decoding(server, image):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # 60000 x 60000 pixels declared in a few hundred bytes: 10 GB once decoded.
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    status, _, answer = server.json("POST", "/v1/predict", bomb, {"Content-Type": "image/png"})
    assert status == 413 and "60000x60000" in answer["error"]
    assert_still_answers(server, image)


def infer_body(shape, datatype="FP32", data=None, binary=None):
    tensor = {"name": "input", "shape": shape, "datatype": datatype}
    if binary is not None:
        tensor["parameters"] = {"binary_data_size": len(binary)}
    else:
        tensor["data"] = data if data is not None else [0.0] * int(np.prod(shape))
    head = json.dumps({"inputs": [tensor]}).encode("utf-8")
    headers = {"Content-Type": "application/octet-stream"}
    if binary is not None:
        headers["Inference-Header-Content-Length"] = str(len(head))
        return head + binary, headers
    return head, headers


@pytest.mark.parametrize("body, message", [
    (infer_body([1, 3, 28, 28]), "input 'input' has shape [1, 3, 28, 28]: the model takes 'input' FP32 [N,3,32,32]"),
    (infer_body([0, 3, 32, 32]), "has shape [0, 3, 32, 32]"),
    (infer_body([1, 3, 32, 32], "UINT8"), "input 'input' is UINT8: the model takes 'input' FP32 [N,3,32,32]"),
    (infer_body([1, 3, 32, 32], data=[1.0, 2.0]), "'data' holds 2 values, shape [1, 3, 32, 32] needs 3072"),
    (infer_body([1, 3, 32, 32], data=["a"] * 3072), "'data' must be numbers"),
    (infer_body([1, 3, 32, 32], binary=b"\x00" * 100), "binary_data_size 100, but FP32 [1, 3, 32, 32] takes 12288"),
    ((b'{"inputs": [', {}), "not a JSON object"),
    ((b'{"inputs": []}', {"Inference-Header-Content-Length": "99"}), "does not fit a body of 14 bytes"),
    ((json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}).encode(), {}),
     "unknown input 'x'"),
    ((json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}],
                  "outputs": [{"name": "probs"}]}).encode(), {}), "unknown output 'probs': the model gives 'logits'"),
])
def test_a_wrong_tensor_is_a_400_naming_the_expected_shape_and_dtype(server, image, body, message):
    data, headers = body
    status, _, answer = server.json("POST", "/v2/models/colours/infer", data, headers)
    assert status == 400 and message in answer["error"], answer
    assert_still_answers(server, image)


def test_unknown_routes_models_and_methods(server, image):
    assert server.json("GET", "/v2/models/other")[0] == 404
    assert server.json("GET", "/v2/models/colours/versions/2")[0] == 404
    status, headers, answer = server.json("GET", "/v1/predict")
    assert status == 405 and headers["allow"] == "POST" and "takes POST" in answer["error"]
    assert server.json("DELETE", "/v2")[0] == 405
    assert server.json("GET", "/nope")[0] == 404
    assert_still_answers(server, image)


def test_a_request_over_keep_alive_and_errors_that_close_the_connection(server):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/v2/health/live")
    first = connection.getresponse()
    first.read()
    sock = connection.sock
    connection.request("GET", "/v2")
    second = connection.getresponse()
    assert (first.status, second.status) == (200, 200) and json.loads(second.read())["name"] == "edge-serve"
    assert connection.sock is sock        # the same connection answered both
    connection.close()


# ----- a full queue ----------------------------------------------------------------------------------
class GatedRunner(object):
    """The real runner, with a gate its infer waits on while closed (the model is 'busy')."""

    def __init__(self, runner):
        self.runner = runner
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def infer(self, batch):
        self.entered.set()
        assert self.gate.wait(60)
        return self.runner.infer(batch)


def test_a_full_queue_gets_503_with_retry_after_and_the_queued_requests_are_answered(export_fp32_bundle, image):
    gated = []
    with serving(export_fp32_bundle, model_name="colours", max_queue=2,
                 runner_wrapper=lambda runner: gated.append(GatedRunner(runner)) or gated[0]) as server:
        runner = gated[0]
        runner.gate.clear()
        runner.entered.clear()
        answers = []

        def client():
            answers.append(server.json("POST", "/v1/predict", image, {"Content-Type": "image/png"})[0])

        busy = [threading.Thread(target=client)]
        busy[0].start()
        assert runner.entered.wait(30)                        # one request in the model
        busy += [threading.Thread(target=client) for _ in range(2)]
        for thread in busy[1:]:
            thread.start()
        deadline = time.time() + 30
        while server.service.batcher.depth() < 2 and time.time() < deadline:
            time.sleep(0.01)
        assert server.service.batcher.depth() == 2            # two waiting: the queue is full
        status, headers, answer = server.json("POST", "/v1/predict", image, {"Content-Type": "image/png"})
        assert status == 503 and headers["retry-after"] == "1" and "busy" in answer["error"]
        status, headers, answer = server.json("POST", "/v2/models/colours/infer", *infer_body([1, 3, 32, 32]))
        assert status == 503 and headers["retry-after"] == "1"
        runner.gate.set()
        for thread in busy:
            thread.join(60)
        assert answers == [200, 200, 200]
        assert_still_answers(server, image)


# ----- slow clients ----------------------------------------------------------------------------------
def test_a_client_trickling_its_headers_is_dropped(server, image):
    before = server.telemetry.dropped_connections
    with raw_connection(server.port, timeout=30) as sock:
        stop = threading.Event()

        def trickle():   # one byte every 0.2 s: each read is quick, the request never completes
            for byte in b"GET /v2/health/live HTTP/1.1\r\nX-Padding: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        sender = threading.Thread(target=trickle)
        sender.start()
        try:
            assert read_until_closed(sock) == b""           # closed by the server, not by our 30 s timeout
        finally:
            stop.set()
            sender.join()
    assert server.telemetry.dropped_connections > before
    assert_still_answers(server, image)


def test_a_client_that_stalls_in_its_body_is_dropped(server, image):
    with raw_connection(server.port, timeout=30) as sock:
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
                     + image[:100])
        reply = read_until_closed(sock)                      # then silence
    assert b"200 OK" not in reply
    assert_still_answers(server, image)


# ----- a token -----------------------------------------------------------------------------------------
def test_with_a_token_only_the_health_checks_are_open(export_fp32_bundle, image):
    with serving(export_fp32_bundle, model_name="colours", token="s3cret-token") as server:
        status, headers, answer = server.json("POST", "/v1/predict", image, {"Content-Type": "image/png"})
        assert status == 401 and headers["www-authenticate"].startswith("Bearer") and "Bearer" in answer["error"]
        wrong = {"Content-Type": "image/png", "Authorization": "Bearer s3cret-tokeN"}
        assert server.json("POST", "/v1/predict", image, wrong)[0] == 401
        assert server.request("GET", "/metrics")[0] == 401
        assert server.request("GET", "/v2/models/colours")[0] == 401
        for open_route in ("/v2/health/live", "/v2/health/ready", "/healthz"):
            assert server.request("GET", open_route)[0] == 200, open_route
        good = {"Content-Type": "image/png", "Authorization": "Bearer s3cret-token"}
        status, _, answer = server.json("POST", "/v1/predict", image, good)
        assert status == 200 and answer["prediction"] == "green"
        assert server.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret-token"})[0] == 200


# ----- metrics -----------------------------------------------------------------------------------------
def test_metrics_count_requests_by_route_and_code_for_prometheus(server, image):
    from prometheus_client.parser import text_string_to_metric_families

    server.json("POST", "/v1/predict", image, {"Content-Type": "image/png"})
    server.json("POST", "/v1/predict", b"junk", {"Content-Type": "image/png"})
    server.json("GET", "/nope")
    status, headers, body = server.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    families = dict((family.name, family) for family in text_string_to_metric_families(body.decode("utf-8")))
    requests = dict(((s.labels["route"], s.labels["code"]), s.value) for s in families["edge_serve_requests"].samples)
    assert requests[("/v1/predict", "200")] >= 1 and requests[("/v1/predict", "400")] >= 1
    assert requests[("other", "404")] >= 1
    assert families["edge_serve_request_seconds"].type == "histogram"
    latency = [s for s in families["edge_serve_request_seconds"].samples
               if s.name.endswith("_count") and s.labels["route"] == "/v1/predict"]
    assert latency[0].value == sum(value for (route, _), value in requests.items() if route == "/v1/predict")
    batches = dict((s.name, s.value) for s in families["edge_serve_batch_size"].samples if not s.labels.get("le"))
    assert batches["edge_serve_batch_size_count"] >= 1
    assert families["edge_serve_queue_depth"].samples[0].value == 0
    assert families["edge_up"].samples[0].value == 1
    assert "edge_process_cpu_seconds" in families and "edge_cpu_percent" in families
    status, _, health = server.json("GET", "/healthz")
    assert status == 200 and health["state"] == "ok" and health["model"]["name"] == "colours"
