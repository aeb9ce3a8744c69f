"""Shared test configuration: hardware markers skip with a reason when the hardware is missing."""

import importlib
import os

import pytest

# Bundle fixtures (export_checkpoint, export_int8_bundle, ...) are shared by export and runtime tests.
pytest_plugins = ["tests.bundle_fixtures"]


def _has(module):
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


def _has_cuda():
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    reasons = {
        "gpu": None if _has_cuda() else "needs an NVIDIA GPU with CUDA (none here)",
        "tensorrt": None if _has("tensorrt") else "needs a real TensorRT install (comes with JetPack)",
        "jetson": None if _has_jetson() else "needs a Jetson device (/etc/nv_tegra_release)",
        "gstreamer": _gstreamer_missing(),
        "browser": _browser_missing(),
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker) is not None:
                if marker == "gstreamer" and os.environ.get("EDGE_REQUIRE_GSTREAMER"):
                    item.add_marker(pytest.mark.usefixtures("_gstreamer_required"))
                elif marker == "browser" and os.environ.get("EDGE_REQUIRE_BROWSER"):
                    item.add_marker(pytest.mark.usefixtures("_browser_required"))
                else:
                    item.add_marker(pytest.mark.skip(reason=reason))


def _gstreamer_missing():
    """Why the `gstreamer` tests cannot run here (None when they can): OpenCV with GStreamer, and GI."""
    try:
        from edge.sources.gstreamer import opencv_has_gstreamer
        if not opencv_has_gstreamer():
            return "needs OpenCV built with GStreamer (make test-gstreamer: Debian's python3-opencv)"
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst, GstRtspServer  # noqa: F401
    except Exception as exc:
        return "needs GStreamer through Python GI and gst-rtsp-server (make test-gstreamer): {}".format(exc)
    return None


def _browser_missing():
    """Why the `browser` tests cannot run here (None when they can): selenium, chromium and chromedriver."""
    import shutil

    missing = ["Debian's {} (make browser-deps)".format(tool) for tool in ("chromium", "chromedriver")
               if shutil.which(tool) is None]
    if not _has("selenium"):
        missing.append("selenium (pip install -e '.[dev]')")
    return "needs " + ", ".join(missing) if missing else None


@pytest.fixture
def _browser_required():
    """Under EDGE_REQUIRE_BROWSER (make test under CI) a browser test that cannot run fails."""
    pytest.fail("EDGE_REQUIRE_BROWSER is set but " + _browser_missing())


@pytest.fixture
def _gstreamer_required():
    """Under EDGE_REQUIRE_GSTREAMER (make test-gstreamer) a gstreamer test that cannot run fails."""
    pytest.fail("EDGE_REQUIRE_GSTREAMER is set but " + _gstreamer_missing())


# Desktop-only test folders and what they need: a Jetson (edge/ only, no torch) leaves them out.
DESKTOP_ONLY = {"train": ("torch",), "export": ("torch", "onnx", "onnxruntime")}


def _desktop_only_missing(folder):
    return [module for module in DESKTOP_ONLY.get(folder, ()) if not _has(module)]


def pytest_ignore_collect(collection_path, config):
    parent = collection_path.parent
    if parent.name == "tests" and parent.parent == config.rootpath:
        return bool(_desktop_only_missing(collection_path.name)) or None
    return None


def pytest_report_header(config):
    left_out = ["tests/{} (needs {})".format(folder, ", ".join(_desktop_only_missing(folder)))
                for folder in sorted(DESKTOP_ONLY) if _desktop_only_missing(folder)]
    if left_out:
        return "desktop-only tests left out on this machine: " + "; ".join(left_out)
    return None


def _has_jetson():
    import os
    return os.path.exists("/etc/nv_tegra_release")
