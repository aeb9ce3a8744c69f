"""edge-camera end to end on real GStreamer: an RTSP camera read with --capture-backend gstreamer, and
frames scaled in the pipeline to the model's size, grown to a viewable size while the preview is watched."""

import json
import os
import signal
import time
import urllib.request

import numpy as np
import pytest

from tests.edge.realparts import free_port
from tests.edge.test_camera_daemon import start_daemon, wait_until
from tests.fakes.tiny_bundle import CLASSES, write_tiny_bundle

pytestmark = pytest.mark.gstreamer


@pytest.fixture
def tiny_bundle(tmp_path):
    return write_tiny_bundle(tmp_path / "bundle", qdq=False)


def test_edge_camera_on_rtsp_with_the_gstreamer_backend(rtsp_server, tiny_bundle, tmp_path):
    server = rtsp_server(codec="h265", width=320, height=240, fps=15)
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([tiny_bundle, "--source", server.url, "--capture-backend", "gstreamer", "--codec", "auto",
                           "--max-frames", "10", "--jsonl", jsonl, "--runtime", "onnxruntime"])
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    with open(jsonl) as handle:
        results = [json.loads(line) for line in handle]
    assert len(results) == 10 and set(result["prediction"] for result in results) <= set(CLASSES)


def _preview_frame(response):
    head = b""
    while b"\r\n\r\n" not in head:
        head += response.read(1)
    length = int([l for l in head.decode().split("\r\n") if l.startswith("Content-Length")][0].split(":")[1])
    import cv2
    return cv2.imdecode(np.frombuffer(response.read(length), np.uint8), cv2.IMREAD_COLOR)


def test_preview_grows_to_a_viewable_size_while_watched(tiny_bundle, tmp_path):
    port = free_port()
    jsonl = str(tmp_path / "results.jsonl")
    daemon = start_daemon([tiny_bundle, "--source", "csi://0", "--fps", "15", "--http-port", port, "--jsonl", jsonl,
                           "--duration", "30", "--runtime", "onnxruntime"])
    try:
        assert wait_until(lambda: os.path.exists(jsonl) and os.path.getsize(jsonl) > 0, 20)
        shapes = []
        with urllib.request.urlopen("http://127.0.0.1:{}/stream.mjpg".format(port), timeout=5) as response:
            deadline = time.time() + 10
            while time.time() < deadline and (not shapes or shapes[-1] != (360, 640, 3)):
                shapes.append(_preview_frame(response).shape)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=20)
    # the model's box is 37x37 (32 / 0.875): a 1280x720 camera frame scaled to cover it is 66x37
    assert shapes[0] == (37, 66, 3) and shapes[-1] == (360, 640, 3), (shapes, err)
    assert daemon.returncode == 0, err
