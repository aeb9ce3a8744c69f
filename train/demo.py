"""The main job on a built-in default: the whole pipeline on scikit-learn's handwritten digits.

    python -m train.demo [--out demo] [--epochs 6]

1. writes the digits as an image-folder dataset of 64x64 RGB PNGs, split into
   demo/digits/train and demo/digits/val,
2. fine-tunes a ResNet-18 on the training images with edge-train (demo/run),
3. exports it to a verified bundle with INT8 models (demo/bundle) with edge-export, calibrating
   on half the validation images and measuring INT8 on the other half.
"""

import argparse
import os
import sys

from edge.cli import run_main
from edge.errors import EdgeError


def step(title):
    print("\n== {} ==".format(title))
    sys.stdout.flush()


def ensure_digits(folder):
    from train.demo_data import describe, write_digits

    marker = os.path.join(folder, ".complete")
    if os.path.exists(marker):
        print("dataset already at {}".format(folder))
        return
    counts = write_digits(folder, size=64, val_fraction=0.2, seed=0)
    open(marker, "w").close()
    print(describe(counts, folder))


def _main(argv):
    parser = argparse.ArgumentParser(prog="python -m train.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes (default demo)")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    args = parser.parse_args(argv)
    digits, run = os.path.join(args.out, "digits"), os.path.join(args.out, "run")

    step("1/3 demo dataset: scikit-learn digits as an image folder")
    ensure_digits(digits)

    step("2/3 edge-train: ResNet-18 from scratch on CPU or CUDA")
    from train import cli as train_cli
    # Digits are not mirror-symmetric: no flips. Square 64x64 images: no crop.
    code = train_cli.main([os.path.join(digits, "train"), "--val", os.path.join(digits, "val"),
                           "--out", run, "--overwrite", "--arch", "resnet18", "--size", "64", "--crop-pct", "1.0", "--hflip", "0", "--rotate", "10", "--epochs", str(args.epochs),
                           "--batch-size", "64", "--lr", "2e-3"])
    if code != 0:
        raise EdgeError("training failed (exit code {})".format(code))

    step("3/3 edge-export: ONNX (opset 13), verification, INT8")
    from export import cli as export_cli
    code = export_cli.main([os.path.join(run, "model.pt"), "-o", os.path.join(args.out, "bundle"),
                            "--int8", "--calib", os.path.join(digits, "val"), "--holdout-fraction", "0.5"])
    if code != 0:
        raise EdgeError("export failed (exit code {})".format(code))
    print("\ndemo done: model {}, bundle {}".format(os.path.join(run, "model.pt"), os.path.join(args.out, "bundle")))
    return 0


def main(argv=None):
    return run_main("demo", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
