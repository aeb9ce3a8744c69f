"""Point labels of a regression dataset: a labels.csv, or the course's file names <x>_<y>_<id>.jpg.

A regression dataset is a folder of images (sub-folders allowed) labelled in one of two ways:

    labels.csv   a header row `file,<target>,...` naming the targets in x,y pairs (`file,x,y`, or
                 `file,nose_x,nose_y,tail_x,tail_y`), then one row per image: its path relative
                 to the folder and its point(s) in pixels of that image;
    file names   `<x>_<y>_<id>.jpg` (NVIDIA's Jetson course; edge-collect --point writes them):
                 one point, targets x,y, in pixels of the saved image.

A folder with labels.csv is read from it, names or not. Rule for edge-train's task (`is_point_folder`):
a folder with labels.csv, or with images directly in it and no class sub-folders, is a regression
dataset; a folder of class sub-folders is a classification one.

Every problem is one EdgeError that names the file or row and says what to do: a malformed
header, a row with a missing value or a value that is not a number, an image without a row, a
row naming a file that is not there, a file name that does not give a point. Whether a point lies
inside its image is checked where the image is decoded (`inside_problem`).
"""

import csv
import io
import os
import re

from edge.errors import EdgeError
from edge.util.image_folders import class_folders, image_files, is_image_name
from edge.tasks.points import RegressionTargets, names_problem, outside

LABELS_CSV = "labels.csv"
NAME_TARGETS = ("x", "y")
NAME_FORMAT = "<x>_<y>_<id>.jpg"
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_POINT_NAME = re.compile(r"^({n})_({n})_(.+)$".format(n=_NUMBER))


class PointLabels(object):
    """A labelled folder: the targets, and (image path, pixel values, where the label came from) per image."""

    def __init__(self, root, targets, entries, origin):
        self.root = root
        self.targets = targets      # RegressionTargets
        self.entries = entries      # [(path, [values], where)] in image_files order
        self.origin = origin        # "labels.csv" | "file names"


def point_from_name(name):
    """(x, y) from a file name `<x>_<y>_<id>.<image extension>`, else None."""
    base = os.path.basename(name)
    if not is_image_name(base):
        return None
    match = _POINT_NAME.match(os.path.splitext(base)[0])
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2))


def is_point_folder(root):
    """True for a regression dataset (see the module docstring): labels.csv, or images and no class folders."""
    root = str(root)
    if os.path.isfile(os.path.join(root, LABELS_CSV)):
        return True
    if not os.path.isdir(root) or class_folders(root):
        return False
    return any(is_image_name(name) and os.path.isfile(os.path.join(root, name)) for name in os.listdir(root))


def _problems_error(problems):
    """One EdgeError: the first problem, and how many more there are."""
    more = len(problems) - 1
    return EdgeError(problems[0] + ("" if not more else " ({} more problem{} like it)".format(
        more, "" if more == 1 else "s")))


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_labels_csv(text, where=LABELS_CSV):
    """(RegressionTargets, [(line number, file, [values])]) from a labels.csv's text; EdgeError for a bad file.

    where: how messages name the file (its path).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader]
    rows = [(number, cells) for number, cells in rows if any(cells)]
    if not rows:
        raise EdgeError("{} is empty: write a header `file,x,y` and one row per image".format(where))
    header_line, header = rows[0]
    if not header or header[0].lower() != "file":
        raise EdgeError("{} line {}: the header must start with `file`, then the targets (file,x,y), got {!r}".format(
            where, header_line, ",".join(header)))
    names = header[1:]
    problem = names_problem(names)
    if problem:
        raise EdgeError("{} line {}: {}".format(where, header_line, problem))
    targets = RegressionTargets(names)
    parsed, problems, seen = [], [], {}
    for number, cells in rows[1:]:
        at = "{} line {}".format(where, number)
        if len(cells) != len(header):
            problems.append("{}: {} value(s), the header names {} (file,{}); fix the row".format(
                at, len(cells), len(header), ",".join(names)))
            continue
        name = cells[0].replace("\\", "/")
        if not name:
            problems.append("{}: the file column is empty; name the image".format(at))
            continue
        if os.path.isabs(name) or ".." in name.split("/"):
            problems.append("{}: {!r} must be a path inside the dataset folder, relative to it".format(at, name))
            continue
        key = os.path.normpath(name)
        if key in seen:
            problems.append("{}: {} already has a row (line {}); keep one".format(at, name, seen[key]))
            continue
        seen[key] = number
        values = []
        for target, cell in zip(names, cells[1:]):
            value = _number(cell)
            if value is None:
                problems.append("{} ({}): {} is {}, not a number; write the pixel position".format(
                    at, name, target, repr(cell) if cell else "missing"))
                break
            values.append(value)
        else:
            parsed.append((number, key, values))
    if problems:
        raise _problems_error(problems)
    return targets, parsed


def _from_csv(root, images):
    path = os.path.join(root, LABELS_CSV)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except (IOError, OSError, ValueError) as exc:
        raise EdgeError("cannot read {} ({})".format(path, getattr(exc, "strerror", None) or exc))
    targets, rows = parse_labels_csv(text, path)
    by_file = dict((file_name, (number, values)) for number, file_name, values in rows)
    relative = [(image, os.path.normpath(os.path.relpath(image, root))) for image in images]
    present = set(key for _, key in relative)
    problems = ["{} line {} lists {}, which is not an image in {}; remove the row or add the image".format(
        path, number, file_name, root) for number, file_name, _ in rows if file_name not in present]
    problems += ["{} has no row for {}; add `{},{}` or move the image out of the folder".format(
        path, key, key.replace(os.sep, "/"), ",".join(name.upper() for name in targets.names))
        for _, key in relative if key not in by_file]
    if problems:
        raise _problems_error(problems)
    entries = [(image, by_file[key][1], "{} line {} ({})".format(path, by_file[key][0], key))
               for image, key in relative]
    return PointLabels(root, targets, entries, LABELS_CSV)


def _from_names(root, images):
    entries, problems = [], []
    for image in images:
        point = point_from_name(image)
        if point is None:
            problems.append("file name {} does not give a point: name images {} (x, y in pixels of the image), or "
                            "label the folder with a {} (file,x,y)".format(
                                os.path.relpath(image, root), NAME_FORMAT, LABELS_CSV))
            continue
        entries.append((image, list(point), "file name {}".format(os.path.relpath(image, root))))
    if problems:
        raise _problems_error(problems)
    return PointLabels(root, RegressionTargets(NAME_TARGETS), entries, "file names")


def folder_points(root):
    """The PointLabels of a regression dataset folder; EdgeError for anything that cannot be used."""
    root = str(root)
    if not os.path.isdir(root):
        raise EdgeError("dataset folder {} not found".format(root))
    images = image_files(root)
    if not images:
        raise EdgeError("{} contains no images; a regression dataset is a folder of images with a {} or file "
                        "names {}".format(root, LABELS_CSV, NAME_FORMAT))
    if os.path.isfile(os.path.join(root, LABELS_CSV)):
        return _from_csv(root, images)
    return _from_names(root, images)


def inside_problem(values, image_hw, names, where):
    """A message when a labelled point lies outside its image of (height, width) `image_hw`, else None."""
    bad = outside(values, image_hw)
    if not bad:
        return None
    index = bad[0]
    side, limit = ("width", image_hw[1]) if index % 2 == 0 else ("height", image_hw[0])
    return ("{}: {}={:g} is outside the image ({} {}: 0 to {}); fix the label, pixels of this image".format(
        where, names[index], values[index], side, limit, limit - 1))


def check_inside(labels, sizes):
    """EdgeError when a point of `labels` (PointLabels) lies outside its image; sizes: {path: (h, w)}."""
    problems = []
    for path, values, where in labels.entries:
        if path in sizes:
            problem = inside_problem(values, sizes[path], labels.targets.names, where)
            if problem:
                problems.append(problem)
    if problems:
        raise _problems_error(problems)
