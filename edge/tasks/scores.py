"""A classifier's scores: top-1 on labelled images, for edge-predict (class-named folders) and edge-bench (--data)."""

import os

import numpy as np

from edge.errors import EdgeError


def trained_val(bundle):
    """What training measured on its validation set ({"accuracy", "images"}, or a regression model's
    {"mae_px", "images", ...}), or {}."""
    return ((bundle.manifest["model"].get("source") or {}).get("metrics") or {}).get("val") or {}


class Score(object):
    """Top-1 accuracy on images that sit in a folder named after one of the classes."""

    def __init__(self, classes, tta="none"):
        self.classes = set(classes)
        self.tta = tta
        self.correct = 0
        self.total = 0

    def add(self, path, fields):
        truth = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if truth not in self.classes:
            return None
        self.total += 1
        self.correct += int(fields["prediction"] == truth)
        return truth

    def summary(self, bundle):
        text = "top-1 accuracy {:.2%}{} ({} of {} images in class-named folders)".format(
            self.correct / float(self.total), "" if self.tta == "none" else " with --tta " + self.tta, self.correct,
            self.total)
        trained = trained_val(bundle)
        if trained.get("accuracy") is not None:
            text += "; training measured {:.2%} on {} validation images".format(
                trained["accuracy"], trained.get("images", "its"))
        return text

    def fields(self, bundle):
        return {"correct": self.correct, "images": self.total, "accuracy": self.correct / float(self.total),
                "training_val": trained_val(bundle) or None}


class NoScore(object):
    """A task that scores nothing: no image counts."""

    total = 0

    def add(self, path, fields):
        return None


def labelled_images(folder, classes, limit):
    """[(BGR image, label index)] from DIR/<class>/<images>; class folders must match the bundle."""
    from edge.util.image_folders import class_folders, image_files
    from edge.bundle.preprocess import read_image

    if not os.path.isdir(folder):
        raise EdgeError("--data {} is not a folder".format(folder))
    names = class_folders(folder)
    unknown = [name for name in names if name not in classes]
    if not names or unknown:
        raise EdgeError("--data needs one sub-folder per class named like the bundle's classes ({}); {}".format(
            ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else ""),
            "unknown: " + ", ".join(unknown[:5]) if unknown else "found none"))
    found = []
    for name in names:
        for path in image_files(os.path.join(folder, name)):
            image = read_image(path)
            if image is not None:
                found.append((image, classes.index(name)))
    if not found:
        raise EdgeError("--data {} has no readable images".format(folder))
    step = max(1, len(found) // limit)
    return found[::step][:limit]


def top_accuracy(classifier, labelled, batch_size=8):
    """(top-1, top-5, predicted top-1 indices) over [(BGR image, label index)]; a classifier with --tta views ranks
    each image by its views' averaged probabilities."""
    from edge.bundle.preprocess import preprocess_batch

    top1 = top5 = 0
    predictions = []
    for start in range(0, len(labelled), batch_size):
        chunk = labelled[start:start + batch_size]
        batch = preprocess_batch([image for image, _ in chunk], classifier.spec, classifier.fused)
        scores = classifier.probabilities(batch) if classifier.views.count > 1 else classifier.runner.infer(batch)
        order = np.argsort(-scores, axis=1)
        for row, (_, label) in zip(order, chunk):
            predictions.append(int(row[0]))
            top1 += int(row[0] == label)
            top5 += int(label in row[:5])
    count = float(max(1, len(labelled)))
    return top1 / count, top5 / count, predictions
