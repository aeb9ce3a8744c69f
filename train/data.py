"""Image-folder datasets: scanning, validation of files, a seeded stratified split, loaders.

Layout: DATA/<class name>/<image files>. Classes are the sub-folder names in sorted order (the
order is the model's output index). Files OpenCV cannot decode are skipped and listed, never a
crash; a dataset that cannot train (no images, one class, an empty class) is refused up front.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edge.errors import EdgeError
from edge.preprocess import IMAGE_EXTENSIONS, is_image_name, read_image



class ImageFolder(object):
    """The readable images of an image-folder dataset: paths, labels and class names."""

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


def _check_readable(path):
    return read_image(path) is not None


def scan_image_folder(root, classes=None, workers=4):
    """Scan `root`, decode every image once to find unreadable ones, and check the dataset can train.

    classes: the class list to use (e.g. the training set's, for a separate validation folder);
    by default the sorted sub-folder names.
    """
    root = str(root)
    if not os.path.isdir(root):
        raise EdgeError("dataset folder {} not found".format(root))
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
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
        for dirpath, _, names in sorted(os.walk(folder)):
            files.extend((os.path.join(dirpath, f), label) for f in sorted(names) if is_image_name(f))
    if not files:
        raise EdgeError("{} contains no images ({}); nothing to train on".format(
            root, "/".join(e.lstrip(".") for e in IMAGE_EXTENSIONS[:4])))
    # OpenCV releases the GIL while decoding, so threads use every core here.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        readable = list(pool.map(_check_readable, [path for path, _ in files]))
    samples = [item for item, ok in zip(files, readable) if ok]
    skipped = [{"file": os.path.relpath(path, root), "reason": "cannot be decoded as an image"}
               for (path, _), ok in zip(files, readable) if not ok]
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
