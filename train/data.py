"""Image-folder datasets: scanning, validation of files, a seeded split, loaders.

Classification: DATA/<class name>/<image files>. Classes are the sub-folder names in sorted order
(the order is the model's output index); the split is stratified.
Regression: DATA/<images> labelled by DATA/labels.csv or by <x>_<y>_<id>.jpg names
(edge.tasks.point_labels); every point is checked against its image (and against the centre crop, when
the spec crops); the split is a seeded random one.
Files OpenCV cannot decode are skipped and listed with what is wrong (empty, truncated, damaged,
not an image, unreadable), never a crash; a dataset that cannot train (no images, one class, an
empty class, a bad label) is refused up front.
"""

import codecs
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edge.errors import EdgeError
from edge.util.image_folders import IMAGE_EXTENSIONS, class_folders, image_files
from edge.tasks.point_labels import check_inside, folder_points
from edge.bundle.preprocess import read_image
from edge.tasks.points import image_to_input, outside


class ImageFolder(object):
    """The readable images of an image-folder dataset: paths, labels and class names."""

    task = "classification"         # the train.tasks task that trains on it (its torch Dataset)

    def __init__(self, root, classes, samples, skipped):
        self.root = root
        self.classes = classes      # list of class names, index = label
        self.samples = samples      # list of (path, label)
        self.skipped = skipped      # list of {"file", "reason"}

    @property
    def labels(self):
        return np.array([label for _, label in self.samples], dtype=np.int64)

    def counts(self):
        return {name: int((self.labels == index).sum()) for index, name in enumerate(self.classes)}

    def subset(self, indices):
        return ImageFolder(self.root, self.classes, [self.samples[i] for i in indices], [])


# Leading bytes of the formats OpenCV reads, and how each one ends when the file is whole.
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
               (b"MM\x00*", "TIFF"), (b"GIF8", "GIF"))
_ENDINGS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def _image_format(head):
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _looks_like_text(head):
    try:  # incremental: the head may end inside a character
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\t\r\n" for char in text)


def _undecodable_reason(path, head):
    """Why a non-empty file OpenCV could not decode is no image: truncated, damaged, or another kind of file."""
    kind = _image_format(head)
    if kind is None:
        if _looks_like_text(head):
            return "not an image: the file holds text"
        return "not an image: its contents match no image format"
    ending = _ENDINGS.get(kind)
    if ending is not None:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 64))
            if ending not in handle.read():
                return "truncated {}: the file ends before the image does".format(kind)
    return "damaged {} data: OpenCV cannot decode it".format(kind)


def _inspect(path):
    """(None, (height, width)) for an image OpenCV decodes, else (what is wrong with the file, None)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        return "unreadable: {}".format((exc.strerror or type(exc).__name__).lower()), None
    if not head:
        return "empty file (0 bytes)", None
    image = read_image(path)
    if image is not None:
        return None, tuple(image.shape[:2])
    try:
        return _undecodable_reason(path, head), None
    except OSError as exc:
        return "unreadable: {}".format((exc.strerror or type(exc).__name__).lower()), None


def _problem(path):
    """None for an image OpenCV decodes, else what is wrong with the file, as far as it can be told."""
    return _inspect(path)[0]


def scan_image_folder(root, classes=None, workers=4):
    """Scan `root`, decode every image once to find unreadable ones, and check the dataset can train.

    classes: the class list to use (e.g. the training set's, for a separate validation folder);
    by default the sorted sub-folder names.
    """
    root = str(root)
    if not os.path.isdir(root):
        raise EdgeError("dataset folder {} not found".format(root))
    folders = class_folders(root)
    if not folders:
        raise EdgeError("{} has no class sub-folders: expected {}/<class name>/<images>".format(root, root))
    if classes is None:
        classes = folders
    else:
        unknown = sorted(set(folders) - set(classes))
        if unknown:
            raise EdgeError("{} has classes the training set lacks: {}".format(root, ", ".join(unknown)))
    files = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        files.extend((path, label) for path in image_files(folder))
    if not files:
        raise EdgeError("{} contains no images ({}); nothing to train on".format(
            root, "/".join(e.lstrip(".") for e in IMAGE_EXTENSIONS[:4])))
    # OpenCV releases the GIL while decoding, so threads use every core here.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        problems = list(pool.map(_problem, [path for path, _ in files]))
    samples = [item for item, problem in zip(files, problems) if problem is None]
    skipped = [{"file": os.path.relpath(path, root), "reason": problem}
               for (path, _), problem in zip(files, problems) if problem is not None]
    return ImageFolder(root, list(classes), samples, skipped)


def check_trainable(dataset, what="training set"):
    """One clear error before any training when the dataset cannot train a classifier."""
    if len(dataset.classes) < 2:
        raise EdgeError("{} {} has a single class ({}); a classifier needs at least two".format(
            what, dataset.root, dataset.classes[0] if dataset.classes else "none"))
    if not dataset.samples:
        raise EdgeError("{} {} has no readable images ({} skipped)".format(what, dataset.root, len(dataset.skipped)))
    empty = [name for name, count in dataset.counts().items() if count == 0]
    if empty:
        raise EdgeError("{} {}: class folder(s) with no readable images: {}; add images or remove "
                        "the folder".format(what, dataset.root, ", ".join(empty)))


def stratified_split(labels, val_fraction, seed):
    """Seeded per-class split: (train indices, val indices), each sorted.

    Every class keeps at least one training image and, when it has two or more, one validation
    image. The result depends only on the labels, the fraction and the seed.
    """
    if not 0.0 < val_fraction < 1.0:
        raise EdgeError("--val-fraction must be between 0 and 1, got {}".format(val_fraction))
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    train_idx, val_idx = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        n_val = int(round(len(members) * val_fraction))
        n_val = min(max(n_val, 1 if len(members) > 1 else 0), len(members) - 1)
        val_idx.extend(members[:n_val].tolist())
        train_idx.extend(members[n_val:].tolist())
    return sorted(train_idx), sorted(val_idx)


def make_splits(data_dir, val_dir=None, val_fraction=0.2, seed=0, workers=4):
    """(train ImageFolder, val ImageFolder, skipped files) from one folder split, or two folders."""
    full = scan_image_folder(data_dir, workers=workers)
    check_trainable(full)
    if val_dir:
        val = scan_image_folder(val_dir, classes=full.classes, workers=workers)
        if not val.samples:
            raise EdgeError("validation folder {} has no readable images".format(val_dir))
        skipped = full.skipped + [dict(s, file=os.path.join("val", s["file"])) for s in val.skipped]
        return full, val, skipped
    small = [name for name, count in full.counts().items() if count < 2]
    if small:
        raise EdgeError("class(es) {} have fewer than 2 images: cannot split off validation images; "
                        "add images or pass --val DIR".format(", ".join(small)))
    train_idx, val_idx = stratified_split(full.labels, val_fraction, seed)
    return full.subset(train_idx), full.subset(val_idx), full.skipped


# ----------------------------------------------------------------------------- regression


class PointFolder(object):
    """The readable images of a regression dataset: paths, their points in pixels, their sizes."""

    task = "regression"             # the train.tasks task that trains on it (its torch Dataset)

    def __init__(self, root, targets, samples, skipped, origin="labels.csv"):
        self.root = root
        self.targets = targets      # edge.tasks.points.RegressionTargets
        self.samples = samples      # list of (path, float32 array of target values in pixels, (height, width))
        self.skipped = skipped      # list of {"file", "reason"}
        self.origin = origin        # where the labels came from: "labels.csv" | "file names"

    @property
    def sizes(self):
        return [size for _, _, size in self.samples]

    def subset(self, indices):
        return PointFolder(self.root, self.targets, [self.samples[i] for i in indices], [], self.origin)


def crop_problems(labels, sizes, spec):
    """Messages for points the spec's centre crop would cut off (a plain resize keeps every point)."""
    if spec.resize != "center_crop":
        return []
    problems = []
    for path, values, where in labels.entries:
        if path in sizes and outside(image_to_input(values, sizes[path], spec), spec.size, margin=0.5):
            problems.append("{}: the point lies outside the centre crop of {}x{} (--resize center_crop, --crop-pct "
                            "{:g}); train with --resize stretch, the regression default, which keeps the whole "
                            "image".format(where, spec.size[1], spec.size[0], spec.crop_pct))
    return problems


def scan_point_folder(root, spec, targets=None, workers=4):
    """Scan a regression dataset: labels, every image decoded once, every point inside its image and the crop.

    targets: the targets to expect (the training set's, for a separate validation folder).
    """
    labels = folder_points(root)
    if targets is not None and labels.targets != targets:
        raise EdgeError("{} labels targets {}, the training set {}; label both alike".format(
            root, ",".join(labels.targets.names), ",".join(targets.names)))
    paths = [path for path, _, _ in labels.entries]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        inspected = list(pool.map(_inspect, paths))
    sizes = dict((path, size) for path, (problem, size) in zip(paths, inspected) if problem is None)
    check_inside(labels, sizes)
    problems = crop_problems(labels, sizes, spec)
    if problems:
        raise EdgeError(problems[0] + ("" if len(problems) == 1 else " ({} more images like it)".format(
            len(problems) - 1)))
    samples = [(path, np.asarray(values, dtype=np.float32), sizes[path]) for path, values, _ in labels.entries
               if path in sizes]
    skipped = [{"file": os.path.relpath(path, root), "reason": problem}
               for path, (problem, _) in zip(paths, inspected) if problem is not None]
    return PointFolder(root, labels.targets, samples, skipped, labels.origin)


def random_split(count, val_fraction, seed):
    """Seeded split of `count` items: (train indices, val indices), each sorted, at least one of each."""
    if not 0.0 < val_fraction < 1.0:
        raise EdgeError("--val-fraction must be between 0 and 1, got {}".format(val_fraction))
    order = np.random.RandomState(seed).permutation(count)
    n_val = min(max(1, int(round(count * val_fraction))), count - 1)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def make_point_splits(data_dir, spec, val_dir=None, val_fraction=0.2, seed=0, workers=4):
    """(train PointFolder, val PointFolder, skipped files) from one regression folder split, or two folders."""
    full = scan_point_folder(data_dir, spec, workers=workers)
    if val_dir:
        if len(full.samples) < 1:
            raise EdgeError("training set {} has no readable images ({} skipped)".format(data_dir, len(full.skipped)))
        val = scan_point_folder(val_dir, spec, targets=full.targets, workers=workers)
        if not val.samples:
            raise EdgeError("validation folder {} has no readable images".format(val_dir))
        skipped = full.skipped + [dict(s, file=os.path.join("val", s["file"])) for s in val.skipped]
        return full, val, skipped
    if len(full.samples) < 2:
        raise EdgeError("{} has {} readable image(s): a regression set needs at least 2 (one to validate on), "
                        "or pass --val DIR".format(data_dir, len(full.samples)))
    train_idx, val_idx = random_split(len(full.samples), val_fraction, seed)
    return full.subset(train_idx), full.subset(val_idx), full.skipped
