"""The file names of captured images, edge-collect's and edge-camera's page's alike (one home):
<label>-<time>-<n>.jpg in the class folder, or <x>_<y>_<time>-<n>.jpg for a regression point (the names
edge.tasks.point_labels reads back). <time> is a run's stamp (capture_stamp), <n> counts up within it.
"""

import os
import re
import time

CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")   # a class: a plain folder name


def capture_stamp():
    return time.strftime("%Y%m%d-%H%M%S")


def capture_name(stamp, index, label=None, point=None):
    """The file name of capture `index` of the run stamped `stamp`: of class `label`, or at `point` (x, y)."""
    if point is None:
        return "{}-{}-{:04d}.jpg".format(label, stamp, index)
    return "{}_{}_{}-{:04d}.jpg".format(point[0], point[1], stamp, index)


def write_new_capture(folder, stamp, index, data, label=None, point=None):
    """Write `data` atomically under the first free capture name from `index` on; (path, the next index).

    Two runs started in the same second share a stamp: names already taken (by this run, an earlier one,
    edge-collect beside edge-camera's page) are stepped past, never overwritten."""
    from edge.util.atomic import write_bytes

    while True:
        path = os.path.join(folder, capture_name(stamp, index, label, point))
        index += 1
        try:
            write_bytes(path, data, replace=False)
            return path, index
        except FileExistsError:
            continue
