"""Whether an RTSP server answers, asked in plain Python before OpenCV's GStreamer backend opens it.

OpenCV's GStreamer capture fails badly on a server that is not answering: on one that is stopped it
blocks for rtspsrc's 20 s TCP timeout (measured, OpenCV 4.6), and on one that is coming back up its
failed open drops the pipeline without stopping it ("Trying to dispose element ... but it is in
PLAYING"), leaving rtspsrc's thread and sockets behind: measured here, 24 file descriptors and 12
threads over 12 restarts of a gst-rtsp-server, and none once this probe came first. An OPTIONS request
(RFC 2326, 10.1; every server must answer it, with 401 where it wants credentials) takes one socket,
closed before VideoCapture is made.
"""

import socket
from urllib.parse import urlsplit

from edge.sources.base import SourceError

PROBE_TIMEOUT_S = 3.0


def check_rtsp_answers(url, timeout=PROBE_TIMEOUT_S):
    """Return quietly if the RTSP server at `url` (validated by edge.sources.uri) answers OPTIONS within
    `timeout` seconds; else SourceError saying why."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 554
    request_uri = "rtsp://{}{}{}".format(parts.netloc.rpartition("@")[2], parts.path or "/",
                                         "?" + parts.query if parts.query else "")
    request = "OPTIONS {} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: edge-toolkit\r\n\r\n".format(request_uri)
    try:
        connection = socket.create_connection((host, port), timeout)
    except (OSError, ValueError) as exc:
        raise SourceError("{}:{} does not accept RTSP connections ({})".format(host, port, exc))
    try:
        connection.settimeout(timeout)
        connection.sendall(request.encode("ascii"))
        status = connection.recv(64)
    except OSError as exc:
        raise SourceError("{}:{} accepted but did not answer RTSP OPTIONS ({})".format(host, port, exc))
    finally:
        connection.close()
    if not status.startswith(b"RTSP/"):   # any status line answers (401, or an RTSP 2.0 server's 505)
        raise SourceError("{}:{} did not answer RTSP OPTIONS (got {!r})".format(host, port, status[:32]))
