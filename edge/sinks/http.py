"""HTTP sink: the page at / (edge.sinks.page), /healthz, /metrics (Prometheus), /latest (JSON), /latest.jpg (the
newest frame, undrawn), /stream.mjpg (annotated preview) and, with a dataset folder (--dataset), tag and record:
GET /dataset (classes and counts), POST /dataset/class, /dataset/capture, /dataset/point, /dataset/undo, and
GET /dataset.tar.gz (streamed); edge.daemon.recorder writes the files. POST /model: a bundle .tar.gz for the live
swap (edge.sinks.model_upload).

Binds 127.0.0.1 by default: exposing it to the network is an explicit choice (--http-host), and then
--token-file (every route but /healthz needs the token; a browser logs in once at /login and gets a
session cookie) and --tls-cert/--tls-key (HTTPS) are the way to do it (edge.net.http_access).
The preview costs nothing while nobody watches: frames are annotated and JPEG-encoded only
when a client is connected, at most `preview_fps` times a second, once for all clients.
HEAD answers like GET, without the body (health checkers use it).

Bounded under bursts and unfriendly clients (edge.net.http_server, shared with edge-serve):
- request heads are read without holding a thread; a client that has not sent its whole request
  head within `request_timeout` (trickling or not) is dropped;
- a fixed pool of threads answers complete requests (max_preview_clients for viewers plus
  REQUEST_WORKERS), behind a queue of 256; beyond that a connection gets an immediate 503.
  /healthz and /metrics have two threads of their own: 300 stalled clients, or a full preview,
  do not delay them;
- a preview viewer gets the newest frame each time it has taken the last one (a slow viewer
  skips frames; nothing queues up for it), through a small send buffer (PREVIEW_SNDBUF), and is
  dropped when a frame has waited `max_lag_s` to go out. A viewer that stops reading frees its
  place within about 10 s: what the kernel buffers (our send buffer and the viewer's receive
  buffer, a few hundred KB, a second or three of preview), then max_lag_s (5 s).
"""

import socket
import struct
import threading
import time
from urllib.parse import parse_qs

from edge.errors import EdgeError
from edge.net.http_access import Access
from edge.net.http_replies import answer_healthz, answer_metrics, send, send_json
from edge.net.http_server import HttpServer, RequestHandler
from edge.util.lazy import require
from edge.sinks.base import Sink
from edge.sinks.dataset_routes import answer_dataset
from edge.sinks.model_upload import answer_upload
from edge.sinks.page import PAGE

BOUNDARY = "edgeframe"
REQUEST_WORKERS = 16            # threads for the short requests, beside one per preview viewer
PREVIEW_SNDBUF = 64 * 1024      # per-viewer send buffer (the kernel doubles it)
SEND_SLICE_S = 0.25             # a blocked preview write looks at the clock and the stop flag this often
LOGIN = """<!doctype html><title>edge-camera: log in</title><h1>edge-camera</h1><p>{}</p>
<form method="post" action="/login"><input type="password" name="token" autofocus
 placeholder="token (--token-file)"> <button>log in</button></form>"""
OPEN_ROUTES = ("/healthz", "/login", "/logout")   # health checkers and browsers need no token for these
MAX_FORM_BYTES = 4096


class HttpSink(Sink):
    name = "http"

    def __init__(self, telemetry, host="127.0.0.1", port=8080, preview_fps=10.0, max_preview_clients=8,
                 request_timeout=10.0, max_lag_s=5.0, viewers=None, access=None, dataset=None):
        """max_preview_clients: /stream.mjpg viewers at once (one pool thread each; more get 503).
        request_timeout: seconds a client may take to send its request (or to read a response)
        before its connection is dropped. max_lag_s: seconds one preview frame may wait to go out
        to a viewer before the viewer is dropped. viewers: told joined()/left() per preview viewer
        (edge.sources.scaling.ScaleDemand: the capture grows to a viewable size while one watches).
        access: an edge.net.http_access.Access (its token and TLS context); default open, plain HTTP.
        dataset: the folder the page tags and records into (edge.daemon.recorder), None: no recording."""
        super(HttpSink, self).__init__()
        self.telemetry = telemetry
        self.host, self.port = host, port
        self.preview_fps = preview_fps
        self.max_preview_clients = max_preview_clients
        self.request_timeout = request_timeout
        self.max_lag_s = max_lag_s
        self.viewers = viewers
        self.access = access or Access()
        self.workers = max_preview_clients + REQUEST_WORKERS
        self.max_threads = self.workers + 3  # the pool, the health lane's two, and the lane reading heads
        self.evicted = 0                     # preview viewers dropped for falling behind
        self.server = None
        self.latest = None
        self.clients = 0
        self._frame = None          # (version, frame, result) newest
        self._jpeg = (0, None)      # (version, bytes) encoded for the preview
        self._version = 0
        self._cond = threading.Condition()
        self.closing = False
        self.newest = None          # (frame, result): what /latest.jpg and a capture take, watched or not
        self.newest_jpeg = (None, None)
        self.recorder = None
        if dataset is not None:
            from edge.daemon.recorder import DatasetRecorder
            self.recorder = DatasetRecorder(dataset)

    def start(self):
        sink = self

        class Handler(RequestHandler):
            def do_GET(self):
                sink._route(self)

            def do_HEAD(self):
                sink._route(self, head=True)

            def do_POST(self):
                sink._route(self, post=True)

        try:
            self.server = HttpServer((self.host, self.port), Handler, workers=self.workers,
                                     head_timeout=self.request_timeout, tls=self.access.tls,
                                     open_lane=("/healthz", "/metrics"), name="http-sink")
        except (OSError, socket.error) as exc:
            raise EdgeError("cannot serve HTTP on {}:{} ({}); choose another --http-port".format(
                self.host, self.port, exc))
        self.port = self.server.server_address[1]
        self.server.start()

    @property
    def url(self):
        host = self.host if ":" not in self.host else "[{}]".format(self.host)
        return "{}://{}:{}".format(self.access.scheme, host, self.port)

    def publish(self, result, frame=None):
        self.latest = result
        self.published += 1
        if frame is not None:
            self.newest = (frame, result)
        if frame is not None and self.clients > 0:
            with self._cond:
                self._version += 1
                self._frame = (self._version, frame, result)
                self._cond.notify_all()

    def close(self, timeout=1.0):
        self.closing = True
        with self._cond:
            self._cond.notify_all()
        if self.server is not None:
            self.server.close(timeout)

    def health(self):
        serving = self.server is not None
        health = {"ok": serving, "connected": serving, "queued": 0, "dropped": 0, "delivered": self.published,
                  "published": self.published, "errors": self.errors, "url": self.url if serving else None,
                  "preview_clients": self.clients, "preview_evicted": self.evicted,
                  "busy_refused": self.server.refused if serving else 0,
                  "slow_dropped": self.server.dropped if serving else 0}
        if not serving:
            health["reason"] = "not serving"
        return health

    # ----- requests -------------------------------------------------------------------------------
    def _route(self, request, head=False, post=False):
        """One request; `head`: HEAD, the same status and headers as GET, no body."""
        path, _, query = request.path.partition("?")
        try:
            if path not in OPEN_ROUTES and not self.access.allows(request.headers):
                self._refuse(request, path, head)
            elif path in ("/login", "/logout"):
                self._login(request, path, query, post, head)
            elif path.startswith("/dataset"):
                answer_dataset(self, request, path, post, head)
            elif path == "/model" and post:
                answer_upload(self, request, head)
            elif post:
                send_json(request, 405, {"error": "POST goes to /login, /logout, /model or /dataset/..."}, head,
                          (("Allow", "GET"),))
            elif path == "/healthz":
                answer_healthz(request, self.telemetry, head)
            elif path == "/metrics":
                answer_metrics(request, self.telemetry, head)
            elif path == "/latest":
                if self.latest is None:
                    send_json(request, 404, {"error": "no result yet"}, head)
                else:
                    send_json(request, 200, self.latest, head)
            elif path == "/latest.jpg":
                self._latest_jpeg(request, head)
            elif path == "/stream.mjpg":
                if head:
                    self._stream_headers(request)
                else:
                    self._stream(request)
            elif path == "/":
                send(request, 200, "text/html; charset=utf-8", PAGE, head)
            else:
                send_json(request, 404, {"error": "not found", "path": path}, head)
        except (socket.error, IOError, OSError):
            pass  # the client went away

    def _refuse(self, request, path, head):
        """401: a login page for a browser's /, else JSON naming the two ways in."""
        if path == "/":
            send(request, 401, "text/html; charset=utf-8", LOGIN.format("This camera needs its token."), head,
                 self.access.challenge())
        else:
            send_json(request, 401, {"error": "this camera needs its token: 'Authorization: Bearer TOKEN', or log "
                                              "in at /login in a browser"}, head, self.access.challenge())

    def _login(self, request, path, query, post, head):
        """GET /login: the form (or ?token=...); POST /login token=...: the session cookie; /logout drops it."""
        if post:
            query = self.form_body(request, head)
            if query is None:
                return
        if path == "/logout":
            send(request, 303, "text/plain", "", head, (("Location", "/login"), ("Set-Cookie", self.access.logout())))
            return
        given = parse_qs(query).get("token")
        if given is None and not post:
            send(request, 200, "text/html; charset=utf-8", LOGIN.format("Log in with the camera's token."), head)
            return
        cookie = self.access.login(given[-1] if given else "")
        if self.access.token is None:
            send(request, 303, "text/plain", "", head, (("Location", "/"),))
        elif cookie is None:
            send(request, 401, "text/html; charset=utf-8", LOGIN.format("Wrong token."), head)
        else:
            send(request, 303, "text/plain", "", head, (("Location", "/"), ("Set-Cookie", cookie)))

    @staticmethod
    def form_body(request, head=False):
        """A POSTed form's text; None (400 sent) when its Content-Length is missing or over MAX_FORM_BYTES."""
        length = request.headers.get("Content-Length") or "0"
        length = int(length) if length.isdigit() else -1
        if not 0 <= length <= MAX_FORM_BYTES:
            send_json(request, 400, {"error": "a form needs a Content-Length up to {}".format(MAX_FORM_BYTES)}, head,
                      (("Connection", "close"),))
            return None
        return request.rfile.read(length).decode("utf-8", "replace")

    def _latest_jpeg(self, request, head):
        """The newest frame as it was captured, without drawing (the page draws the result itself)."""
        newest = self.newest
        if newest is None:
            send_json(request, 404, {"error": "no frame yet"}, head)
            return
        if self.newest_jpeg[0] is not newest[0]:
            cv2 = require("cv2", "the page's live view")
            self.newest_jpeg = (newest[0], cv2.imencode(".jpg", newest[0].image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
                                 .tobytes())
        send(request, 200, "image/jpeg", self.newest_jpeg[1], head)

    @staticmethod
    def _stream_headers(request):
        request.send_response(200)
        request.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
        request.send_header("Cache-Control", "no-store")
        request.end_headers()

    def _stream(self, request):
        with self._cond:
            full = self.clients >= self.max_preview_clients
            if not full:
                self.clients += 1
        if full:
            send_json(request, 503, {"error": "preview busy", "max_preview_clients": self.max_preview_clients})
            return
        if self.viewers is not None:
            self.viewers.joined()
        try:
            connection = request.connection
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PREVIEW_SNDBUF)
            self._stream_headers(request)
            request.wfile.flush()
            seen, next_due = 0, 0.0
            while not self.closing:
                with self._cond:
                    while not self.closing and (self._frame is None or self._frame[0] == seen):
                        self._cond.wait(0.5)
                    if self.closing:
                        break
                    version, frame, result = self._frame
                wait = next_due - time.time()
                if wait > 0:
                    time.sleep(wait)
                next_due = time.time() + 1.0 / self.preview_fps
                seen = version
                jpeg = self._encoded(version, frame, result)
                part = "--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n".format(
                    BOUNDARY, len(jpeg)).encode("ascii") + jpeg + b"\r\n"
                if not self._send_part(connection, part):
                    break
        finally:
            with self._cond:
                self.clients -= 1
            if self.viewers is not None:
                self.viewers.left()

    def _send_part(self, connection, data):
        """Write one preview part; False when the viewer is dropped (max_lag_s behind) or we stop."""
        connection.settimeout(SEND_SLICE_S)
        deadline = time.time() + self.max_lag_s
        view = memoryview(data)
        while view:
            if self.closing:
                return False
            try:
                view = view[connection.send(view):]
            except socket.timeout:
                if time.time() >= deadline:
                    self.evicted += 1
                    # Reset rather than close: what the viewer never read is thrown away at once.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return False
        return True

    def _encoded(self, version, frame, result):
        """The preview JPEG of `version`, encoded once however many clients watch."""
        with self._cond:
            if self._jpeg[0] == version:
                return self._jpeg[1]
        data = annotate_jpeg(frame.image, result, self.telemetry.fps())
        with self._cond:
            self._jpeg = (version, data)
        return data


def annotate_jpeg(image, result, fps):
    """The preview frame with the result drawn and captioned by its task (edge.tasks: the top-1 label and its
    probability, or a regression result's points drawn where they are, a ring and a cross at each), and the
    frame rate; JPEG bytes."""
    from edge.tasks.registry import task_of_result

    cv2 = require("cv2", "the MJPEG preview")
    canvas = image.copy()
    scale = max(0.4, canvas.shape[1] / 640.0)
    thickness = max(1, int(round(scale * 2)))
    task = task_of_result(result)
    caption = task.caption(canvas, result, scale, thickness) if task is not None else ""
    text = "{}  {:.1f} fps".format(caption, fps) if caption else "{:.1f} fps".format(fps)
    cv2.putText(canvas, text, (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2,
                cv2.LINE_AA)
    cv2.putText(canvas, text, (8, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes()
