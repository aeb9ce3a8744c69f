"""RTSP through real GStreamer: the element table's software pipelines against a real gst-rtsp-server
(H.264 and H.265), codec guessing, sizes and rates as asked, and OpenCV's FFmpeg on the same server."""

import pytest

from edge.errors import EdgeError
from edge.sources.base import SourceError
from edge.sources.factory import open_source
from tests.edge.gstreamer.conftest import read_for

pytestmark = pytest.mark.gstreamer


def _read(url, count=5, **options):
    with open_source(url, **options) as source:
        return [source.read() for _ in range(count)]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtsp_on_the_gstreamer_backend_delivers_frames(rtsp_server, opened, codec):
    import cv2
    server = rtsp_server(codec=codec, width=320, height=240)
    frames = _read(server.url, capture_backend="gstreamer", codec=codec)
    assert [frame.image.shape for frame in frames] == [(240, 320, 3)] * 5
    assert [frame.index for frame in frames] == list(range(5))
    (pipeline, api), = opened
    assert api == cv2.CAP_GSTREAMER
    assert " ! rtp{0}depay ! {0}parse ! avdec_{0} ! videoconvert ! ".format(codec) in pipeline
    assert frames[-1].image.std() > 5      # a test pattern, not a blank frame


def test_codec_auto_finds_h265(rtsp_server, opened):
    server = rtsp_server(codec="h265")
    frames = _read(server.url, capture_backend="gstreamer")   # --codec auto is the default
    assert frames[0].image.shape == (240, 320, 3)
    assert [pipeline.split(" ! ")[1] for pipeline, _ in opened] == ["rtph264depay", "rtph265depay"]


def test_a_wrong_explicit_codec_fails_clearly(rtsp_server):
    server = rtsp_server(codec="h265")
    source = open_source(server.url, capture_backend="gstreamer", codec="h264")
    with pytest.raises(SourceError) as failed:
        source.open()
        source.read()
    source.close()
    message = str(failed.value)
    assert "\n" not in message and server.url in message and "h264" in message


def test_size_and_rate_come_out_as_asked(rtsp_server):
    server = rtsp_server(codec="h264", width=320, height=240, fps=15)
    with open_source(server.url, capture_backend="gstreamer", width=160, height=96, fps=5) as source:
        frames = read_for(source, 2.0, settle=1.0)
    assert set(frame.image.shape for frame in frames) == {(96, 160, 3)}
    assert 6 <= len(frames) <= 14, len(frames)     # 5 a second of the server's 15


def test_one_side_asked_keeps_the_aspect_ratio(rtsp_server):
    server = rtsp_server(codec="h264", width=320, height=240)
    assert _read(server.url, 2, capture_backend="gstreamer", height=120)[-1].image.shape == (120, 160, 3)


def test_scale_to_covers_the_model_box_keeping_the_aspect_ratio(rtsp_server):
    server = rtsp_server(codec="h265", width=640, height=360)
    assert _read(server.url, 2, capture_backend="gstreamer", scale_to=(96, 96))[-1].image.shape == (96, 171, 3)
    # a stream smaller than the box is not upscaled
    assert _read(server.url, 2, capture_backend="gstreamer", scale_to=(512, 512))[-1].image.shape == (360, 640, 3)


@pytest.mark.parametrize("backend", ["ffmpeg", "auto"])   # auto off a Jetson: OpenCV's FFmpeg
def test_ffmpeg_backend_on_the_same_server(rtsp_server, opened, backend):
    import cv2
    server = rtsp_server(codec="h265", width=320, height=240)
    frames = _read(server.url, 3, capture_backend=backend, scale_to=(96, 96))
    assert opened == [(server.url, cv2.CAP_FFMPEG)]
    assert frames[-1].image.shape == (240, 320, 3)    # FFmpeg does not scale: the preprocessing does


def test_injection_is_refused_before_gstreamer_sees_it():
    with pytest.raises(EdgeError, match="not a source"):
        open_source("rtsp://127.0.0.1:1/cam ! filesink location=/tmp/x", capture_backend="gstreamer")
