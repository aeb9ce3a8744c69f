"""The HTTP sink under unfriendly clients: stalled connections are dropped, preview viewers capped."""

import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.sinks.http import HttpSink
from edge.sources.base import Frame
from edge.telemetry import Telemetry


@pytest.fixture
def sink():
    sink = HttpSink(Telemetry(), port=0, preview_fps=50.0, max_preview_clients=2, request_timeout=0.5)
    sink.start()
    stop = threading.Event()

    def frames():  # a camera at about 50 fps
        index = 0
        while not stop.is_set():
            image = np.full((48, 64, 3), index % 255, np.uint8)
            sink.publish({"frame": index, "prediction": "cat", "confidence": 0.9,
                          "top": [{"label": "cat", "index": 0, "confidence": 0.9}]},
                         Frame(image, index))
            index += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=frames)
    feeder.start()
    yield sink
    stop.set()
    feeder.join()
    sink.close()


def open_stream(sink):
    response = urllib.request.urlopen(sink.url + "/stream.mjpg", timeout=5)
    assert response.status == 200
    response.read(64)  # the first part has arrived
    return response


def test_a_client_that_never_sends_its_request_is_dropped(sink):
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as client:
        started = time.time()
        assert client.recv(1024) == b""  # closed by the server, not by our 5 s timeout
        assert time.time() - started < 3


def test_preview_viewers_are_capped_and_a_freed_place_is_reused(sink):
    first, second = open_stream(sink), open_stream(sink)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(sink.url + "/stream.mjpg", timeout=5)
    assert refused.value.code == 503 and b"preview busy" in refused.value.read()
    # The other endpoints still answer while the preview is full.
    assert urllib.request.urlopen(sink.url + "/latest", timeout=5).status == 200
    first.close()
    deadline = time.time() + 5
    while sink.clients >= 2 and time.time() < deadline:
        time.sleep(0.05)
    third = open_stream(sink)
    second.close()
    third.close()
