"""Write the demo datasets: scikit-learn's handwritten digits, and drawn "noses" for regression.

Digits: `load_digits` ships inside scikit-learn (1797 real 8x8 scans, 10 classes), so the demo
needs no network. Images are upscaled to a size a ResNet can use and written as a seeded,
stratified split: DIR/train/<digit>/<index>.png and DIR/val/<digit>/<index>.png (20% by default),
so that validation, INT8 hold-out and the camera demo use images training never saw.

Points (--points): a bright "nose" (a disc with a darker rim) at a random position on a noisy,
cluttered background (lines, boxes and dark blobs), the point to find in each image. The training
images are named as NVIDIA's course names them, DIR/train/<x>_<y>_<id>.jpg; the validation images
are labelled by DIR/val/labels.csv (file,x,y): both ways edge-train reads.

    python -m train.demo_data DIR [--size 64] [--val-fraction 0.2] [--per-class N]
    python -m train.demo_data DIR --points 400 [--size 64]
"""

import os

import numpy as np

from edge.util.atomic import write_bytes, write_text
from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from edge.util.lazy import require
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


def nose_image(rng, size):
    """(BGR uint8 image, (x, y)): a bright disc with a darker rim at a random point of a cluttered background."""
    cv2 = require("cv2", "writing the demo dataset")
    image = rng.randint(40, 140, size=(size // 8, size // 8, 3)).astype(np.uint8)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 12, size=(size, size, 3))
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.randint(2, 6)):   # clutter: lines and boxes in dull colours, dark blobs
        colour = tuple(int(c) for c in rng.randint(0, 160, size=3))
        a, b = tuple(int(v) for v in rng.randint(0, size, size=2)), tuple(int(v) for v in rng.randint(0, size, size=2))
        kind = rng.randint(3)
        if kind == 0:
            cv2.line(image, a, b, colour, int(rng.randint(1, 3)))
        elif kind == 1:
            cv2.rectangle(image, a, b, colour, int(rng.choice([1, 2, -1])))
        else:
            cv2.circle(image, a, int(rng.randint(2, max(3, size // 10))), (20, 20, 20), -1)
    radius = max(2, int(round(size * rng.uniform(0.05, 0.08))))
    x, y = (int(v) for v in rng.randint(radius, size - radius, size=2))
    cv2.circle(image, (x, y), radius + 1, (30, 40, 110), -1, cv2.LINE_AA)
    cv2.circle(image, (x, y), radius, (150, 190, 250), -1, cv2.LINE_AA)
    return image, (x, y)


def write_points(out_dir, count=400, size=64, val_fraction=0.2, seed=0):
    """Write `count` nose images: out_dir/train/<x>_<y>_<id>.jpg and out_dir/val/*.png with val/labels.csv.

    Returns {"train": n, "val": n}.
    """
    cv2 = require("cv2", "writing the demo dataset")
    if size < 16:
        raise EdgeError("--size must be at least 16 pixels, got {}".format(size))
    if count < 2:
        raise EdgeError("--points must be at least 2 (one training and one validation image)")
    rng = np.random.RandomState(seed)
    n_val = min(count - 1, max(1, int(round(count * val_fraction))))
    rows = ["file,x,y"]
    for index in range(count):
        image, (x, y) = nose_image(rng, size)
        if index < count - n_val:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            path = os.path.join(out_dir, "train", "{}_{}_{:05d}.jpg".format(x, y, index))
        else:
            ok, data = cv2.imencode(".png", image)
            name = "{:05d}.png".format(index)
            path = os.path.join(out_dir, "val", name)
            rows.append("{},{},{}".format(name, x, y))
        if not ok:
            raise EdgeError("OpenCV could not encode images")
        write_bytes(path, data.tobytes())
    write_text(os.path.join(out_dir, "val", "labels.csv"), "\n".join(rows) + "\n")
    return {"train": count - n_val, "val": n_val}


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
    parser.add_argument("--points", type=int, metavar="N",
                        help="write N regression images (a nose to find) instead of the digits")
    args = parser.parse_args(argv)
    if args.points is not None:
        counts = write_points(args.out, count=args.points, size=args.size, val_fraction=args.val_fraction)
        print("wrote {} training images (<x>_<y>_<id>.jpg) to {}/train and {} validation images with labels.csv "
              "to {}/val".format(counts["train"], args.out, counts["val"], args.out))
        return 0
    counts = write_digits(args.out, size=args.size, val_fraction=args.val_fraction, per_class=args.per_class)
    print(describe(counts, args.out))
    return 0


def main(argv=None):
    return run_main("demo_data", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
