"""Camera sources with real parts: URIs, pipelines, video files, an ffmpeg MJPEG stream that dies and returns."""

import time

import pytest

from edge.errors import EdgeError
from edge.sources.factory import open_source
from edge.sources.gstreamer import csi_pipeline, rtsp_pipeline
from edge.sources.grabber import LatestFrameGrabber
from edge.sources.uri import parse_source
from tests.edge.realparts import MjpegServer, free_port, make_video, needs_ffmpeg


@pytest.mark.parametrize("uri, kind, target", [
    ("csi://0", "csi", 0), ("v4l2:///dev/video1", "v4l2", "/dev/video1"), ("/dev/video2", "v4l2", "/dev/video2"),
    ("0", "v4l2", 0), ("rtsp://user:pw@10.1.2.3:8554/cam/1", "rtsp", "rtsp://user:pw@10.1.2.3:8554/cam/1"),
    ("http://127.0.0.1:8080/stream.mjpg", "http", "http://127.0.0.1:8080/stream.mjpg"),
])
def test_accepted_uris(uri, kind, target):
    spec = parse_source(uri)
    assert (spec.kind, spec.target, spec.live) == (kind, target, True)


@pytest.mark.parametrize("uri, message", [
    ("csi://9", "sensor id"), ("csi://0 ! filesink location=/etc/passwd", "sensor id"),
    ("rtsp://x ! filesink location=/etc/passwd", "not a source"), ("rtsp://host/a'b", "not a source"),
    ("rtsp://host:99999/x", "out of range"), ("v4l2://dev/video0", "v4l2://"), ("ftp://host/x", "not a source"),
    ("missing/video.mp4", "not found"), ("", "no source"),
])
def test_rejected_uris_are_one_clear_error(uri, message):
    with pytest.raises(EdgeError, match=message):
        parse_source(uri)


def test_bad_options_are_refused():
    with pytest.raises(EdgeError, match="--flip"):
        parse_source("csi://0", flip=9)
    with pytest.raises(EdgeError, match="--fps"):
        parse_source("csi://0", fps="fast")


def test_pipelines_are_built_from_validated_values():
    assert csi_pipeline(1, 640, 480, 15, 2) == (
        "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=640,height=480,framerate=15/1,format=NV12 ! "
        "nvvidconv flip-method=2 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=true max-buffers=1 sync=false")
    pipeline = rtsp_pipeline("rtsp://10.0.0.2/cam", latency=100)
    assert pipeline.startswith("rtspsrc location=rtsp://10.0.0.2/cam latency=100 ! rtph264depay")
    assert "nvv4l2decoder" in pipeline and pipeline.endswith("max-buffers=1 sync=false")
    with pytest.raises(EdgeError):
        rtsp_pipeline("rtsp://x ! filesink location=/tmp/x")


def test_csi_without_gstreamer_says_what_is_needed():
    from edge.sources.gstreamer import opencv_has_gstreamer
    if opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(EdgeError, match="JetPack's python3-opencv"):
        open_source("csi://0").open()


@needs_ffmpeg
def test_file_source_ends_and_reads_every_frame_offline(tmp_path):
    video = make_video(tmp_path / "clip.mp4", seconds=1, rate=30)
    grabber = LatestFrameGrabber(lambda: open_source(video)).start()
    indices = []
    while True:
        frame = grabber.get(timeout=2.0)
        if frame is None:
            break
        indices.append(frame.index)
        time.sleep(0.002)
    assert indices == list(range(30)) and grabber.frames_dropped == 0 and grabber.state == "ended"


@needs_ffmpeg
def test_newest_frame_only_when_the_consumer_is_slower(tmp_path):
    video = make_video(tmp_path / "clip.mp4", seconds=2, rate=30)
    grabber = LatestFrameGrabber(lambda: open_source(video, realtime=True)).start()
    taken, ages = [], []
    while True:
        frame = grabber.get(timeout=2.0)
        if frame is None:
            break
        ages.append(time.time() - frame.captured)
        taken.append(frame.index)
        time.sleep(0.1)  # inference three times slower than the camera
    assert grabber.state == "ended" and taken == sorted(taken)
    assert grabber.frames_captured == 60 and grabber.frames_dropped >= 30
    assert len(taken) + grabber.frames_dropped == 60
    # No queue builds up. A FIFO would hand out frames ever older (about 1.3 s by the end of
    # this clip); the newest-frame grabber's are one camera period old, with slack for a busy CI.
    assert sorted(ages)[len(ages) // 2] < 0.1 and max(ages) < 0.5


@needs_ffmpeg
@pytest.mark.slow
def test_mjpeg_stream_that_dies_and_comes_back(tmp_path):
    server = MjpegServer(free_port()).start()
    grabber = LatestFrameGrabber(lambda: open_source(server.url), stall_timeout=1.0, reconnect_initial=0.2,
                                 reconnect_max=0.5)
    try:
        grabber.start()
        assert grabber.get(timeout=10) is not None and grabber.state == "ok"
        server.stop()
        deadline = time.time() + 10
        while grabber.state != "degraded" and time.time() < deadline:
            grabber.get(timeout=0.2)
        assert grabber.state == "degraded" and grabber.last_error
        server.start()
        deadline = time.time() + 15
        frame = None
        while frame is None and time.time() < deadline:
            frame = grabber.get(timeout=0.5)
        assert frame is not None and grabber.state == "ok" and grabber.reconnects >= 1
    finally:
        grabber.stop()
        server.stop()
