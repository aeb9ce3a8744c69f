"""edge-collect: capture labelled images from a camera into an image-folder dataset.

Builds DATASET/<label>/<images> the way NVIDIA's Jetson course does (thumbs up / thumbs down):
point the camera, run once per label, then train with edge-train DATASET. For regression (the
course's "where is my nose"), --point X,Y labels every saved frame with that point instead:
DATASET/<x>_<y>_<id>.jpg, x and y in pixels of the saved frame, which edge-train reads as a
regression dataset. The course clicks the point on a live image; that needs a display (Jupyter or
a desktop), which a headless device lacks, so here the point is given: put the object at X,Y
(mark the spot on the camera's view) and save frames; run again with the next point. Two modes:
  --interval S   save the newest frame every S seconds (hands-free, e.g. while you move the object)
  --key          save the newest frame each time Enter is pressed; q then Enter stops
                 (works over SSH, no display needed)
Images are written atomically as JPEG, named <label>-<time>-<n>.jpg (with --point
<x>_<y>_<time>-<n>.jpg), so runs never overwrite.
Exit codes: 0 done; 2 usage error; 3 the source cannot be used at all; 130 Ctrl-C.
"""

import os
import sys
import threading
import time

from edge.util.atomic import make_folder
from edge.util.capture_names import CLASS_NAME as LABEL, capture_stamp, write_new_capture
from edge.cli import make_parser, progress_log, run_main
from edge.errors import EXIT_OK, EdgeError, Unusable


def build_parser():
    from edge.options.source_args import add_source_arguments
    from edge.sources.uri import USAGE

    parser = make_parser("edge-collect", __doc__, USAGE + """
examples:
  edge-collect --source csi://0 --out data/thumbs --label up --interval 0.5 --count 100
  edge-collect --source /dev/video0 --out data/thumbs --label down --key
  edge-collect --source csi://0 --width 640 --height 480 --out data/nose --point 320,240 --key
""")
    add_source_arguments(parser, required=True)
    parser.add_argument("--out", required=True, help="dataset folder (created if needed)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--label", help="class name: the sub-folder the images go to")
    what.add_argument("--point", metavar="X,Y",
                      help="regression: label every frame with this point, whole pixels of the saved frame; saves "
                           "--out/<x>_<y>_<id>.jpg. A clicked point needs a display the device may lack: place the "
                           "object at X,Y and save, then run again with the next point")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--interval", type=float, help="seconds between saved frames (default 1)")
    mode.add_argument("--key", action="store_true", help="save a frame per Enter key press; q + Enter stops")
    parser.add_argument("--count", type=int, help="stop after this many images")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    return parser


def parse_point(text):
    """(x, y) from --point "X,Y": two whole, non-negative pixel positions; else one EdgeError."""
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise EdgeError("--point takes X,Y in whole pixels of the saved frame, like 320,240; got {!r}".format(text))
    return int(parts[0]), int(parts[1])


class Collector(object):
    """Saves the newest frame as <label>-<time>-<n>.jpg, or with `point` as <x>_<y>_<time>-<n>.jpg."""

    def __init__(self, grabber, folder, label, quality=95, log=None, point=None):
        self.grabber, self.folder, self.label, self.quality = grabber, folder, label, quality
        self.point = point
        self.log = log or progress_log("edge-collect")
        self.saved = 0
        self.index = 0
        self.stamp = capture_stamp()

    def save_newest(self, timeout=2.0):
        """Write the newest frame; False when none came (source ended or stalled)."""
        from edge.util.lazy import require

        cv2 = require("cv2", "edge-collect")
        frame = self.grabber.get(timeout=timeout)
        if frame is None:
            return False
        if self.point is not None:
            height, width = frame.image.shape[:2]
            if not (self.point[0] < width and self.point[1] < height):
                raise EdgeError("--point {},{} is outside the {}x{} frames this source gives; give pixels of the saved "
                                "frame (x below {}, y below {})".format(self.point[0], self.point[1], width, height,
                                                                         width, height))
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise EdgeError("OpenCV could not encode a JPEG")
        path, self.index = write_new_capture(self.folder, self.stamp, self.index, data.tobytes(), self.label,
                                             self.point)
        self.saved += 1
        self.log("saved {} ({} so far)".format(path, self.saved))
        return True


def _key_presses(stop):
    """Yield once per Enter on stdin until 'q', end of input, or `stop` is set."""
    for line in sys.stdin:
        if stop.is_set() or line.strip().lower() in ("q", "quit", "exit"):
            return
        yield


def _main(argv):
    args = build_parser().parse_args(argv)
    point = parse_point(args.point) if args.point is not None else None
    label = args.label.strip() if point is None else None
    if point is None and not LABEL.match(label):
        raise EdgeError("--label {!r} must be a plain folder name (letters, digits, space, _ . -)".format(args.label))
    from edge.options.ranges import check_args
    from edge.options.source_args import SOURCE_NUMBERS, source_options
    check_args(args, ("interval", "count", "duration", "quality") + SOURCE_NUMBERS)
    interval = 1.0 if args.interval is None else args.interval
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise EdgeError("--out {} is a file; it must be a dataset folder".format(args.out))

    from edge.sources.factory import open_source
    from edge.sources.grabber import LatestFrameGrabber

    options = dict(source_options(vars(args)), realtime=True)
    open_source(args.source, **options)  # validate before creating anything
    folder = os.path.join(args.out, label) if point is None else args.out
    make_folder(folder, "--out folder")
    log = progress_log("edge-collect")
    grabber = LatestFrameGrabber(lambda: open_source(args.source, **options), log=log).start()
    collector = Collector(grabber, folder, label, args.quality, log=log, point=point)
    what = repr(label) if point is None else "point {},{}".format(*point)
    started = time.time()
    stop = threading.Event()
    done = lambda: ((args.count is not None and collector.saved >= args.count)
                    or (args.duration is not None and time.time() - started >= args.duration))
    try:
        if args.key:
            log("press Enter to save a frame of {}, q then Enter to stop".format(what))
            for _ in _key_presses(stop):
                if not collector.save_newest() and grabber.state in ("ended", "failed"):
                    break
                if done():
                    break
        else:
            next_due = time.time()
            while not done():
                time.sleep(max(0.0, next_due - time.time()))
                next_due += interval
                if not collector.save_newest() and grabber.state in ("ended", "failed"):
                    break
    finally:
        stop.set()
        grabber.stop(timeout=0.5)
    if grabber.fatal is not None:
        raise Unusable(str(grabber.fatal))
    total = len([n for n in os.listdir(folder) if n.lower().endswith(".jpg")])
    print("saved {} image(s) of {} to {} ({} in that {} now)".format(
        collector.saved, what, folder, total, "class" if point is None else "dataset"))
    return EXIT_OK


def main(argv=None):
    return run_main("edge-collect", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
