"""No read blocks forever: a camera whose reads, opens or releases hang, as OpenCV's GStreamer backend's
do (tests/fakes/blocking_capture.py), under the real OpenCVSource, grabber, daemon loop and doctor.

Every blocked call is let go at teardown, so a test that fails (today's code: the grabber stuck inside
read(), health still "ok") fails on its deadline instead of hanging the run."""

import gc
import os
import sys
import threading
import time
import types

import pytest

from edge.sources.factory import open_source
from edge.sources.grabber import LatestFrameGrabber
from tests.fakes.blocking_capture import FakeCamera

URI = "rtsp://10.0.0.2/cam"
STALL_S = 1.0


@pytest.fixture
def camera(monkeypatch):
    """A FakeCamera behind a fake cv2 (OpenCV 4.1.1's constants: no open/read timeout properties), read
    through one GStreamer pipeline as on a Jetson."""
    from edge.sources import opencv_source

    camera = FakeCamera()
    cv2 = types.ModuleType("cv2")
    for name, value in (("CAP_ANY", 0), ("CAP_V4L2", 200), ("CAP_FFMPEG", 1900), ("CAP_GSTREAMER", 1800),
                        ("CAP_PROP_POS_FRAMES", 1), ("CAP_PROP_FRAME_WIDTH", 3), ("CAP_PROP_FRAME_HEIGHT", 4),
                        ("CAP_PROP_FPS", 5), ("CAP_PROP_FOURCC", 6), ("CAP_PROP_BUFFERSIZE", 38),
                        ("CAP_PROP_GSTREAMER_QUEUE_LENGTH", 200)):
        setattr(cv2, name, value)
    cv2.VideoCapture = camera.capture_class()
    cv2.getBuildInformation = lambda: "  Video I/O:\n    GStreamer:                   NO\n"
    monkeypatch.setitem(sys.modules, "cv2", cv2)
    monkeypatch.setattr(opencv_source, "check_rtsp_answers", lambda url: None, raising=False)  # no network here
    monkeypatch.setattr(opencv_source.OpenCVSource, "_open_args", lambda self, cv2: [
        (None, "rtspsrc location={} ! rtph264depay ! appsink".format(self.uri), cv2.CAP_GSTREAMER, [])])
    yield camera
    assert not camera.violations, camera.violations
    camera.let_go()
    assert wait_until(lambda: camera.blocked_calls() == 0, 10), "a fake call is still blocked after let_go"
    stuck = _stuck_calls()
    assert wait_until(lambda: not _stuck_calls(), 10), "abandoned calls still running: {}".format(stuck)


def _stuck_calls():
    try:
        from edge.sources.watchdog import stuck_calls
    except ImportError:  # today's code has no watchdog
        return []
    return stuck_calls()


def wait_until(predicate, timeout, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def counts():
    """(Python threads, open file descriptors) of this process."""
    return len(threading.enumerate()), len(os.listdir("/proc/self/fd"))


def settled_counts():
    """counts() once what earlier tests left to the garbage collector (sockets, clients) is closed: otherwise
    it may close mid-test and the counts fall."""
    gc.collect()
    return counts()


def no_more_than(before):
    """Whether this process holds no more threads and file descriptors than `before`: a leak only adds."""
    now = counts()
    return now[0] <= before[0] and now[1] <= before[1]


def in_thread(fn, timeout):
    """fn() on a daemon thread: (True, result) if it returned within `timeout`, else (False, None)."""
    box = []
    thread = threading.Thread(target=lambda: box.append(fn()))
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    return (bool(box), box[0] if box else None)


def grabber_for(uri=URI, **kwargs):
    options = dict(stall_timeout=STALL_S, reconnect_initial=0.05, reconnect_max=0.2)
    options.update(kwargs)
    return LatestFrameGrabber(lambda: open_source(uri), **options)


def next_frame(grabber, timeout):
    """A frame captured from now on (an older one left in the grabber does not count), or None."""
    now = time.time()
    deadline = now + timeout
    while time.time() < deadline:
        frame = grabber.get(timeout=0.1)
        if frame is not None and frame.captured >= now:
            return frame
    return None


class _Model(object):
    """The daemon's model interface (edge.tasks.registry): results(images) -> (results, timings)."""

    def results(self, images):
        return [{"prediction": "x", "confidence": 1.0}], {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}


def test_a_read_that_never_returns_turns_health_degraded_within_the_stall_timeout(camera):
    from edge.daemon.loop import CameraDaemon
    from edge.daemon.telemetry import Telemetry

    telemetry = Telemetry()
    grabber = grabber_for().start()
    daemon = CameraDaemon(_Model(), grabber, [], telemetry, "fake", log=lambda text: None)
    loop = threading.Thread(target=daemon.run)
    loop.daemon = True
    loop.start()
    try:
        assert wait_until(lambda: telemetry.snapshot()["state"] == "ok", 10)
        frames = daemon.frames
        camera.silent()                     # reads now block inside the capture, as appsink's pull does
        silent_at = time.time()
        assert wait_until(lambda: telemetry.snapshot()["state"] == "degraded", 10), telemetry.snapshot()
        degraded_after = time.time() - silent_at
        assert degraded_after < STALL_S + 2.0, "degraded {:.1f} s after the stall".format(degraded_after)
        snapshot = telemetry.snapshot()
        assert "read() did not return" in snapshot["reason"] and snapshot["source"]["up"] is False
        # The stuck capture was released (that is what ends a blocked appsink pull) and a new one opened.
        assert wait_until(lambda: camera.captures[0].released and camera.blocked_calls() == 0, 10)
        assert wait_until(lambda: len(camera.captures) >= 2, 10)
        camera.deliver()
        assert wait_until(lambda: telemetry.snapshot()["state"] == "ok" and daemon.frames > frames, 30)
        assert telemetry.snapshot()["source"]["reconnects"] >= 1
        assert "edge_source_stuck_calls 0" in telemetry.render_prometheus()
    finally:
        daemon.request_stop()
        loop.join(5)
        grabber.stop()


def test_a_release_that_blocks_is_abandoned_and_counted_and_its_threads_exit_when_it_returns(camera):
    from edge.sources.watchdog import stuck_calls

    camera.hang_releases = True
    grabber = grabber_for(release_timeout=0.5).start()
    try:
        assert next_frame(grabber, 10) is not None
        threads, fds = settled_counts()
        camera.silent()
        assert wait_until(lambda: grabber.state == "degraded", STALL_S + 5)
        # The stuck read was interrupted and returned; the release that followed is stuck, and counted.
        assert wait_until(lambda: len(stuck_calls()) == 1, 10), stuck_calls()
        assert "release" in stuck_calls()[0] and grabber.stuck_calls == 1   # /healthz: source.stuck_calls
        camera.deliver()
        assert next_frame(grabber, 30) is not None and grabber.state == "ok"   # a new capture, meanwhile
        assert not camera.captures[0].released
        camera.finish_releases()                                             # the old release returns
        assert wait_until(lambda: not stuck_calls(), 10), stuck_calls()
        assert camera.captures[0].released
        assert wait_until(lambda: no_more_than((threads, fds)), 10), (counts(), (threads, fds))
        assert next_frame(grabber, 10) is not None
    finally:
        grabber.stop()


def test_threads_and_file_descriptors_stay_flat_over_stall_cycles(camera):
    grabber = grabber_for(stall_timeout=0.5).start()
    try:
        assert next_frame(grabber, 10) is not None
        before = settled_counts()
        for cycle in range(10):
            camera.silent()
            assert wait_until(lambda: grabber.state == "degraded", 10), "cycle {}: never degraded".format(cycle)
            camera.deliver()
            assert next_frame(grabber, 30) is not None, "cycle {}: no frame after the camera came back".format(cycle)
            assert wait_until(lambda: no_more_than(before), 10), "cycle {}: {} -> {}".format(cycle, before, counts())
        assert grabber.reconnects >= 10 and len(camera.captures) >= 11
        assert all(capture.released for capture in camera.captures[:-1])
    finally:
        grabber.stop()


def test_at_the_bound_no_capture_is_opened_until_a_stuck_call_returns(camera):
    from edge.sources.watchdog import MAX_STUCK, stuck_calls

    camera.hang_releases = True
    grabber = grabber_for(stall_timeout=0.5, release_timeout=0.2).start()
    try:
        assert next_frame(grabber, 10) is not None
        threads, _ = counts()
        while len(stuck_calls()) < MAX_STUCK:      # each stall leaves a release stuck
            camera.silent()
            assert wait_until(lambda: grabber.state == "degraded", 10)
            camera.deliver()
            assert wait_until(lambda: len(stuck_calls()) >= MAX_STUCK or grabber.state == "ok", 30)
        assert wait_until(lambda: "stuck" in (grabber.last_error or ""), 10), grabber.last_error
        opened = len(camera.captures)
        time.sleep(1.0)                             # several reconnect attempts: all refused
        assert len(camera.captures) == opened and grabber.state == "degraded"
        assert len(stuck_calls()) <= MAX_STUCK + 1 and counts()[0] <= threads + MAX_STUCK + 1
        camera.finish_releases()                   # the stuck releases return, and their reads with them
        assert next_frame(grabber, 30) is not None and grabber.state == "ok"
        assert wait_until(lambda: not stuck_calls(), 10)
    finally:
        grabber.stop()


def test_a_read_that_an_interrupt_cannot_end_is_abandoned_and_released_when_it_returns(camera):
    from edge.sources.watchdog import stuck_calls

    camera.hang_stops = True          # stopping the pipeline blocks: the read stays inside the capture
    grabber = grabber_for(release_timeout=0.5).start()
    try:
        assert next_frame(grabber, 10) is not None
        threads, fds = settled_counts()
        camera.silent()
        assert wait_until(lambda: grabber.state == "degraded", STALL_S + 5)
        assert wait_until(lambda: len(stuck_calls()) == 2, 10), stuck_calls()   # the interrupt and the read
        camera.deliver()                   # the old read returns a frame; its capture waits for the stop
        assert next_frame(grabber, 30) is not None and grabber.state == "ok"   # meanwhile, a new capture
        assert wait_until(lambda: len(stuck_calls()) == 1, 10), stuck_calls()
        assert not camera.captures[0].released                 # never released under a call inside it
        camera.finish_releases()           # the stop goes through; now the capture is released
        assert wait_until(lambda: not stuck_calls() and camera.captures[0].released, 10), stuck_calls()
        assert wait_until(lambda: no_more_than((threads, fds)), 10), (counts(), (threads, fds))
    finally:
        grabber.stop()


def test_an_open_that_never_returns_is_abandoned_and_the_late_capture_released(camera, monkeypatch):
    from edge.sources import opencv_source

    monkeypatch.setattr(opencv_source, "OPEN_TIMEOUT_S", 0.5, raising=False)
    camera.hang_opens = True
    camera.silent()
    grabber = grabber_for().start()
    try:
        assert wait_until(lambda: grabber.state == "degraded", 10), grabber.state
        assert "did not return" in grabber.last_error
        camera.deliver()                            # the hung VideoCapture(...) returns, late
        assert next_frame(grabber, 30) is not None and grabber.state == "ok"
        assert wait_until(lambda: all(capture.released for capture in camera.captures[:-1]), 10)
    finally:
        grabber.stop()


def test_codec_auto_moves_on_when_the_wrong_depayloader_hangs(camera, monkeypatch):
    from edge.sources import opencv_source

    monkeypatch.setattr(opencv_source, "FIRST_FRAME_TIMEOUT_S", 0.5, raising=False)
    monkeypatch.setattr(opencv_source.OpenCVSource, "_open_args", lambda self, cv2: [
        ("h264", "rtspsrc ! rtph264depay ! appsink", cv2.CAP_GSTREAMER, []),
        ("h265", "rtspsrc ! rtph265depay ! appsink", cv2.CAP_GSTREAMER, [])])
    camera.decodes = lambda target: "h265" in target   # an H.265 camera: h264 opens, then nothing comes
    source = open_source(URI)
    returned, _ = in_thread(source.open, 10)
    assert returned, "open() did not return: the first read on the wrong codec blocked it"
    try:
        assert [c.target.split(" ! ")[1] for c in camera.captures] == ["rtph264depay", "rtph265depay"]
        assert source.read() is not None
        assert wait_until(lambda: camera.captures[0].released and camera.blocked_calls() == 0, 10)
    finally:
        source.close()


def test_doctor_source_check_finishes_when_reads_never_return(camera, monkeypatch):
    from edge.doctor import source_check as doctor

    monkeypatch.setattr(doctor, "READ_TIMEOUT_S", 0.5, raising=False)
    camera.decodes = lambda target: False              # opens, then the stream says nothing
    returned, check = in_thread(lambda: doctor.source_check(URI, seconds=1.0), 10)
    assert returned, "edge-doctor --source did not finish"
    assert check.status == "fail" and "did not return" in check.detail, check.detail
    assert wait_until(lambda: camera.captures[0].released and camera.blocked_calls() == 0, 10)


def test_an_rtsp_server_is_asked_before_opencv_opens_it():
    """OpenCV's failed GStreamer open can leave rtspsrc behind (edge/sources/rtsp_probe.py): a server
    that is stopped or not listening is found out first, in Python, within the probe's timeout."""
    import socket
    from edge.sources.base import SourceError
    from edge.sources.rtsp_probe import check_rtsp_answers
    from tests.edge.realparts import free_port

    answering, silent = socket.socket(), socket.socket()
    for server in (answering, silent):
        server.bind(("127.0.0.1", 0))
        server.listen(4)
    requests = []

    def answer():
        connection, _ = answering.accept()
        requests.append(connection.recv(1024))
        connection.sendall(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n")   # answering is enough
        connection.close()
    thread = threading.Thread(target=answer)
    thread.start()
    try:
        check_rtsp_answers("rtsp://user:pw@127.0.0.1:{}/cam".format(answering.getsockname()[1]))
        thread.join(5)
        assert requests[0].startswith("OPTIONS rtsp://127.0.0.1:{}/cam RTSP/1.0\r\n".format(
            answering.getsockname()[1]).encode())       # no credentials on the wire
        started = time.time()
        with pytest.raises(SourceError, match="did not answer"):   # accepted by the kernel, never answered
            check_rtsp_answers("rtsp://127.0.0.1:{}/cam".format(silent.getsockname()[1]), timeout=0.5)
        assert time.time() - started < 5
        with pytest.raises(SourceError, match="does not accept"):
            check_rtsp_answers("rtsp://127.0.0.1:{}/cam".format(free_port()), timeout=0.5)
    finally:
        answering.close()
        silent.close()
