"""The element table against the real GStreamer registry: the probe (Python GI, and gst-inspect-1.0 when GI
is missing) finds no NVIDIA element here, and the pipelines the table builds launch where the Jetson's
own strings cannot."""

import shutil

import pytest

from edge.sources import elements
from edge.sources.elements import JETSON, NVIDIA_ELEMENTS, SOFTWARE_ELEMENTS, registry_elements
from edge.sources.gstreamer import csi_pipeline, mjpeg_pipeline, rtsp_pipeline
from tests.edge.gstreamer.conftest import has_elements

pytestmark = pytest.mark.gstreamer


def _launch(pipeline):
    """Gst.parse_launch `pipeline` (its appsink swapped for a fakesink): the error text, or None."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
    Gst.init(None)
    try:
        Gst.parse_launch(pipeline.replace("appsink drop=true max-buffers=1 sync=false", "fakesink"))
    except GLib.Error as error:
        return error.message
    return None


def test_probe_by_gi_and_by_gst_inspect_agree(monkeypatch):
    names = NVIDIA_ELEMENTS + SOFTWARE_ELEMENTS
    expected = set(name for name in names if has_elements(name))
    assert expected == set(SOFTWARE_ELEMENTS)      # this machine: software only
    monkeypatch.setattr(elements, "_probed", {})
    assert elements.probe_registry(names) == expected
    if shutil.which("gst-inspect-1.0"):
        monkeypatch.setattr(elements, "_probed", {})
        monkeypatch.setattr(elements, "_probe_gi", lambda names: None)
        assert elements.probe_registry(names) == expected


def test_jetson_pipelines_do_not_parse_here_and_their_substitutes_do():
    here = registry_elements()
    assert not here.nvmm and not here.hardware_decode and not here.argus
    cases = [lambda e: csi_pipeline(0, 640, 360, 15, 2, elements=e, scale_to=(224, 224)),
             lambda e: rtsp_pipeline("rtsp://127.0.0.1:9/cam", codec="h265", elements=e, fps=10, scale_to=(224, 224)),
             lambda e: rtsp_pipeline("rtsp://127.0.0.1:9/cam", codec="h264", elements=e, width=320, height=240)]
    for build in cases:
        assert "no element" in (_launch(build(JETSON)) or ""), build(JETSON)
        assert _launch(build(here)) is None, build(here)
    # MJPEG is decoded by jpegdec on the CPU everywhere: one pipeline for both
    mjpeg = mjpeg_pipeline("http://127.0.0.1:9/x.mjpg", elements=here, height=120)
    assert mjpeg == mjpeg_pipeline("http://127.0.0.1:9/x.mjpg", elements=JETSON, height=120)
    assert _launch(mjpeg) is None
