"""Write the demo dataset: scikit-learn's handwritten digits as an image-folder of RGB PNGs.

`load_digits` ships inside scikit-learn (1797 real 8x8 scans, 10 classes), so the demo needs no
network. Images are upscaled to a size a ResNet can use and written as a seeded, stratified
split: DIR/train/<digit>/<index>.png and DIR/val/<digit>/<index>.png (20% by default), so that
validation, INT8 hold-out and the camera demo use images training never saw.

    python -m train.demo_data DIR [--size 64] [--val-fraction 0.2] [--per-class N]
"""

import os

import numpy as np

from edge.atomic import write_bytes
from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from edge.lazy import require
from train.data import stratified_split


def digit_image(pixels, size):
    """An 8x8 digit (0..16 ink) -> size x size BGR uint8, dark ink on a light background."""
    cv2 = require("cv2", "writing the demo dataset")
    gray = (255 - pixels.reshape(8, 8) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    # Pad a little so the digit is not touching the border after the crop, as in a real photo.
    gray = cv2.copyMakeBorder(gray, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def write_digits(out_dir, size=64, val_fraction=0.2, seed=0, per_class=None):
    """Write the digits under out_dir/train and out_dir/val; returns {"train"|"val": {class: count}}.

    per_class: at most this many scans of each digit (the first ones), for a quick try; None: all.
    """
    datasets = require("sklearn.datasets", "the digits demo dataset")
    cv2 = require("cv2", "writing the demo dataset")
    if size < 16:
        raise EdgeError("--size must be at least 16 pixels, got {}".format(size))
    if per_class is not None and per_class < 2:
        raise EdgeError("--per-class must be at least 2 (one training and one validation image)")
    digits = datasets.load_digits()
    chosen = first_of_each_class(digits.target, per_class)
    _, val_positions = stratified_split(digits.target[chosen], val_fraction, seed)
    val_indices = set(chosen[position] for position in val_positions)
    counts = {"train": {}, "val": {}}
    for index in chosen:
        pixels, target = digits.data[index], digits.target[index]
        part, name = ("val" if index in val_indices else "train"), str(int(target))
        ok, png = cv2.imencode(".png", digit_image(pixels, size))
        if not ok:
            raise EdgeError("OpenCV could not encode PNG images")
        write_bytes(os.path.join(out_dir, part, name, "{:04d}.png".format(index)), png.tobytes())
        counts[part][name] = counts[part].get(name, 0) + 1
    return counts


def first_of_each_class(targets, per_class):
    """Indices of the first `per_class` items of each class, in order (all of them for None)."""
    taken, chosen = {}, []
    for index, target in enumerate(targets):
        if per_class is None or taken.get(target, 0) < per_class:
            taken[target] = taken.get(target, 0) + 1
            chosen.append(index)
    return chosen


def describe(counts, out_dir):
    return "wrote {} training and {} validation images in {} classes to {}/train and {}/val".format(
        sum(counts["train"].values()), sum(counts["val"].values()), len(counts["train"]), out_dir, out_dir)


def _main(argv):
    parser = make_parser("python -m train.demo_data", __doc__)
    parser.add_argument("out", help="folder to write the image-folder dataset into")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share written to val/ (default 0.2)")
    parser.add_argument("--per-class", type=int, help="at most N images of each digit (default: all 1797)")
    args = parser.parse_args(argv)
    counts = write_digits(args.out, size=args.size, val_fraction=args.val_fraction, per_class=args.per_class)
    print(describe(counts, args.out))
    return 0


def main(argv=None):
    return run_main("demo_data", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
