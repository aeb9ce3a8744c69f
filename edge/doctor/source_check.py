"""--source: open the camera or stream the daemon would use, read frames for a few seconds, and
report their rate and size (a CSI camera that will not start shows here, not in the service log).

Every call into the source runs on a reader thread watched by a deadline (edge.sources.watchdog):
an RTSP camera that drops can leave OpenCV's GStreamer read blocked forever, and the doctor must
still finish with a report."""

import time

from edge.doctor.checks import FAIL, PASS, Check
from edge.errors import EdgeError
from edge.sources.factory import open_source
from edge.sources.watchdog import OPEN_GUARD_S, RELEASE_TIMEOUT_S, Worker, ensure_capacity, stop_and_release

FIX = "see jetson/README.md, CSI camera troubleshooting; edge-camera --help lists the source forms"
READ_TIMEOUT_S = 5.0  # one read that has not returned by then: the stream stopped (edge-camera's stall timeout)


def source_check(uri, seconds=3.0, options=None):
    """One Check: frames per second and frame size read from `uri` for `seconds`."""
    name = "source {}".format(uri)
    reader = Worker("doctor-reader")
    try:
        source = open_source(uri, **dict({"realtime": True}, **(options or {})))
        ensure_capacity(uri)
        reader.call(source.open, OPEN_GUARD_S, "open {}".format(uri),
                    late=lambda call: call.error is None and source.close())
    except EdgeError as exc:
        reader.close()
        return Check(name, FAIL, "cannot open: {}".format(exc), fix=FIX)
    count, size, first = 0, None, None
    started = time.time()
    try:
        while time.time() - started < seconds and not source.ended:
            frame = reader.call(lambda: source.read(timeout=1.0), READ_TIMEOUT_S, "read")
            if frame is None:
                continue
            first = first or time.time()
            count += 1
            size = frame.image.shape[1], frame.image.shape[0]
    except EdgeError as exc:
        return Check(name, FAIL, "stopped after {} frames: {}".format(count, exc), fix=FIX)
    finally:
        reader.close()
        # A stuck read is interrupted, then the source closed; what still blocks is left behind, counted.
        stop_and_release(reader.current, getattr(source, "interrupt", None), source.close, RELEASE_TIMEOUT_S,
                         "doctor {}".format(uri))
    elapsed = time.time() - (first or started)
    if count == 0:
        return Check(name, FAIL, "opened, but no frame came in {:.0f} s".format(seconds), fix=FIX)
    fps = (count - 1) / elapsed if count > 1 and elapsed > 0 else 0.0
    return Check(name, PASS, "{:.1f} fps, {}x{} ({} frames in {:.1f} s)".format(fps, size[0], size[1], count,
                                                                              time.time() - started),
                 data={"fps": fps, "width": size[0], "height": size[1], "frames": count})
