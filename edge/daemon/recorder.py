"""Tag and record from edge-camera's page: frames saved into the device's dataset folder (--dataset DIR).

The layout and the file names are edge-collect's (edge.util.capture_names): DIR/<class>/<class>-<time>-<n>.jpg
for a classifier, DIR/<x>_<y>_<time>-<n>.jpg for a regression point, which is also written as a row of
DIR/labels.csv (edge.tasks.point_labels' format: `file,x,y`, x and y in pixels of the saved image). A folder
is one or the other: points go to a folder without class folders, classes to one without labels.csv.
Every file is written atomically (edge.util.atomic): a full disk leaves the frames already saved whole, the
one being written gone, and labels.csv as it was; the error says so in one line (status 507).
`undo` removes the last capture (all frames of a burst, or the last point and its row). `write_archive`
streams the folder as .tar.gz (for edge-train on a desktop), temporary files left out.
"""

import csv
import errno
import io
import os
import tarfile
import threading
import time

from edge.errors import EdgeError
from edge.tasks.point_labels import LABELS_CSV, point_from_name
from edge.util.atomic import make_folder, write_text
from edge.util.capture_names import CLASS_NAME, capture_stamp, write_new_capture
from edge.util.image_folders import class_folders, image_files, is_image_name

MAX_BURST = 100
MAX_RATE = 30.0
MAX_BURST_S = 60.0
FRAME_WAIT_S = 2.0


class RecorderError(EdgeError):
    """A capture refused or failed; `status` is the HTTP status the page gets."""

    def __init__(self, message, status=400):
        super(RecorderError, self).__init__(message)
        self.status = status


class DatasetRecorder(object):
    def __init__(self, folder, quality=95):
        self.folder = os.path.abspath(folder)
        self.quality = quality
        self.stamp = capture_stamp()
        self.index = 0
        self.history = []           # per capture: (image paths, labels.csv rows it added)
        self._lock = threading.Lock()
        make_folder(self.folder, "--dataset folder")

    # ----- what is there ---------------------------------------------------------------------------
    def summary(self):
        """{"folder", "classes": {class: images}, "points": images with a point, "undo": captures undoable}."""
        classes = dict((name, len(image_files(os.path.join(self.folder, name)))) for name in class_folders(self.folder))
        points = len([name for name in os.listdir(self.folder) if is_image_name(name)])
        return {"folder": self.folder, "classes": classes, "points": points, "undo": len(self.history)}

    def add_class(self, label):
        label = self._class_name(label)
        make_folder(os.path.join(self.folder, label), "class folder")
        return self.summary()

    def _class_name(self, label):
        label = (label or "").strip()
        if not CLASS_NAME.match(label):
            raise RecorderError("a class name is a plain folder name (letters, digits, space, _ . -, up to 64), "
                                "got {!r}".format(label))
        if os.path.isfile(os.path.join(self.folder, LABELS_CSV)):
            raise RecorderError("{} holds points (labels.csv): classes go to another --dataset folder".format(
                self.folder), 409)
        return label

    # ----- captures --------------------------------------------------------------------------------
    def capture(self, label, grab, count=1, rate=1.0):
        """Save `count` frames of class `label`, `rate` a second; grab(after) gives (index, image) of a frame
        newer than frame `after` (None: any), or None when none comes. The summary, with "saved"."""
        label = self._class_name(label)
        if not (1 <= count <= MAX_BURST) or not (0 < rate <= MAX_RATE) or (count - 1) / rate > MAX_BURST_S:
            raise RecorderError("a burst is 1 to {} frames at up to {:g} a second, over {:g} s at most".format(
                MAX_BURST, MAX_RATE, MAX_BURST_S))
        folder = make_folder(os.path.join(self.folder, label), "class folder")
        saved, last, due = [], None, time.time()
        with self._lock:
            try:
                for _ in range(count):
                    time.sleep(max(0.0, due - time.time()))
                    due = time.time() + 1.0 / rate
                    frame = grab(last)
                    if frame is None:
                        raise RecorderError("no frame from the camera in {:g} s".format(FRAME_WAIT_S), 503)
                    last = frame[0]
                    saved.append(self._write_new(folder, self._jpeg(frame[1]), label=label))
            except (OSError, EdgeError) as exc:
                raise self._failed(exc, saved, count)
            finally:
                if saved:
                    self.history.append((saved, []))
        return dict(self.summary(), saved=[os.path.relpath(path, self.folder) for path in saved])

    def add_point(self, image, x, y):
        """Save `image` as <x>_<y>_<time>-<n>.jpg with its row in labels.csv; x, y whole pixels of `image`."""
        height, width = image.shape[:2]
        if not (0 <= x < width and 0 <= y < height):
            raise RecorderError("the point {},{} is outside the {}x{} frame".format(x, y, width, height))
        if class_folders(self.folder):
            raise RecorderError("{} holds classes: points go to another --dataset folder".format(self.folder), 409)
        with self._lock:
            path = None
            try:
                rows = self._rows()   # before the new image: a folder without labels.csv gets a row per named image
                path = self._write_new(self.folder, self._jpeg(image), point=(x, y))
                row = [os.path.basename(path), str(x), str(y)]
                self._write_rows(rows + [row])
            except (OSError, EdgeError) as exc:
                if path is not None:
                    os.unlink(path)
                raise self._failed(exc, [], 1)
            self.history.append(([path], [row]))
        return dict(self.summary(), saved=[os.path.basename(path)])

    def undo(self):
        """Remove the last capture's images (and rows); the summary, with "removed"."""
        with self._lock:
            if not self.history:
                raise RecorderError("nothing to undo", 409)
            paths, rows = self.history.pop()
            if rows:
                self._write_rows([row for row in self._rows() if row not in rows])
            for path in paths:
                if os.path.exists(path):
                    os.unlink(path)
        return dict(self.summary(), removed=[os.path.relpath(path, self.folder) for path in paths])

    def _jpeg(self, image):
        from edge.util.lazy import require

        cv2 = require("cv2", "recording frames")
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RecorderError("OpenCV could not encode a JPEG", 500)
        return data.tobytes()

    def _write_new(self, folder, data, label=None, point=None):
        path, self.index = write_new_capture(folder, self.stamp, self.index, data, label, point)
        return path

    def _failed(self, exc, saved, count):
        if isinstance(exc, RecorderError):
            return exc
        if getattr(exc, "errno", None) == errno.ENOSPC:
            return RecorderError("the disk holding {} is full: {} of {} frame(s) saved, nothing half-written; free "
                                 "some space".format(self.folder, len(saved), count), 507)
        return RecorderError("cannot save into {} ({}); {} of {} frame(s) saved".format(
            self.folder, getattr(exc, "strerror", None) or exc, len(saved), count), 500)

    # ----- labels.csv ------------------------------------------------------------------------------
    def _rows(self):
        """labels.csv's rows (header left out); a folder without one: a row per image named by its point."""
        path = os.path.join(self.folder, LABELS_CSV)
        if not os.path.isfile(path):
            names = sorted(name for name in os.listdir(self.folder) if point_from_name(name) is not None)
            return [[name] + ["{:g}".format(value) for value in point_from_name(name)] for name in names]
        with open(path) as handle:
            rows = [row for row in csv.reader(handle) if row]
        return rows[1:]

    def _write_rows(self, rows):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["file", "x", "y"])
        writer.writerows(rows)
        write_text(os.path.join(self.folder, LABELS_CSV), text.getvalue())

    # ----- download --------------------------------------------------------------------------------
    def archive_name(self):
        return (os.path.basename(self.folder) or "dataset") + ".tar.gz"

    def write_archive(self, out):
        """Stream the folder as .tar.gz into `out` (a file-like with write), under its own name; hidden and
        temporary files left out."""
        root = os.path.basename(self.folder) or "dataset"
        with tarfile.open(fileobj=out, mode="w|gz") as archive:
            for directory, folders, names in os.walk(self.folder):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    path = os.path.join(directory, name)
                    try:
                        archive.add(path, arcname=os.path.join(root, os.path.relpath(path, self.folder)))
                    except (IOError, OSError):
                        continue   # removed by an undo while we walked
