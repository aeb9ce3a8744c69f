"""No read blocks forever, on a real RTSP server that drops: killed (SIGKILL, then started again on the same
port) and paused (SIGSTOP, then SIGCONT), on both capture backends, through the camera daemon's loop.

Measured here (OpenCV 4.6, GStreamer 1.22): after SIGSTOP, GStreamer's read() never returns (the appsink
pull has no timeout) until the pipeline is stopped; FFmpeg's returns False after its 3 s read timeout.
After SIGKILL both return False at once. Each drill: degraded within 10 s, results again within 30 s of
the server's return, and Python threads and file descriptors back where they were after each of 10
cycles (native threads are printed too: GStreamer keeps a pool of its own).
"""

import os
import threading
import time

import pytest

from edge.daemon.loop import CameraDaemon
from edge.sources.factory import open_source
from edge.sources.grabber import LatestFrameGrabber
from edge.daemon.telemetry import Telemetry

pytestmark = pytest.mark.gstreamer

CYCLES = 10
STALL_S = 2.0


class _Model(object):
    """The daemon's model interface (edge.tasks.registry): results(images) -> (results, timings)."""

    def results(self, images):
        return [{"prediction": "x", "confidence": 1.0}], {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}


def counts():
    """(Python threads, open file descriptors, native threads) of this process."""
    return (len(threading.enumerate()), len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task")))


def open_files():
    """What each file descriptor of this process is (a socket, a pipe, a file)."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:   # closed meanwhile
            pass
    return found


def seconds_until(predicate, timeout, step=0.05):
    """Seconds until predicate() holds, or None after `timeout`."""
    started = time.time()
    while time.time() - started < timeout:
        if predicate():
            return time.time() - started
        time.sleep(step)
    return None


class Drill(object):
    """The daemon loop over a grabber on `url`, with its health (what /healthz serves) and its results."""

    def __init__(self, url, backend):
        self.telemetry = Telemetry()
        self.grabber = LatestFrameGrabber(lambda: open_source(url, capture_backend=backend, codec="h264"),
                                          stall_timeout=STALL_S, reconnect_initial=0.2, reconnect_max=1.0)
        self.daemon = CameraDaemon(_Model(), self.grabber, [], self.telemetry, "drill", log=lambda text: None)
        self.captured = 0.0      # capture time of the newest frame the daemon turned into a result
        process = self.daemon.process

        def recorded(frame, capture_wait):
            self.captured = frame.captured
            return process(frame, capture_wait)
        self.daemon.process = recorded
        self.loop = threading.Thread(target=self.daemon.run, name="drill-daemon")
        self.loop.daemon = True

    def start(self):
        self.grabber.start()
        self.loop.start()
        return self

    def state(self):
        return self.telemetry.snapshot()["state"]

    def results_again(self, timeout):
        """Seconds until health is ok with a result from a frame captured from now on; None past `timeout`."""
        now = time.time()
        return seconds_until(lambda: self.captured >= now and self.state() == "ok", timeout)

    def stop(self):
        self.daemon.request_stop()
        self.loop.join(5)
        self.grabber.stop()


@pytest.mark.parametrize("backend", ["gstreamer", "ffmpeg"])
def test_a_dropped_rtsp_camera_degrades_health_and_comes_back_without_leaks(rtsp_server, backend):
    server = rtsp_server(codec="h264", width=160, height=120, fps=10)
    drill = Drill(server.url, backend)
    figures, before = [], None
    try:
        drill.start()
        assert drill.results_again(30) is not None, "no results from {} at the start".format(server.url)
        before, files = counts(), open_files()
        for cycle in range(CYCLES):
            how = ("kill", "pause")[cycle % 2]
            server.kill() if how == "kill" else server.pause()
            degraded = seconds_until(lambda: drill.state() == "degraded", 10)
            assert degraded is not None, "cycle {} ({}): still {} 10 s later".format(cycle, how, drill.state())
            server.start() if how == "kill" else server.resume()
            again = drill.results_again(30)
            assert again is not None, "cycle {} ({}): no results 30 s after the server's return".format(cycle, how)
            settled = seconds_until(lambda: counts()[:2] == before[:2], 15)
            figures.append((how, round(degraded, 1), round(again, 1), counts()))
            assert settled is not None, "cycle {} ({}): threads, fds {} -> {}; new: {}; threads: {}".format(
                cycle, how, before, counts(), sorted(set(open_files().items()) - set(files.items())),
                [thread.name for thread in threading.enumerate()])
    finally:
        drill.stop()
        print("\n{} backend, before: (threads, fds, native threads) {}".format(backend, before))
        for figure in figures:
            print("  {}: degraded after {} s, results {} s after the return; after: {}".format(*figure))
    assert drill.grabber.reconnects >= CYCLES
