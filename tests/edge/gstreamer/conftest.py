"""Fixtures for the `gstreamer` tests: a real RTSP server process, and the GStreamer element registry.

These run under `make test-gstreamer` (Debian's OpenCV with GStreamer, through .venv-gst); elsewhere
the root conftest skips them with the reason, or fails them when EDGE_REQUIRE_GSTREAMER is set.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from edge.sources.elements import SOFTWARE_ELEMENTS
from tests.edge.realparts import free_port

SERVER = os.path.join(os.path.dirname(__file__), "rtsp_server.py")


def has_elements(*names):
    """Whether GStreamer's registry has every element in `names`."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    return all(Gst.ElementFactory.find(name) is not None for name in names)


# What these tests run on: the software stand-ins of the element table, and the RTSP server's encoders.
STAND_INS = SOFTWARE_ELEMENTS + ("x264enc", "x265enc", "rtph264pay", "rtph265pay", "souphttpsrc", "multipartdemux")


def stand_ins_missing():
    """Why the software-pipeline tests cannot run here (None when they can): a Jetson's registry has the
    NVIDIA elements, so the table builds its own pipelines there; elsewhere a stand-in may be missing."""
    try:
        if has_elements("nvvidconv"):
            return "the NVIDIA elements are here (a Jetson): these tests are for the software stand-ins"
        missing = [name for name in STAND_INS if not has_elements(name)]
    except (ImportError, ValueError) as exc:   # no GI, or no Gst typelib
        return "needs GStreamer through Python GI: {}".format(exc)
    if missing:
        return "GStreamer elements missing: {} (make gstreamer-deps)".format(", ".join(missing))
    return None


@pytest.fixture(autouse=True)
def _software_gstreamer():
    """Every test here needs the stand-ins; under EDGE_REQUIRE_GSTREAMER (make test-gstreamer) their
    absence fails the test instead of skipping it."""
    reason = stand_ins_missing()
    if reason is None:
        return
    if os.environ.get("EDGE_REQUIRE_GSTREAMER"):
        pytest.fail("EDGE_REQUIRE_GSTREAMER is set but " + reason)
    pytest.skip(reason)


class RtspServer(object):
    """gst-rtsp-server serving a live test pattern at rtsp://127.0.0.1:PORT/cam, in its own process.

    kill() is a camera that vanishes (SIGKILL), pause()/resume() one that hangs (SIGSTOP/SIGCONT);
    start() again on the same port brings it back."""

    def __init__(self, codec="h264", width=320, height=240, fps=15, port=None):
        self.codec, self.width, self.height, self.fps = codec, width, height, fps
        self.port = port or free_port()
        self.process = None

    @property
    def url(self):
        return "rtsp://127.0.0.1:{}/cam".format(self.port)

    def start(self, timeout=30.0):
        self.process = subprocess.Popen(
            [sys.executable, SERVER, "--port", str(self.port), "--codec", self.codec, "--width", str(self.width),
             "--height", str(self.height), "--fps", str(self.fps)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        deadline = time.time() + timeout
        line = self.process.stdout.readline()   # "ready" once it listens
        if line.strip() != "ready" or time.time() > deadline:
            self.kill()
            raise AssertionError("the RTSP server did not start on port {}".format(self.port))
        return self

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def opened(monkeypatch):
    """The (target, api preference) of every cv2.VideoCapture the code under test makes, in order; the
    captures are the real ones."""
    import cv2

    real, targets = cv2.VideoCapture, []

    def record(target, api, *rest):
        targets.append((target, api))
        return real(target, api, *rest)

    monkeypatch.setattr(cv2, "VideoCapture", record)
    return targets


def read_for(source, seconds, settle=0.0):
    """Frames read from an open source for `seconds` after `settle` seconds (a start-up burst skipped)."""
    deadline, frames = time.time() + settle, []
    while time.time() < deadline:
        source.read()
    deadline = time.time() + seconds
    while time.time() < deadline:
        frame = source.read()
        if frame is not None:
            frames.append(frame)
    return frames


@pytest.fixture
def rtsp_server():
    """A factory: rtsp_server(codec="h265", width=640, ...) starts one; all are killed at the end."""
    servers = []

    def start(**kwargs):
        server = RtspServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
