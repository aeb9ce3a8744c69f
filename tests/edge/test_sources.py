"""Camera sources with real parts: URIs, pipelines, video files, an ffmpeg MJPEG stream that dies and returns."""

import time

import pytest

from edge.errors import EdgeError
from edge.sources.elements import JETSON, SOFTWARE, Elements
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
        server.start(wait=False)   # the grabber reconnecting is the client it waits for
        deadline = time.time() + 30
        frame = None
        while frame is None and time.time() < deadline:
            frame = grabber.get(timeout=0.5)
        assert frame is not None and grabber.state == "ok" and grabber.reconnects >= 1
    finally:
        grabber.stop()
        server.stop()


# --- Jetson paths without a Jetson: pipelines, the build-information probe, a fake cv2 ---

OPENCV_4_GSTREAMER = """
General configuration for OpenCV 4.1.1 =====================================
  Video I/O:
    FFMPEG:                      YES
      avcodec:                   YES (57.107.100)
      avformat:                  YES (57.83.100)
    GStreamer:                   {state}
    v4l/v4l2:                    linux/videodev2.h

  Parallel framework:            TBB (ver 2017.0 interface 9107)
"""

OPENCV_3_GSTREAMER = """
General configuration for OpenCV 3.2.0 =====================================
  Video I/O:
    DC1394 2.x:                  YES (ver 2.2.5)
    FFMPEG:                      YES
      avcodec:                   YES (ver 57.107.100)
      avformat:                  YES (ver 57.83.100)
    GStreamer:                   {state}
{parts}    OpenNI:                      NO
    V4L/V4L2:                    Using libv4l1 (ver 1.14.2) / libv4l2 (ver 1.14.2)

  Parallel framework:            TBB (ver 2017.0 interface 9107)
"""


def _opencv3_text(base="YES", app="YES"):
    parts = "".join("      {:<27}{}\n".format(name + ":", state + " (ver 1.14.5)" if state == "YES" else state)
                    for name, state in (("base", base), ("video", "YES"), ("app", app), ("riff", "YES"),
                                        ("pbutils", "YES")))
    return OPENCV_3_GSTREAMER.format(state="", parts=parts)


@pytest.mark.parametrize("text, expected", [
    (OPENCV_4_GSTREAMER.format(state="YES (1.14.5)"), True),
    (OPENCV_4_GSTREAMER.format(state="NO"), False),
    (_opencv3_text(), True),
    (_opencv3_text(app="NO"), False),
    (_opencv3_text(base="NO", app="NO"), False),
    (OPENCV_3_GSTREAMER.format(state="NO", parts=""), False),
    ("", False),
])
def test_gstreamer_read_from_opencv_3_and_4_build_information(text, expected):
    from edge.sources.gstreamer import gstreamer_in_build_information
    assert gstreamer_in_build_information(text) is expected


@pytest.mark.parametrize("codec, depay", [("h264", "rtph264depay ! h264parse"), ("h265", "rtph265depay ! h265parse")])
def test_rtsp_pipeline_per_codec_decodes_at_full_clocks(codec, depay):
    pipeline = rtsp_pipeline("rtsp://10.0.0.2/cam", codec=codec)
    assert " ! {} ! nvv4l2decoder enable-max-performance=1 ! nvvidconv ! ".format(depay) in pipeline


def test_codec_option_is_validated_before_opening():
    assert parse_source("rtsp://10.0.0.2/cam").options["codec"] == "auto"
    assert parse_source("rtsp://10.0.0.2/cam", codec="h265").options["codec"] == "h265"
    with pytest.raises(EdgeError, match="--codec must be one of auto, h264, h265, got 'mpeg4'"):
        parse_source("rtsp://10.0.0.2/cam", codec="mpeg4")


class FakeCapture(object):
    """cv2.VideoCapture as documented: VideoCapture(filename|index, apiPreference[, params]), isOpened(),
    read() -> (retval, image), set(propId, value) -> bool, get(propId) -> float, release().
    `works(target)` says whether a target opens and whether it yields frames ("open", "frames", or None)."""

    works = staticmethod(lambda target: "frames")
    opened = []   # (target, apiPreference) per construction, in order
    sets = []     # (propId, value) per set() call, in order

    def __init__(self, target, api_preference, params=None):
        assert isinstance(target, (str, int)) and isinstance(api_preference, int)
        assert params is None or (isinstance(params, list) and len(params) % 2 == 0)
        FakeCapture.opened.append((target, api_preference))
        self.state = FakeCapture.works(target)
        self.released = False

    def isOpened(self):
        return self.state is not None and not self.released

    def read(self):
        import numpy as np
        if self.isOpened() and self.state == "frames":
            return True, np.zeros((4, 4, 3), np.uint8)
        return False, None

    def set(self, prop, value):
        assert isinstance(prop, int)
        FakeCapture.sets.append((prop, value))
        return True

    def get(self, prop):
        return 0.0

    def release(self):
        self.released = True


@pytest.fixture
def fake_cv2(monkeypatch):
    import sys
    import types
    from edge.sources import opencv_source

    cv2 = types.ModuleType("cv2")
    # OpenCV 4.1.1's values (JetPack 4.6); 4.1.1 has no CAP_PROP_OPEN_TIMEOUT_MSEC.
    for name, value in (("CAP_ANY", 0), ("CAP_V4L2", 200), ("CAP_FFMPEG", 1900), ("CAP_GSTREAMER", 1800),
                        ("CAP_PROP_POS_FRAMES", 1), ("CAP_PROP_FRAME_WIDTH", 3), ("CAP_PROP_FRAME_HEIGHT", 4),
                        ("CAP_PROP_FPS", 5), ("CAP_PROP_FOURCC", 6), ("CAP_PROP_BUFFERSIZE", 38)):
        setattr(cv2, name, value)
    cv2.VideoCapture = FakeCapture
    cv2.VideoWriter_fourcc = lambda c1, c2, c3, c4: ord(c1) | ord(c2) << 8 | ord(c3) << 16 | ord(c4) << 24
    cv2.getBuildInformation = lambda: OPENCV_4_GSTREAMER.format(state="YES (1.14.5)")
    monkeypatch.setitem(sys.modules, "cv2", cv2)
    monkeypatch.setattr(opencv_source, "_is_jetson", lambda: True)
    monkeypatch.setattr(opencv_source, "opencv_has_gstreamer", lambda: True)
    monkeypatch.setattr(opencv_source, "check_rtsp_answers", lambda url: None)  # no network behind this cv2
    monkeypatch.setattr(opencv_source, "registry_elements", lambda: JETSON)   # a Jetson's registry
    monkeypatch.setattr(FakeCapture, "opened", [])
    monkeypatch.setattr(FakeCapture, "sets", [])
    return cv2


def _decoders(opened):
    return [target.split(" ! ")[1] for target, api in opened]


def test_rtsp_auto_falls_back_to_h265_when_h264_does_not_open(fake_cv2, monkeypatch):
    monkeypatch.setattr(FakeCapture, "works", staticmethod(lambda target: "frames" if "h265" in target else None))
    source = open_source("rtsp://10.0.0.2/cam").open()
    assert _decoders(FakeCapture.opened) == ["rtph264depay", "rtph265depay"]
    assert set(api for _, api in FakeCapture.opened) == {fake_cv2.CAP_GSTREAMER}
    assert source.read().index == 0 and source.read().index == 1
    source.close()


def test_rtsp_auto_falls_back_when_h264_opens_but_yields_no_frame(fake_cv2, monkeypatch):
    monkeypatch.setattr(FakeCapture, "works", staticmethod(lambda target: "frames" if "h265" in target else "open"))
    source = open_source("rtsp://10.0.0.2/cam").open()
    assert _decoders(FakeCapture.opened) == ["rtph264depay", "rtph265depay"]
    assert source.read() is not None
    source.close()


def test_rtsp_auto_says_which_codecs_it_tried(fake_cv2, monkeypatch):
    from edge.sources.base import SourceError
    monkeypatch.setattr(FakeCapture, "works", staticmethod(lambda target: None))
    with pytest.raises(SourceError, match=r"^cannot open rtsp://10.0.0.2/cam \(tried h264, h265\)"):
        open_source("rtsp://10.0.0.2/cam").open()


def test_rtsp_named_codec_tries_only_that_one(fake_cv2):
    source = open_source("rtsp://10.0.0.2/cam", codec="h265").open()
    assert _decoders(FakeCapture.opened) == ["rtph265depay"]
    source.close()


def test_v4l2_asks_for_mjpeg_before_the_size(fake_cv2):
    source = open_source("/dev/video0", width=1280, height=720, fps=30).open()
    cv2 = fake_cv2
    order = [(prop, value) for prop, value in FakeCapture.sets if prop != cv2.CAP_PROP_BUFFERSIZE]
    assert order == [(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG")), (cv2.CAP_PROP_FRAME_WIDTH, 1280),
                     (cv2.CAP_PROP_FRAME_HEIGHT, 720), (cv2.CAP_PROP_FPS, 30)]
    assert FakeCapture.opened == [("/dev/video0", cv2.CAP_V4L2)]
    source.close()


def test_codec_reaches_the_source_from_flags_and_yaml(tmp_path):
    from edge import camera, collect
    from edge.options import camera_config
    assert camera.build_parser().parse_args(["b", "--codec", "h265"]).codec == "h265"
    argv = ["--source", "rtsp://h/x", "--out", "o", "--label", "a", "--codec", "h265"]
    assert collect.build_parser().parse_args(argv).codec == "h265"
    config_file = tmp_path / "edge-camera.yaml"
    config_file.write_text("bundle: b\nsource: rtsp://h/x\ncodec: h265\n")
    assert camera_config.resolve({"codec": None}, str(config_file))["codec"] == "h265"
    assert camera_config.resolve({"bundle": "b", "source": "rtsp://h/x"})["codec"] == "auto"


# --- capture backends and the element table ---

def test_capture_backend_is_validated_before_opening():
    assert parse_source("rtsp://10.0.0.2/cam").options["capture_backend"] == "auto"
    assert parse_source("rtsp://10.0.0.2/cam", capture_backend="GStreamer").options["capture_backend"] == "gstreamer"
    with pytest.raises(EdgeError, match="^--capture-backend must be one of auto, gstreamer, ffmpeg, got 'vlc'$"):
        parse_source("rtsp://10.0.0.2/cam", capture_backend="vlc")


def test_capture_backend_reaches_the_source_from_flags_and_yaml(tmp_path):
    from edge import camera, collect
    from edge.options import camera_config
    from edge.options.source_args import source_options
    args = camera.build_parser().parse_args(["b", "--capture-backend", "gstreamer"])
    assert source_options(vars(args))["capture_backend"] == "gstreamer"
    argv = ["--source", "rtsp://h/x", "--out", "o", "--label", "a", "--capture-backend", "ffmpeg"]
    assert source_options(vars(collect.build_parser().parse_args(argv)))["capture_backend"] == "ffmpeg"
    config_file = tmp_path / "edge-camera.yaml"
    config_file.write_text("bundle: b\nsource: rtsp://h/x\ncapture-backend: gstreamer\n")
    assert camera_config.resolve({"capture_backend": None}, str(config_file))["capture_backend"] == "gstreamer"
    assert camera_config.resolve({"bundle": "b", "source": "rtsp://h/x"})["capture_backend"] == "auto"
    config_file.write_text("bundle: b\nsource: rtsp://h/x\ncapture_backend: [gstreamer]\n")
    with pytest.raises(EdgeError, match="capture-backend in .* must be a string \\(auto, gstreamer or ffmpeg\\)"):
        camera_config.resolve({}, str(config_file))


@pytest.mark.parametrize("backend, jetson, api", [
    ("auto", True, "CAP_GSTREAMER"), ("auto", False, "CAP_FFMPEG"), ("gstreamer", False, "CAP_GSTREAMER"),
    ("ffmpeg", True, "CAP_FFMPEG"),
])
def test_capture_backend_picks_gstreamer_or_ffmpeg(fake_cv2, monkeypatch, backend, jetson, api):
    from edge.sources import opencv_source
    monkeypatch.setattr(opencv_source, "_is_jetson", lambda: jetson)
    for uri in ("rtsp://10.0.0.2/cam", "http://10.0.0.2/video.mjpg"):
        open_source(uri, capture_backend=backend, codec="h264").open().close()
    assert set(api_ for _, api_ in FakeCapture.opened) == {getattr(fake_cv2, api)}


def test_gstreamer_backend_without_gstreamer_is_one_clear_line(fake_cv2, monkeypatch):
    from edge.sources import opencv_source
    monkeypatch.setattr(opencv_source, "opencv_has_gstreamer", lambda: False)
    with pytest.raises(EdgeError, match="^--capture-backend gstreamer needs OpenCV built with GStreamer [^\n]*$"):
        open_source("rtsp://10.0.0.2/cam", capture_backend="gstreamer").open()
    with pytest.raises(EdgeError, match="^csi:// is read through GStreamer only"):
        open_source("csi://0", capture_backend="ffmpeg").open()
    assert FakeCapture.opened == []
    # auto without GStreamer: OpenCV's FFmpeg, even on a Jetson (a pip opencv-python there)
    open_source("rtsp://10.0.0.2/cam").open().close()
    assert FakeCapture.opened == [("rtsp://10.0.0.2/cam", fake_cv2.CAP_FFMPEG)]


def test_the_registry_picks_the_software_stand_ins(fake_cv2, monkeypatch):
    from edge.sources import opencv_source
    monkeypatch.setattr(opencv_source, "registry_elements", lambda: SOFTWARE)
    open_source("rtsp://10.0.0.2/cam", codec="h265").open().close()
    open_source("csi://0", flip=1).open().close()
    rtsp, csi = [target for target, _ in FakeCapture.opened]
    assert " ! rtph265depay ! h265parse ! avdec_h265 ! videoconvert ! video/x-raw,format=BGR ! appsink" in rtsp
    assert csi.startswith("videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1,format=NV12"
                          " ! videoflip video-direction=3 ! videoconvert ! ")
    assert not [name for name in ("nvv4l2decoder", "nvvidconv", "nvarguscamerasrc", "NVMM") if name in rtsp + csi]


@pytest.mark.parametrize("present, decoder, convert", [
    (("nvarguscamerasrc", "nvv4l2decoder", "nvvidconv"), "nvv4l2decoder enable-max-performance=1", "nvvidconv"),
    ((), "avdec_h264", "videoconvert"),
    # an NVIDIA decoder writes NVMM buffers only nvvidconv reads: without nvvidconv it is not used
    (("nvarguscamerasrc", "nvv4l2decoder"), "avdec_h264", "videoconvert"),
    (("nvvidconv",), "avdec_h264", "videoconvert"),
])
def test_element_table_substitutes_what_the_registry_lacks(present, decoder, convert):
    elements = Elements(present)
    pipeline = rtsp_pipeline("rtsp://10.0.0.2/cam", codec="h264", elements=elements)
    assert " ! rtph264depay ! h264parse ! {} ! {}".format(decoder, convert) in pipeline
    assert ("NVMM" in csi_pipeline(0, elements=elements)) == ("nvarguscamerasrc" in present and "nvvidconv" in present)


def test_registry_probe_through_gst_inspect_is_cached(monkeypatch):
    from edge.sources import elements
    calls = []
    monkeypatch.setattr(elements, "_probed", {})
    monkeypatch.setattr(elements, "_probe_gi", lambda names: None)   # no Python GI
    monkeypatch.setattr(elements.subprocess, "call",
                        lambda argv, **kw: calls.append(argv[1]) or (0 if argv[1] == "nvvidconv" else 1))
    assert elements.registry_elements().present == {"nvvidconv"}
    assert elements.registry_elements().present == {"nvvidconv"}
    assert sorted(calls) == sorted(elements.NVIDIA_ELEMENTS)    # asked once each
    assert elements.registry_elements(probe=lambda names: set(names)).argus


def test_scaling_covers_the_box_keeping_the_aspect_ratio():
    from edge.sources.gstreamer import cover_size, stream_size
    assert cover_size((1280, 720), (256, 256)) == (455, 256)    # rounded as resize_plan rounds
    assert cover_size((720, 1280), (256, 256)) == (256, 455)
    assert cover_size((320, 240), (256, 256)) is None          # never upscale
    assert cover_size((1280, 720), None) is None
    assert stream_size(None, None, (256, 256)) == (None, "[16,256]")
    assert stream_size(640, None, (256, 256)) == (640, None)   # an asked side wins
    assert stream_size(640, 360, (128, 128)) == (228, 128)
    assert stream_size(None, None, None) is None


def test_scaled_pipelines_scale_before_converting():
    jetson = csi_pipeline(0, 1280, 720, 30, 0, scale_to=(256, 256))
    assert "nvvidconv flip-method=0 ! video/x-raw,format=BGRx,width=455,height=256,pixel-aspect-ratio=1/1 ! " \
           "videoconvert ! video/x-raw,format=BGR" in jetson
    software = rtsp_pipeline("rtsp://h/x", elements=SOFTWARE, scale_to=(224, 224), fps=10)
    assert "avdec_h264 ! videorate drop-only=true ! video/x-raw,framerate=10/1 ! videoscale ! " \
           "video/x-raw,height=[16,224],pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=BGR" in software


def test_scale_to_is_validated():
    assert parse_source("csi://0", scale_to=[224, 256]).options["scale_to"] == (224, 256)
    for bad in ((224,), "224x224", (8, 224)):
        with pytest.raises(EdgeError, match="scale_to"):
            parse_source("csi://0", scale_to=bad)


def test_mjpeg_location_is_guarded():
    from edge.sources.gstreamer import mjpeg_pipeline
    assert mjpeg_pipeline("http://h/x.mjpg", SOFTWARE).startswith("souphttpsrc location=http://h/x.mjpg is-live=true")
    with pytest.raises(EdgeError, match="refusing HTTP location"):
        mjpeg_pipeline("http://h/x ! filesink location=/tmp/x", SOFTWARE)


def test_scale_demand_grows_for_the_preview_and_shrinks_after_the_last_viewer_lingers():
    from edge.bundle.preprocess import PreprocessSpec
    from edge.sources.scaling import ScaleDemand, model_box
    now = [100.0]
    demand = ScaleDemand(model_box(PreprocessSpec(size=(224, 224))), preview_box=(640, 360), linger_s=10,
                         clock=lambda: now[0])
    assert demand() == (256, 256)
    demand.joined()
    demand.joined()
    demand.left()
    assert demand() == (640, 360)
    demand.left()
    now[0] += 9.9
    assert demand() == (640, 360)
    now[0] += 0.2
    assert demand() == (256, 256)
    assert ScaleDemand((800, 600), preview_box=(640, 360)).preview_box == (800, 600)


class ScalingFake(object):
    """A source whose pipeline scales (or not): records each open with its box."""

    def __init__(self, box, log, scales=True):
        self.box, self.log, self.scales = box, log, scales
        self.uri, self.live, self.ended, self.index = "csi://0", True, False, 0

    def open(self):
        self.log.append(("open", self.box))

    def read(self, timeout=1.0):
        from edge.sources.base import Frame
        self.index += 1
        return Frame(self.box, self.index - 1)

    def close(self):
        self.log.append(("close", self.box))


@pytest.mark.parametrize("scales", [True, False])
def test_rescaling_source_reopens_only_a_scaling_pipeline_when_the_box_changes(scales):
    from edge.sources.scaling import RescalingSource
    box, log = [(256, 256)], []
    source = RescalingSource(lambda b: ScalingFake(b, log, scales), lambda: box[0])
    source.open()
    first = source.read()
    box[0] = (640, 360)
    second, third = source.read(), source.read()
    source.close()
    assert [first.index, second.index, third.index] == [0, 1, 2]
    if scales:
        assert second.image == (640, 360) and source.reopens == 1
        assert log == [("open", (256, 256)), ("close", (256, 256)), ("open", (640, 360)), ("close", (640, 360))]
    else:
        assert second.image == (256, 256) and source.reopens == 0


def test_open_source_with_a_changing_box_validates_at_once():
    from edge.sources.scaling import RescalingSource
    source = open_source("rtsp://10.0.0.2/cam", scale_to=lambda: (224, 224))
    assert isinstance(source, RescalingSource) and source.inner.spec.options["scale_to"] == (224, 224)
    with pytest.raises(EdgeError, match="not a source"):
        open_source("rtsp://x ! y", scale_to=lambda: (224, 224))


def test_edge_camera_scales_only_for_a_classifier():
    from edge.bundle.preprocess import PreprocessSpec
    from edge.sources.scaling import demand_for
    from edge.tasks.classification import ClassificationTask
    from edge.tasks.regression import RegressionTask

    class Bundle(object):
        task = ClassificationTask()
        spec = PreprocessSpec(size=(224, 224))

    assert demand_for(Bundle())() == (256, 256)
    Bundle.task = RegressionTask()
    assert demand_for(Bundle()) is None     # a regression bundle's points are in pixels of the camera frame


@pytest.mark.parametrize("size, crop_pct, resize", [(224, 0.875, "center_crop"), (32, 0.875, "center_crop"),
                                                    (64, 1.0, "center_crop"), ((96, 160), 1.0, "stretch")])
def test_a_scaled_frame_is_one_the_preprocessing_does_not_resize(size, crop_pct, resize):
    from edge.bundle.preprocess import PreprocessSpec, resize_plan
    from edge.sources.gstreamer import cover_size
    from edge.sources.scaling import model_box
    spec = PreprocessSpec(size=size, crop_pct=crop_pct, resize=resize)
    for frame in ((1280, 720), (1920, 1080), (640, 480), (720, 1280), (1000, 333)):
        width, height = cover_size(frame, model_box(spec))
        assert abs(width / float(height) - frame[0] / float(frame[1])) < 0.02 * frame[0] / float(frame[1])
        if resize == "center_crop":
            assert resize_plan((height, width), spec)[:2] == (height, width), (frame, width, height)
