"""Which GStreamer elements build the camera pipelines: NVIDIA's where the registry has them, software
stand-ins where it does not.

    role              NVIDIA (Jetson)                          software stand-in (desktop, x86, CI)
    CSI camera        nvarguscamerasrc sensor-id=N             videotestsrc is-live=true (simulated only)
    H.264 decoder     nvv4l2decoder enable-max-performance=1   avdec_h264
    H.265 decoder     nvv4l2decoder enable-max-performance=1   avdec_h265
    convert + scale   nvvidconv (flip-method, size in NVMM)    videoflip, videoscale, videoconvert
    raw caps          video/x-raw(memory:NVMM)                 video/x-raw (the NVMM feature dropped)
    JPEG decoder      jpegdec                                  jpegdec

An NVIDIA source or decoder writes NVMM buffers that only nvvidconv reads, so each is used only
together with nvvidconv. A size with one side free (or a range) is fixed by the scaler keeping the
display aspect ratio: videoscale's fixate_caps, and nvvidconv's, derived from it (L4T's T210 source of
gstnvvconv.c; not run here). The registry is probed once per process: through Python GI where it
imports (JetPack 4.6 has python3-gi), else by the exit code of `gst-inspect-1.0 NAME`.
"""

import os
import subprocess

NVIDIA_ELEMENTS = ("nvarguscamerasrc", "nvv4l2decoder", "nvvidconv")
SOFTWARE_ELEMENTS = ("videotestsrc", "avdec_h264", "avdec_h265", "videoflip", "videoscale", "videoconvert",
                     "videorate", "jpegdec")
# nvvidconv flip-method -> videoflip video-direction: the same eight flips, numbered differently.
# (videoflip's older `method` property no longer turns the frame in GStreamer 1.22: measured here.)
VIDEOFLIP_DIRECTION = {0: 0, 1: 3, 2: 2, 3: 1, 4: 4, 5: 7, 6: 5, 7: 6}

_probed = {}   # element name -> present, for this process (the registry does not change while it runs)


class Elements(object):
    """The elements a pipeline uses, chosen from `present` (the names the registry has)."""

    def __init__(self, present):
        self.present = frozenset(present)

    def __repr__(self):
        return "Elements({})".format("nvidia" if self.nvmm else "software")

    @property
    def nvmm(self):
        """Whether nvvidconv is there to take NVMM buffers (and to scale inside NVMM)."""
        return "nvvidconv" in self.present

    @property
    def argus(self):
        return self.nvmm and "nvarguscamerasrc" in self.present

    @property
    def hardware_decode(self):
        return self.nvmm and "nvv4l2decoder" in self.present

    def decoder(self, codec):
        """The decoder for `codec` (h264 or h265) and whether its output is in NVMM."""
        if self.hardware_decode:
            return "nvv4l2decoder enable-max-performance=1", True
        return "avdec_{}".format(codec), False

    def camera(self, sensor_id, width, height, fps):
        """A CSI camera at width x height, fps, and whether its output is in NVMM."""
        if self.argus:
            return ("nvarguscamerasrc sensor-id={} ! video/x-raw(memory:NVMM),width={},height={},framerate={}/1,"
                    "format=NV12".format(int(sensor_id), width, height, fps)), True
        # The stand-in: a live test pattern at the asked size and rate (there is no sensor to pick).
        return ("videotestsrc is-live=true ! video/x-raw,width={},height={},framerate={}/1,"
                "format=NV12".format(width, height, fps)), False

    def to_bgr(self, nvmm_input, flip=None, size=None, fps=None):
        """Raw video (NVMM or not) -> BGR at `size` ((width, height); None or a None side: as it comes,
        or as the aspect ratio gives), at most `fps` frames a second.

        NVIDIA: nvvidconv flips and scales inside NVMM, so videoconvert handles only the small BGRx frame.
        Software: videoflip, videoscale before videoconvert, for the same reason."""
        rate = ["videorate drop-only=true", "video/x-raw,framerate={}/1".format(int(fps))] if fps else []
        if nvmm_input:
            convert = "nvvidconv flip-method={}".format(int(flip)) if flip is not None else "nvvidconv"
            parts = [convert, "video/x-raw,format=BGRx" + _size_caps(size)] + rate + ["videoconvert"]
        else:
            parts = ["videoflip video-direction={}".format(VIDEOFLIP_DIRECTION[int(flip)])] if flip else []
            parts += rate
            if size is not None:
                parts += ["videoscale", "video/x-raw" + _size_caps(size)]
            parts.append("videoconvert")
        return " ! ".join(parts + ["video/x-raw,format=BGR"])


def _size_caps(size):
    """",width=W,height=H" for the sides given (one side alone: the scaler keeps the aspect ratio)."""
    if size is None:
        return ""
    width, height = size
    # A side is a number, or a range ("[16,256]": as near the input as it allows, for a stream of unknown size).
    caps = "".join(",{}={}".format(name, value if isinstance(value, str) else int(value))
                   for name, value in (("width", width), ("height", height)) if value is not None)
    # Square pixels out: with one side fixed, the scaler then fixes the other by the display aspect ratio.
    return caps + (",pixel-aspect-ratio=1/1" if caps else "")


JETSON = Elements(NVIDIA_ELEMENTS)
SOFTWARE = Elements(())


def registry_elements(probe=None):
    """Elements for this machine's GStreamer registry (probed once); `probe(names) -> present names`
    replaces the probe (tests, or a registry known in advance)."""
    names = NVIDIA_ELEMENTS
    return Elements((probe or probe_registry)(names))


def probe_registry(names):
    """The names in `names` that this machine's GStreamer registry has; cached for the process."""
    missing = [name for name in names if name not in _probed]
    if missing:
        found = _probe_gi(missing)
        if found is None:
            found = _probe_gst_inspect(missing)
        if found is None:  # no way to ask: a Jetson has them (JetPack), anything else does not
            found = set(missing) if os.path.exists("/etc/nv_tegra_release") else set()
        for name in missing:
            _probed[name] = name in found
    return frozenset(name for name in names if _probed[name])


def _probe_gi(names):
    """The present names, through Python GI; None when GI (or its Gst) does not import."""
    try:
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError):
        return None
    Gst.init(None)
    return set(name for name in names if Gst.ElementFactory.find(name) is not None)


def _probe_gst_inspect(names):
    """The present names, by gst-inspect-1.0's exit code; None when the tool is not installed."""
    found = set()
    with open(os.devnull, "w") as devnull:
        for name in names:
            try:
                code = subprocess.call(["gst-inspect-1.0", name], stdout=devnull, stderr=devnull)
            except OSError:
                return None
            if code == 0:
                found.add(name)
    return found
