"""Replies shared by edge-camera's and edge-serve's HTTP servers: a whole response in one call,
and the /healthz and /metrics answers both give.

/healthz answers the service's snapshot as JSON: 200 when its state is "ok", else 503 (a health
checker needs no parsing). /metrics answers the Prometheus text format. HEAD gets the same status
and headers, without the body.
"""

import json

from edge.net.prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE

JSON = "application/json"


def send(request, code, content_type, body, head=False, headers=()):
    """Status, headers (Content-Length always: keep-alive clients need it) and body of one response.

    body: str (sent as UTF-8) or bytes. headers: more (name, value) pairs.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    request.send_response(code)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    request.send_header("Cache-Control", "no-store")
    for name, value in headers:
        request.send_header(name, value)
    request.end_headers()
    if not head:
        request.wfile.write(data)


def send_json(request, code, document, head=False, headers=()):
    send(request, code, JSON, json.dumps(document), head, headers)


def answer_healthz(request, telemetry, head=False):
    """The snapshot, 200 when its state is "ok", else 503; returns the status code."""
    snapshot = telemetry.snapshot()
    code = 200 if snapshot["state"] == "ok" else 503
    send_json(request, code, snapshot, head)
    return code


def answer_metrics(request, telemetry, head=False):
    send(request, 200, METRICS_CONTENT_TYPE, telemetry.render_prometheus(), head)
