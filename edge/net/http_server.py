"""The HTTP server core of edge-camera's HTTP sink and edge-serve: no client holds a worker with a request it has
not finished sending.

Before, each connection took a worker that blocked reading the request head, with a socket timeout per
read: 300 clients sending half a request held all 24 workers of edge-camera, 10 s each, and /healthz went
unanswered for about 110 s; a client sending a byte a second was never dropped. Here:
- one thread, the lane, accepts connections and reads request heads (and does TLS handshakes) without
  blocking, through a selector. A connection must finish its head within `head_timeout` of connecting
  (or of its previous answer, on keep-alive), however the bytes trickle, or it is closed and counted
  (`dropped`, `on_drop`);
- only a complete head goes to a worker: a fixed pool behind a queue of `pending`, an immediate 503
  beyond it. The `open_lane` routes (GET or HEAD /healthz, /metrics) have LANE_WORKERS threads of their
  own: preview viewers or slow uploads holding the pool do not delay them;
- a worker answers one request; a keep-alive connection then goes back to the lane for its next head;
- a read past the head (a body) has a deadline too: `head_timeout` from the head, unless the handler
  sets `request.rfile.deadline` (edge-serve gives large uploads longer);
- at most `max_connections` connections wait in the lane; one more closes the one waiting longest, so
  a flood of stalled clients cannot lock a health checker out.
Standard library only (selectors, socket, ssl, http.server's parsing): Python 3.6 on a Jetson.
"""

import collections
import errno
import queue
import selectors
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

BACKLOG = 256                 # the kernel caps it at net.core.somaxconn (128 on Ubuntu 18.04)
PENDING = 256                 # complete requests waiting for a worker; more get 503 at once
LANE_WORKERS = 2              # threads answering the open_lane routes only
LANE_PENDING = 64
MAX_CONNECTIONS = 512         # connections the lane reads heads of at once (file descriptors: systemd's 1024)
MAX_HEAD = 64 * 1024 + 8192   # a request line and headers larger than this get 431
RECV_BYTES = 65536
TICK_S = 0.05                 # how often the lane looks at the deadlines
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 26\r\n"
        b"Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\": \"server busy\"}\r\n")
TOO_LARGE = (b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
             b"Content-Length: 38\r\nConnection: close\r\n\r\n{\"error\": \"request headers too large\"}\r\n")


class RequestHandler(BaseHTTPRequestHandler):
    """One request per instance, on a connection whose head the lane has read (http.server parses it)."""

    def setup(self):
        self.connection = self.request.sock
        self.rfile = self.request
        self.wfile = _Writer(self.request.sock)

    def handle(self):
        self.close_connection = True
        self.handle_one_request()

    def finish(self):
        pass   # writes are not buffered; the server closes the connection or keeps it for the next request

    def log_message(self, *args):
        pass   # no per-request lines in the journal


class _Writer(object):
    closed = False

    def __init__(self, sock):
        self.write, self.flush = lambda data: sock.sendall(data) or len(data), lambda: None


class Connection(object):
    """A client's socket with the bytes read and not used yet. It is the handler's rfile too: readline() and
    read() take the buffered bytes first, then read the socket until `deadline` (time.time(); None: none)."""

    def __init__(self, sock, address, deadline):
        self.sock, self.address, self.deadline = sock, address, deadline
        self.buffer = bytearray()
        self.handshaking = False
        self.io_timeout = None

    def head_complete(self):
        while self.buffer[:1] in (b"\r", b"\n"):   # blank lines between requests
            del self.buffer[:1]
        return b"\r\n\r\n" in self.buffer or b"\n\n" in self.buffer

    def target(self):
        """The path of a GET or HEAD request (query cut), else None."""
        words = bytes(self.buffer[:self.buffer.find(b"\n")]).split()
        if len(words) >= 2 and words[0] in (b"GET", b"HEAD"):
            return words[1].split(b"?", 1)[0].decode("latin-1")
        return None

    def readline(self, limit=-1):
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if 0 <= limit <= len(self.buffer) or not self._fill():
                return self._take(len(self.buffer) if limit < 0 else limit)

    def read(self, size=-1):
        while (size < 0 or len(self.buffer) < size) and self._fill():
            pass
        return self._take(len(self.buffer) if size < 0 else size)

    def close(self):
        pass   # the server closes the socket

    def _take(self, count):
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def _fill(self):
        timeout = self.io_timeout
        if self.deadline is not None:
            left = self.deadline - time.time()
            if left <= 0:
                raise socket.timeout("the client took too long to send its request")
            timeout = left if timeout is None else min(left, timeout)
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(RECV_BYTES)
        finally:
            self.sock.settimeout(self.io_timeout)
        self.buffer += chunk
        return bool(chunk)


def listen(address):
    """A non-blocking listening socket on (host, port), IPv4 or IPv6; OSError when it cannot be had."""
    host, port = address
    family, kind, proto, _, where = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpServer(object):
    def __init__(self, address, handler_class, workers, head_timeout=10.0, tls=None, open_lane=(),
                 pending=PENDING, max_connections=MAX_CONNECTIONS, on_drop=None, name="http"):
        """Binds at once (OSError when it cannot); start() serves. tls: an ssl.SSLContext, or None for plain HTTP."""
        self.handler_class, self.workers, self.head_timeout = handler_class, int(workers), float(head_timeout)
        self.tls, self.open_lane, self.name = tls, frozenset(open_lane), name
        self.max_connections, self.on_drop = max_connections, on_drop or (lambda: None)
        self.refused = self.dropped = self.evicted = 0
        self.threads = self.workers + LANE_WORKERS + 1
        self._queues = {"pool": queue.Queue(pending), "lane": queue.Queue(LANE_PENDING)}
        self._waiting = set()                     # connections the lane reads the heads of
        self._returned = collections.deque()      # keep-alive connections a worker has answered
        self._started, self._closing, self._accepting = [], False, True
        self._next_expiry = 0.0
        self.listener = listen(address)
        self.server_address = self.listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()   # workers wake the lane through it
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)

    def start(self):
        targets = [(self._lane, (), "lane")]
        targets += [(self._work, ("pool",), str(index)) for index in range(self.workers)]
        targets += [(self._work, ("lane",), "health-{}".format(index)) for index in range(LANE_WORKERS)]
        for target, args, suffix in targets:
            self._started.append(threading.Thread(target=target, args=args, name="{}-{}".format(self.name, suffix)))
            self._started[-1].daemon = True
            self._started[-1].start()
        return self

    def stop_accepting(self):
        """No new connections; those already open are still answered."""
        self._accepting = False
        self._wake()

    def close(self, timeout=1.0):
        """Close the listening socket and every connection, and stop the threads (within `timeout`)."""
        self._closing = True
        self._wake()
        if not self._started:
            self._close_lane()
        for lane in self._queues.values():
            try:
                while True:
                    _close(lane.get_nowait())
            except queue.Empty:
                pass
        for index, thread in enumerate(self._started[1:]):
            self._queues["pool" if index < self.workers else "lane"].put(None)
        deadline = time.time() + timeout   # a worker writing to a stalled client is a daemon thread
        for thread in self._started:
            thread.join(max(0.0, deadline - time.time()))

    # ----- the lane: accept, handshake, read heads -----------------------------------------------------
    def _lane(self):
        self._selector.register(self.listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._closing:
                for key, _ in self._selector.select(TICK_S):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        _drain(self._wake_r)
                    elif key.data in self._waiting:
                        self._advance(key.data)
                if not self._accepting and self.listener is not None:
                    self._selector.unregister(self.listener)
                    self.listener.close()
                    self.listener = None
                self._take_returned()
                self._expire()
        finally:
            self._close_lane()

    def _accept(self):
        for _ in range(64):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:   # out of file descriptors: make room, else wait for the next tick
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._waiting:
                    self._evict()
                    continue
                return
            sock.setblocking(False)
            # No Nagle: a reply's body would wait for the client's delayed ACK of its headers (40 ms on Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, address, time.time() + self.head_timeout)
            if self.tls is not None:
                try:
                    conn.sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError):
                    sock.close()
                    continue
                conn.handshaking = True
            self._watch(conn)

    def _watch(self, conn):
        if len(self._waiting) >= self.max_connections:
            self._evict()
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        self._waiting.add(conn)

    def _unwatch(self, conn):
        if conn in self._waiting:
            self._waiting.discard(conn)
            self._selector.unregister(conn.sock)

    def _advance(self, conn):
        """The next step for a connection with something to read (or room to write, in a handshake)."""
        try:
            if conn.handshaking:
                conn.sock.do_handshake()
                conn.handshaking = False
                self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            self._read_head(conn)
        except ssl.SSLWantReadError:
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        except ssl.SSLWantWriteError:
            self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
        except (OSError, ValueError):   # reset, or a failed handshake
            self._unwatch(conn)
            _close(conn)

    def _read_head(self, conn):
        while True:
            if conn.head_complete():
                return self._dispatch(conn)
            if len(conn.buffer) > MAX_HEAD:
                self._unwatch(conn)
                return _refuse(conn, TOO_LARGE)
            try:
                chunk = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return None
            if not chunk:
                self._unwatch(conn)
                return _close(conn)
            conn.buffer += chunk

    def _dispatch(self, conn):
        """A complete head: to the health lane or the pool, or 503 when both are full."""
        self._unwatch(conn)
        conn.deadline = time.time() + self.head_timeout   # for what a worker reads past the head
        lanes = ("lane", "pool") if conn.target() in self.open_lane else ("pool",)
        for lane in lanes:
            try:
                return self._queues[lane].put_nowait(conn)
            except queue.Full:
                pass
        self.refused += 1
        return _refuse(conn, BUSY)

    def _take_returned(self):
        while self._returned:
            conn = self._returned.popleft()
            if self._closing:
                _close(conn)
                continue
            conn.deadline = time.time() + self.head_timeout   # an idle keep-alive connection, as a new one
            try:
                conn.sock.setblocking(False)
            except OSError:
                _close(conn)
                continue
            self._watch(conn)
            self._advance(conn)   # its next head may be here already (read, or inside TLS)

    def _expire(self):
        now = time.time()
        if now < self._next_expiry:
            return
        self._next_expiry = now + TICK_S
        for conn in [conn for conn in self._waiting if conn.deadline < now]:
            self._drop(conn)

    def _evict(self):
        self.evicted += 1
        self._drop(min(self._waiting, key=lambda conn: conn.deadline))

    def _drop(self, conn):
        self._unwatch(conn)
        _close(conn)
        self.dropped += 1
        self.on_drop()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass   # full: the lane is woken already; closed: it has stopped

    def _close_lane(self):
        for conn in list(self._waiting):
            _close(conn)
        self._waiting.clear()
        while self._returned:
            _close(self._returned.popleft())
        for sock in (self.listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self.listener = None
        self._selector.close()

    # ----- the workers ----------------------------------------------------------------------------------
    def _work(self, lane):
        for conn in iter(self._queues[lane].get, None):   # None: close() stops the worker
            self._answer(conn)

    def _answer(self, conn):
        keep = False
        try:
            conn.io_timeout = self.head_timeout   # each write (and read) of the answer
            conn.sock.settimeout(self.head_timeout)
            handler = self.handler_class(conn, conn.address, self)
            keep = not handler.close_connection
        except (OSError, ValueError):
            pass   # the client went away
        except Exception as exc:   # a bug costs this request its answer, never a worker
            sys.stderr.write("{}: internal error answering {}: {!r}\n".format(self.name, conn.address, exc))
        if keep and not self._closing:
            self._returned.append(conn)
            self._wake()
        else:
            _close(conn)


def _drain(sock):
    try:
        while sock.recv(4096):
            continue
    except OSError:
        return


def _refuse(conn, answer):
    try:
        conn.sock.setblocking(False)
        conn.sock.send(answer)   # a fresh socket's empty send buffer takes it whole
    except (OSError, ValueError):
        pass
    _close(conn)


def _close(conn):
    try:
        conn.sock.close()
    except OSError:
        pass
