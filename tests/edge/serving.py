"""edge-serve for tests: the real service and HTTP front end on 127.0.0.1 (any free port), in this
process, around a bundle fixture; and small real-socket HTTP helpers."""

import contextlib
import http.client
import json
import os
import socket

from edge.bundle.bundle import Bundle
from edge.runners.select import make_runner
from edge.serve.http import ServeHttp
from edge.serve.metrics import ServeTelemetry
from edge.serve.service import InferenceService

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Server(object):
    def __init__(self, service, http, telemetry):
        self.service, self.http, self.telemetry = service, http, telemetry

    @property
    def port(self):
        return self.http.port

    @property
    def address(self):
        return "127.0.0.1:{}".format(self.http.port)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers dict with lower-case names, body bytes) over a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method, path, body=None, headers=None):
        status, headers, data = self.request(method, path, body, headers)
        return status, headers, json.loads(data.decode("utf-8")) if data else None


@contextlib.contextmanager
def serving(bundle_path, runtime="onnxruntime", precision="fp32", threads=1, model_name="model", max_batch=8,
            max_delay_ms=2.0, max_queue=64, runner_wrapper=None, **http_options):
    """A running edge-serve (service + HTTP) for `bundle_path`; runner_wrapper(runner) may wrap the runner."""
    bundle = Bundle.load(bundle_path)
    runner, _ = make_runner(bundle, runtime, precision, threads=threads, spinning=False)
    if runner_wrapper is not None:
        runner = runner_wrapper(runner)
    telemetry = ServeTelemetry()
    service = InferenceService(bundle, runner, model_name, telemetry, max_batch=max_batch,
                               max_delay_ms=max_delay_ms, max_queue=max_queue)
    service.start()
    front = ServeHttp(service, telemetry, host="127.0.0.1", port=0, **http_options).start()
    try:
        yield Server(service, front, telemetry)
    finally:
        front.stop_accepting()
        service.drain(0)
        front.close()
        service.close()


def raw_connection(port, timeout=30):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock):
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
