"""Write the demo dataset: scikit-learn's handwritten digits as an image-folder of RGB PNGs.

`load_digits` ships inside scikit-learn (1797 real 8x8 scans, 10 classes), so the demo needs no
network. Images are upscaled to a size a ResNet can use and written as DIR/<digit>/<index>.png.

    python -m train.demo_data DIR [--size 64]
"""

import argparse
import os

import numpy as np

from edge.atomic import write_bytes
from edge.cli import run_main
from edge.errors import EdgeError
from edge.lazy import require


def digit_image(pixels, size):
    """An 8x8 digit (0..16 ink) -> size x size BGR uint8, dark ink on a light background."""
    cv2 = require("cv2", "writing the demo dataset")
    gray = (255 - pixels.reshape(8, 8) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    # Pad a little so the digit is not touching the border after the crop, as in a real photo.
    gray = cv2.copyMakeBorder(gray, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def write_digits(out_dir, size=64, limit=None):
    """Write the digits dataset under `out_dir`; returns {class name: image count}."""
    datasets = require("sklearn.datasets", "the digits demo dataset")
    cv2 = require("cv2", "writing the demo dataset")
    if size < 16:
        raise EdgeError("--size must be at least 16 pixels, got {}".format(size))
    digits = datasets.load_digits()
    counts = {}
    for index, (pixels, target) in enumerate(zip(digits.data, digits.target)):
        if limit is not None and index >= limit:
            break
        name = str(int(target))
        ok, png = cv2.imencode(".png", digit_image(pixels, size))
        if not ok:
            raise EdgeError("OpenCV could not encode PNG images")
        write_bytes(os.path.join(out_dir, name, "{:04d}.png".format(index)), png.tobytes())
        counts[name] = counts.get(name, 0) + 1
    return counts


def _main(argv):
    parser = argparse.ArgumentParser(prog="python -m train.demo_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write the image-folder dataset into")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    args = parser.parse_args(argv)
    counts = write_digits(args.out, size=args.size)
    print("wrote {} images in {} classes to {}".format(sum(counts.values()), len(counts), args.out))
    return 0


def main(argv=None):
    return run_main("demo_data", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
