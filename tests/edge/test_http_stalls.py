"""Health that no client can starve (issue 23, item 2): the stalled-connection drill, with real sockets on
127.0.0.1, against edge-camera's HTTP sink and edge-serve.

300 clients connect and send half a request head, then hold (each one the server drops reconnects at
once, so 300 stall all along); a client sends its head a byte a second. Meanwhile /healthz is asked
ten times a second on fresh connections. Before: both daemons handed each connection to a worker that
blocked reading its head, so /healthz waited behind the stalled clients (503, then nothing), and the
trickling client was never dropped (each byte restarted the per-read timeout)."""

import selectors
import socket
import statistics
import threading
import time

from edge.sinks.http import HttpSink
from edge.daemon.telemetry import Telemetry

STALLED = 300
HEAD_TIMEOUT = 3.0     # the daemons' header timeout in this drill (10 s by default)
DRILL_S = 8.0          # more than two header timeouts: the stalled clients come back after each drop
PARTIAL = b"GET /latest HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: stall"


class Stallers(object):
    """`count` connections holding half a request head; one the server drops is replaced at once (one it
    answers, 503 busy, is not: a client told to come back later does)."""

    def __init__(self, port, count=STALLED):
        self.port, self.count = port, count
        self.reconnects = self.refused = 0
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="client-stallers")

    def __enter__(self):
        for _ in range(self.count):
            self._open()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _open(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(PARTIAL)
        except OSError:
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)

    def _run(self):
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.05):
                try:
                    answer = key.fileobj.recv(4096)   # the server's close, or a 503
                except OSError:
                    answer = b""
                self._selector.unregister(key.fileobj)
                key.fileobj.close()
                if answer:
                    self.refused += 1
                else:
                    self.reconnects += 1
                    self._open()


def ask_healthz(port, timeout, path="/healthz"):
    """Seconds until a whole answer to GET `path` came on a fresh connection (`timeout` when none came), and its
    status."""
    started = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return timeout, None
    status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/") else None
    return time.time() - started, status


class SlowSender(threading.Thread):
    """One byte of a request head a second; `dropped_after`: seconds from connecting to the server's close."""

    def __init__(self, port):
        threading.Thread.__init__(self, name="client-slow")
        self.port, self.dropped_after = port, None
        self._done = threading.Event()

    def run(self):
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
            started = time.time()
            for byte in head:
                try:
                    sock.send(bytes([byte]))
                    if sock.recv(1) == b"":
                        break                     # closed by the server
                except socket.timeout:
                    continue                      # a second has passed: the next byte
                except OSError:
                    break                         # reset by the server
                if self._done.is_set():
                    return
            self.dropped_after = time.time() - started

    def stop(self):
        self._done.set()


def drill(port):
    """Stall 300 connections and trickle one for DRILL_S; the answer times and statuses of /healthz (and,
    every fourth time, /metrics), and the trickling client's drop time."""
    times, statuses = [], []
    slow = SlowSender(port)
    with Stallers(port) as stallers:
        slow.start()
        ends = time.time() + DRILL_S
        while time.time() < ends:
            path = "/metrics" if len(times) % 4 == 3 else "/healthz"
            took, status = ask_healthz(port, timeout=max(0.5, ends + 2 - time.time()), path=path)
            times.append(took)
            statuses.append(status)
            time.sleep(max(0.0, 0.1 - took))
        slow.stop()
        slow.join(15)
        reconnects, refused = stallers.reconnects, stallers.refused
    worst, median = max(times), statistics.median(times)
    print("\n/healthz and /metrics under {} stalled connections ({} dropped and reconnected, {} refused): "
          "{} answers, median {:.3f} s, worst {:.3f} s; statuses {}; the 1 byte/s sender dropped after {}".format(
              STALLED, reconnects, refused, len(times), median, worst, sorted(set(statuses), key=str),
              "{:.1f} s".format(slow.dropped_after) if slow.dropped_after is not None else "never"))
    return times, statuses, slow.dropped_after


def check(times, statuses, dropped_after):
    assert statuses and all(status == b"200" for status in statuses), statuses
    assert statistics.median(times) < 1.0, times    # the bar: within 1 s
    assert max(times) < 2.0, times                  # every time, with room for a loaded 2-core machine
    assert dropped_after is not None and dropped_after < HEAD_TIMEOUT + 2.0, dropped_after


def test_camera_healthz_answers_within_a_second_while_300_connections_stall():
    telemetry = Telemetry()
    telemetry.set_state("ok")
    sink = HttpSink(telemetry, port=0, request_timeout=HEAD_TIMEOUT)
    sink.start()
    try:
        check(*drill(sink.port))
        assert sink.health()["slow_dropped"] >= STALLED   # every stalled client was dropped at its deadline
    finally:
        sink.close()


def test_serve_healthz_answers_within_a_second_while_300_connections_stall(export_fp32_bundle):
    from tests.edge.serving import serving

    with serving(export_fp32_bundle, model_name="colours", client_timeout=HEAD_TIMEOUT) as server:
        check(*drill(server.port))
        assert server.telemetry.dropped_connections >= STALLED


def test_idle_keep_alive_connections_hold_no_worker(export_fp32_bundle):
    """200 keep-alive connections, each idle after one answer, while the pool has far fewer threads."""
    import http.client

    from tests.edge.serving import serving

    with serving(export_fp32_bundle, model_name="colours", client_timeout=30.0, max_queue=8, max_batch=1) as server:
        idle = []
        try:
            for _ in range(200):
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                connection.request("GET", "/v2/health/live")
                assert connection.getresponse().read() == b""
                idle.append(connection)
            assert server.http.workers < 200
            took, status = ask_healthz(server.port, timeout=10)
            assert status == b"200" and took < 1.0, took
            started = time.time()
            status = server.request("GET", "/v2", timeout=10)[0]   # the pool, not the health threads
            assert status == 200 and time.time() - started < 1.0
            idle[0].request("GET", "/v2/health/ready")           # an idle connection still works
            assert idle[0].getresponse().status == 200
        finally:
            for connection in idle:
                connection.close()


def test_a_head_too_large_gets_431_and_the_server_goes_on():
    from edge.net.http_server import MAX_HEAD

    sink = HttpSink(Telemetry(), port=0, request_timeout=HEAD_TIMEOUT)
    sink.start()
    try:
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD + 100))
            try:
                answer = sock.recv(100)
            except ConnectionResetError:   # closed with our last bytes unread: the kernel may drop the answer
                answer = b"HTTP/1.0 431 (reset)"
            assert answer.startswith(b"HTTP/1.0 431"), answer
        assert ask_healthz(sink.port, timeout=5)[1] is not None
    finally:
        sink.close()


def test_more_stalled_clients_than_the_lane_holds_still_let_a_health_check_in():
    """Past max_connections, each new connection closes the one that has waited longest."""
    from edge.net.http_server import HttpServer, RequestHandler

    class Handler(RequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = HttpServer(("127.0.0.1", 0), Handler, workers=2, head_timeout=30, max_connections=50).start()
    port = server.server_address[1]
    try:
        with Stallers(port, count=120):   # more than the lane holds, each replaced when evicted
            time.sleep(0.5)
            took, status = ask_healthz(port, timeout=10)
            assert status == b"200" and took < 1.0, took
        assert server.evicted >= 70
    finally:
        server.close()
