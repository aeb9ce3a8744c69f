"""The CSI camera's stand-in (videotestsrc is-live=true, through the same element table) and HTTP MJPEG
through GStreamer (souphttpsrc ! multipartdemux ! jpegdec), run by real GStreamer."""

import numpy as np
import pytest

from edge.sources.factory import open_source
from tests.edge.gstreamer.conftest import read_for
from tests.edge.realparts import MjpegServer, free_port, needs_ffmpeg

pytestmark = pytest.mark.gstreamer


def _first(uri, **options):
    with open_source(uri, **options) as source:
        return source.read().image


def test_csi_stand_in_runs_through_the_element_table(opened):
    import cv2
    image = _first("csi://0")
    assert image.shape == (720, 1280, 3) and image.std() > 20      # the camera's default mode, a test pattern
    (pipeline, api), = opened
    assert api == cv2.CAP_GSTREAMER
    assert pipeline.startswith("videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1")
    assert pipeline.endswith("videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false")


def test_csi_stand_in_size_and_rate_as_asked():
    with open_source("csi://0", width=320, height=180, fps=10) as source:
        frames = read_for(source, 2.0, settle=0.5)
    assert set(frame.image.shape for frame in frames) == {(180, 320, 3)}
    assert 14 <= len(frames) <= 26, len(frames)      # live: 10 a second
    gaps = np.diff([frame.captured for frame in frames])
    assert 0.06 < float(np.median(gaps)) < 0.14


# nvvidconv flip-method -> what it does to the frame, in numpy
FLIPS = {1: lambda a: np.rot90(a, 1), 2: lambda a: np.rot90(a, 2), 3: lambda a: np.rot90(a, -1),
         4: lambda a: a[:, ::-1], 5: lambda a: np.rot90(a, 1)[:, ::-1], 6: lambda a: a[::-1],
         7: lambda a: np.transpose(a, (1, 0, 2))}


def test_csi_flip_methods_turn_the_frame_as_nvvidconv_does():
    upright = _first("csi://0", width=160, height=96).astype(np.int16)
    for flip, turn in sorted(FLIPS.items()):
        flipped = _first("csi://0", width=160, height=96, flip=flip).astype(np.int16)
        expected = turn(upright)
        assert flipped.shape == expected.shape, flip
        assert np.abs(flipped - expected).mean() < 4, flip   # chroma is subsampled before the turn


def test_csi_stand_in_scales_before_converting(opened):
    assert _first("csi://0", scale_to=(224, 224)).shape == (224, 398, 3)
    assert "videoscale ! video/x-raw,width=398,height=224,pixel-aspect-ratio=1/1 ! videoconvert" in opened[0][0]


@needs_ffmpeg
def test_http_mjpeg_through_gstreamer(opened):
    import cv2
    server = MjpegServer(free_port()).start()
    try:
        with open_source(server.url, capture_backend="gstreamer", height=60) as source:
            frames = [source.read() for _ in range(3)]
    finally:
        server.stop()
    assert [frame.image.shape for frame in frames] == [(60, 80, 3)] * 3     # 160x120 scaled, aspect kept
    (pipeline, api), = opened
    assert api == cv2.CAP_GSTREAMER
    assert pipeline.startswith("souphttpsrc location={} is-live=true".format(server.url))
    assert " ! multipartdemux ! jpegdec ! videoscale ! " in pipeline
