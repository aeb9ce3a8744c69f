"""edge-serve's HTTP front end: the KServe v2 REST protocol, /v1/predict, /healthz and /metrics.

    GET  /v2/health/live, /v2/health/ready        200 when live / ready (no token needed)
    GET  /v2                                      server metadata (name, version, extensions)
    GET  /v2/models/NAME[/versions/1]             model metadata: input and output name, datatype, shape
    GET  /v2/models/NAME[/versions/1]/ready
    POST /v2/models/NAME[/versions/1]/infer       the model input tensor (JSON or binary) -> logits
    GET  /v2/models/NAME[/versions/1]/config      Triton's model configuration as JSON (what config.pbtxt says)
    POST /v2/repository/index                     Triton's repository index: the models, their state
    GET  /v2/models[/NAME[/versions/1]]/stats     Triton's statistics: counts and times, per model
    POST /v1/predict[?top_k=K]                    a JPEG/PNG body or multipart form -> top-k labels
    GET  /healthz (no token needed), /metrics     as edge-camera's (edge.net.http_replies)

Standard library only (http.server's parsing), on the server core edge-camera's HTTP sink uses too
(edge.net.http_server): request heads are read without holding a worker, a fixed pool of threads answers
complete requests, and the health checks and /metrics have threads of their own. HTTP/1.1 with
keep-alive (an idle connection holds no thread); HTTPS with --tls-cert and --tls-key. Every
error is JSON, {"error": "..."}, as KServe clients read it. Bad
input never takes the server down:
- a body over --max-body-bytes gets 413 before it is read (a client sending "Expect:
  100-continue" is never told to go on); a missing Content-Length 411;
- a request that cannot be used gets 400 saying why (the tensor the model takes, an image that
  cannot be decoded), an unknown route 404, a wrong method 405, another media type 415;
- a full queue, or a service shutting down, gets 503 with Retry-After;
- a client that takes longer than --client-timeout to send its request line and headers, or
  its body (plus a second per 64 KiB of it), is disconnected, trickling or not; so is a
  keep-alive connection idle that long;
- with --token-file, every route but the health checks needs "Authorization: Bearer TOKEN" (401),
  or the browser session cookie of edge.net.http_access.
"""

import functools
import json
import socket
import threading
import time
from urllib.parse import parse_qs

from edge.version import __version__
from edge.errors import EdgeError
from edge.net.http_access import Access
from edge.net.http_replies import JSON, answer_healthz, answer_metrics, send, send_json
from edge.net.http_server import HttpServer, RequestHandler
from edge.serve import images, triton_views
from edge.serve.errors import RequestError
from edge.serve.service import MODEL_VERSION
from edge.serve.tensors import encode_response, parse_request

REQUEST_WORKERS = 16          # threads beyond those that can wait on inference: health checks, metrics, uploads
MIN_UPLOAD_RATE = 64 * 1024   # bytes a second a body upload is allowed, beyond --client-timeout
OPEN_ROUTES = ("/v2/health/live", "/v2/health/ready", "/healthz")   # probes need no token
CLOSE = (("Connection", "close"),)


class ClientDropped(Exception):
    """The client did not send what it announced in time."""


class ServeHttp(object):
    def __init__(self, service, telemetry, host="127.0.0.1", port=8000, token=None, max_body_bytes=8 * 2 ** 20,
                 client_timeout=10.0, log=None, tls=None):
        """token: the bearer token (None: open); tls: an ssl.SSLContext (edge.net.http_access.tls_context) or None."""
        self.service = service
        self.telemetry = telemetry
        self.host, self.port = host, port
        self.token = token
        self.access = Access(token, tls, realm="edge-serve")
        self.max_body_bytes = int(max_body_bytes)
        self.client_timeout = float(client_timeout)
        self.log = log or (lambda text: None)
        self.workers = service.waiting_threads + REQUEST_WORKERS   # fixed: not one per --max-queue slot
        self.server = None
        self._active = 0               # requests being answered
        self._cond = threading.Condition()
        self.draining = False

    # ----- lifecycle ------------------------------------------------------------------------------
    def start(self):
        self.server = HttpServer((self.host, self.port), self._handler_class(), workers=self.workers,
                                 head_timeout=self.client_timeout, tls=self.access.tls,
                                 open_lane=OPEN_ROUTES + ("/metrics",), on_drop=self.telemetry.connection_dropped,
                                 name="serve-http")
        self.port = self.server.server_address[1]
        self.server.start()
        return self

    @property
    def url(self):
        host = self.host if ":" not in self.host else "[{}]".format(self.host)
        return "{}://{}:{}".format(self.access.scheme, host, self.port)

    def stop_accepting(self):
        """No new connections; requests already arriving are answered (inference ones 503 once draining)."""
        self.draining = True
        if self.server is not None:
            self.server.stop_accepting()

    def wait_idle(self, deadline):
        """Wait until no request is being answered, or `deadline` (time.time()); True when idle."""
        with self._cond:
            while self._active and time.time() < deadline:
                self._cond.wait(max(0.01, deadline - time.time()))
            return self._active == 0

    def close(self):
        """Close every connection (keep-alive ones waiting for a next request too) and stop the threads."""
        if self.server is not None:
            self.server.close(timeout=0.5)

    # ----- connections ----------------------------------------------------------------------------
    def _handler_class(self):
        front = self

        class Handler(RequestHandler):
            protocol_version = "HTTP/1.1"
            body_read = False

            def version_string(self):
                return "edge-serve/" + __version__

            def handle_expect_100(self):
                # "100 Continue" only for a body we will read: else the final answer (413, 401) comes first.
                if front._body_wanted(self):
                    return RequestHandler.handle_expect_100(self)
                return True

            def do_GET(self):
                front._handle(self, "GET")

            def do_HEAD(self):
                front._handle(self, "HEAD")

            def do_POST(self):
                front._handle(self, "POST")

            def do_PUT(self):
                front._handle(self, "PUT")

            def do_DELETE(self):
                front._handle(self, "DELETE")

        return Handler

    # ----- requests -------------------------------------------------------------------------------
    def _handle(self, request, method):
        started = time.perf_counter()
        head = method == "HEAD"
        route, code = "other", 500
        with self._cond:
            self._active += 1
        try:
            route, answer = self._route(method, request.path.split("?", 1)[0])
            if route not in OPEN_ROUTES:
                self._authorize(request)
            code = answer(request, head)
        except RequestError as exc:
            code = exc.code
            self._refuse(request, exc, head)
        except ClientDropped:
            code = 408
            request.close_connection = True
        except (socket.error, OSError):   # the client went away while we answered
            code = 499
            request.close_connection = True
        except Exception as exc:  # a bug must cost one request its answer, never the server
            code = 500
            self.log("internal error on {} {}: {!r}".format(method, route, exc))
            self._refuse(request, RequestError(500, "internal error: {}".format(exc)), head)
        finally:
            self.telemetry.observe_request(route, code, time.perf_counter() - started)
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _refuse(self, request, error, head):
        headers = error.headers
        if (request.command == "POST" and not request.body_read) or self.draining:
            headers += CLOSE   # an unread body must not be taken for the next request
        try:
            send_json(request, error.code, {"error": error.message}, head, headers)
        except (socket.error, OSError):
            request.close_connection = True

    def _route(self, method, path):
        """(route template, answer(request, head) -> status code); RequestError 404 or 405."""
        parts = [part for part in path.split("/") if part]
        fixed = {"/v2/health/live": ("GET", self._live), "/v2/health/ready": ("GET", self._ready),
                 "/v2": ("GET", self._server_metadata), "/v1/predict": ("POST", self._predict),
                 "/v2/repository/index": ("POST", self._repository_index), "/v2/models/stats": ("GET", self._stats),
                 "/healthz": ("GET", self._healthz), "/metrics": ("GET", self._metrics)}
        key = "/" + "/".join(parts)
        if key in fixed:
            wanted, answer = fixed[key]
            return key, self._method(key, method, wanted, answer)
        if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
            rest = parts[3:]
            if rest[:1] == ["versions"]:
                if len(rest) < 2 or rest[1] != "1":
                    raise RequestError(404, "model {!r} has version 1 only".format(parts[2]))
                rest = rest[2:]
            action = {(): ("/v2/models/{model}", "GET", self._model_metadata),
                      ("ready",): ("/v2/models/{model}/ready", "GET", self._model_ready),
                      ("infer",): ("/v2/models/{model}/infer", "POST", self._infer),
                      ("config",): ("/v2/models/{model}/config", "GET", self._model_config),
                      ("stats",): ("/v2/models/{model}/stats", "GET", self._stats)}.get(tuple(rest))
            if action is not None:
                model = triton_views.check_model(self.service, parts[2])
                route, wanted, answer = action
                return route, self._method(route, method, wanted, functools.partial(answer, model=model))
        raise RequestError(404, "no route {}: see edge-serve --help".format(path))

    @staticmethod
    def _method(route, method, wanted, answer):
        if method == wanted or (method == "HEAD" and wanted == "GET"):
            return answer
        raise RequestError(405, "{} takes {}, not {}".format(route, wanted, method), headers=(("Allow", wanted),))

    def _authorize(self, request):
        if not self.access.allows(request.headers):
            raise RequestError(401, "this server needs a bearer token: Authorization: Bearer TOKEN",
                               headers=self.access.challenge())

    def _body_wanted(self, request):
        """True when a POST's body will be read: a known route, authorised, and not over the limit."""
        try:
            self._route(request.command, request.path.split("?", 1)[0])
            self._authorize(request)
            return int(request.headers.get("Content-Length", "0")) <= self.max_body_bytes
        except (RequestError, ValueError):
            return False

    def _read_body(self, request):
        if request.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            raise RequestError(411, "send the body with a Content-Length (chunked transfer encoding is not supported)")
        text = request.headers.get("Content-Length")
        if text is None:
            raise RequestError(411, "a Content-Length header is needed")
        try:
            length = int(text)
        except ValueError:
            length = -1
        if length < 0:
            raise RequestError(400, "Content-Length {!r} is not a size".format(text))
        if length > self.max_body_bytes:
            raise RequestError(413, "the request body is {} bytes, over the limit of {} (--max-body-bytes)".format(
                length, self.max_body_bytes))
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise RequestError(415, "Content-Encoding {!r} is not supported: send the body uncompressed".format(
                request.headers.get("Content-Encoding")))
        request.rfile.deadline = time.time() + self.client_timeout + float(length) / MIN_UPLOAD_RATE
        try:
            data = request.rfile.read(length)
        except socket.timeout:
            self.telemetry.connection_dropped()
            raise ClientDropped()
        if len(data) < length:
            raise ClientDropped()
        request.body_read = True
        return data

    # ----- answers --------------------------------------------------------------------------------
    def _live(self, request, head):
        send(request, 200, JSON, b"", head)
        return 200

    def _ready(self, request, head):
        if not self.service.accepting:
            raise RequestError(503, "not ready: {}".format("shutting down" if self.service.draining else "starting"))
        send(request, 200, JSON, b"", head)
        return 200

    def _model_ready(self, request, head, model):
        return self._ready(request, head)

    def _server_metadata(self, request, head):
        send_json(request, 200, self.service.server_metadata(), head)
        return 200

    def _model_metadata(self, request, head, model):
        send_json(request, 200, self.service.model_metadata(model), head)
        return 200

    def _model_config(self, request, head, model):
        send_json(request, 200, triton_views.model_config(self.service, model), head)
        return 200

    def _stats(self, request, head, model=None):
        send_json(request, 200, triton_views.statistics(self.service, model), head)
        return 200

    def _repository_index(self, request, head):
        ready_only = False
        if request.headers.get("Content-Length") is not None or request.headers.get("Transfer-Encoding"):
            body = self._read_body(request)   # (a POST with neither header has no body)
            try:
                options = json.loads(body.decode("utf-8")) if body.strip() else {}
            except ValueError as exc:
                raise RequestError(400, "the repository index request is not JSON: {}".format(exc))
            if not isinstance(options, dict) or not isinstance(options.get("ready", False), bool):
                raise RequestError(400, 'the repository index request takes {"ready": true|false}')
            ready_only = options.get("ready", False)
        else:
            request.body_read = True
        send_json(request, 200, triton_views.repository_index(self.service, ready_only), head)
        return 200

    def _healthz(self, request, head):
        return answer_healthz(request, self.telemetry, head)

    def _metrics(self, request, head):
        answer_metrics(request, self.telemetry, head)
        return 200

    def _infer(self, request, head, model):
        body = self._read_body(request)
        service = self.service
        parsed = parse_request(body, request.headers.get("Inference-Header-Content-Length"),
                               service.model_input_spec(model), service.output)
        problem = service.bundle.task.kserve_classification_problem(service.bundle) if parsed.classification else None
        if problem:
            raise RequestError(400, problem)
        logits = service.infer(parsed.rows, model=model)
        data, content_type, headers = encode_response(model, MODEL_VERSION, parsed, logits,
                                                      service.output, service.bundle.classes)
        send(request, 200, content_type, data, head, headers + (CLOSE if self.draining else ()))
        return 200

    def _predict(self, request, head):
        top_k = self._top_k(request.path.partition("?")[2])
        body = self._read_body(request)
        data, _ = images.image_bytes(request.headers.get("Content-Type"), body)
        service = self.service
        rows, image_hw = service.prepare_image(data)
        pending = service.submit(rows)
        outputs = service.answer(pending)
        result = service.result(outputs[0], image_hw, top_k, pending)
        send_json(request, 200, result, head, CLOSE if self.draining else ())
        return 200

    def _top_k(self, query):
        from edge.options.ranges import check

        values = parse_qs(query).get("top_k")
        if not values:
            return None
        try:
            return check("top_k", values[-1], where="top_k")
        except EdgeError as exc:
            raise RequestError(400, str(exc))

