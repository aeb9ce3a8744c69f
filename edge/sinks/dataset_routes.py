"""edge-camera's tag-and-record routes (the page's, under /dataset): HTTP in, edge.daemon.recorder out.

GET /dataset: the classes and their counts ({"enabled": false} without --dataset); POST /dataset/class label=,
/dataset/capture label= count= rate=, /dataset/point x= y= width= height=, /dataset/undo; GET /dataset.tar.gz.
A refused or failed capture answers the recorder's status (400, 409, 503, 507 for a full disk) and one line.
"""

import time
from urllib.parse import parse_qs

from edge.daemon.recorder import RecorderError
from edge.net.http_replies import send_json


def answer_dataset(sink, request, path, post, head):
    """The tag-and-record routes (edge.daemon.recorder): 404 without --dataset, the recorder's status on error."""
    if sink.recorder is None:
        send_json(request, 404 if path != "/dataset" else 200, {
            "enabled": False, "error": "start edge-camera with --dataset DIR to tag and record"}, head)
        return
    form = parse_qs(sink.form_body(request, head) or "") if post else {}
    field = lambda name, default="": form.get(name, [default])[-1]
    try:
        if (path in ("/dataset", "/dataset.tar.gz")) == post:
            send_json(request, 405, {"error": "GET /dataset and /dataset.tar.gz; POST the others"}, head)
        elif path == "/dataset.tar.gz":
            _send_archive(sink, request, head)
        elif path == "/dataset":
            send_json(request, 200, dict(sink.recorder.summary(), enabled=True), head)
        elif path == "/dataset/class":
            send_json(request, 200, sink.recorder.add_class(field("label")))
        elif path == "/dataset/capture":
            grab = lambda after: newer_frame(sink, after)
            send_json(request, 200, sink.recorder.capture(field("label"), grab, _number(field("count", "1"), int),
                                                          _number(field("rate", "1"), float)))
        elif path == "/dataset/point":
            send_json(request, 200, _add_point(sink, field))
        elif path == "/dataset/undo":
            send_json(request, 200, sink.recorder.undo())
        else:
            send_json(request, 404, {"error": "not found", "path": path}, head)
    except RecorderError as exc:
        send_json(request, exc.status, {"error": str(exc)}, head)


def newer_frame(sink, after, timeout=2.0):
    """(index, image) of the newest frame, once newer than frame `after`; None when none comes in `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline and not sink.closing:
        newest = sink.newest
        if newest is not None and newest[0].index != after:
            return newest[0].index, newest[0].image
        time.sleep(0.01)
    return None


def _add_point(sink, field):
    """POST /dataset/point x, y (pixels of the image the browser showed, width x height): onto the newest frame."""
    newest = sink.newest
    if newest is None:
        raise RecorderError("no frame from the camera yet", 503)
    height, width = newest[0].image.shape[:2]
    shown_w, shown_h = _number(field("width", str(width)), int), _number(field("height", str(height)), int)
    x, y = _number(field("x"), float), _number(field("y"), float)
    return sink.recorder.add_point(newest[0].image, int(round(x * width / max(shown_w, 1))),
                                   int(round(y * height / max(shown_h, 1))))


def _send_archive(sink, request, head):
    """The dataset as .tar.gz, streamed as it is packed; the end of the connection ends it."""
    request.send_response(200)
    request.send_header("Content-Type", "application/gzip")
    request.send_header("Content-Disposition", 'attachment; filename="{}"'.format(sink.recorder.archive_name()))
    request.send_header("Cache-Control", "no-store")
    request.send_header("Connection", "close")
    request.end_headers()
    if not head:
        sink.recorder.write_archive(request.wfile)


def _number(text, kind):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or abs(value) == float("inf"):
        raise RecorderError("{!r} is not a number".format(text))
    return value
