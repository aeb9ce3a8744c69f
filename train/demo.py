"""The main job on a built-in default: the whole pipeline on scikit-learn's handwritten digits.

    python -m train.demo [--out demo] [--epochs 6]

1. writes the digits as an image-folder dataset of 64x64 RGB PNGs, split into
   demo/digits/train and demo/digits/val,
2. fine-tunes a ResNet-18 on the training images with edge-train (demo/run),
3. exports it to a verified bundle with INT8 models (demo/bundle) with edge-export, calibrating
   on half the validation images and measuring INT8 on the other half,
4. checks this machine against the bundle's golden set with edge-doctor (demo/doctor.json),
5. classifies every validation image with edge-predict's runtimes and checks their top-1
   against the PyTorch evaluation of the same checkpoint,
6. benchmarks the bundle with edge-bench (demo/bench.json, demo/bench.png),
7. runs the camera daemon edge-camera on a video made from the validation images
   (demo/val.mp4) for a few seconds, with its JSON lines in demo/camera.jsonl.
"""

import os
import sys

from edge.cli import make_parser, run_main
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
    parser = make_parser("python -m train.demo", __doc__)
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes (default demo)")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    args = parser.parse_args(argv)
    digits, run = os.path.join(args.out, "digits"), os.path.join(args.out, "run")

    step("1/7 demo dataset: scikit-learn digits as an image folder")
    ensure_digits(digits)

    step("2/7 edge-train: ResNet-18 from scratch on CPU or CUDA")
    from train import cli as train_cli
    # Digits are not mirror-symmetric: no flips. Square 64x64 images: no crop.
    code = train_cli.main([os.path.join(digits, "train"), "--val", os.path.join(digits, "val"),
                           "--out", run, "--overwrite", "--arch", "resnet18", "--size", "64", "--crop-pct", "1.0", "--hflip", "0", "--rotate", "10", "--epochs", str(args.epochs),
                           "--batch-size", "64", "--lr", "2e-3"])
    if code != 0:
        raise EdgeError("training failed (exit code {})".format(code))

    step("3/7 edge-export: ONNX (opset 13), verification, INT8")
    # The command, as a user runs it (train/ does not import export/).
    code = run_command("edge-export", [os.path.join(run, "model.pt"), "-o", os.path.join(args.out, "bundle"),
                                       "--int8", "--calib", os.path.join(digits, "val"), "--holdout-fraction", "0.5"])
    if code != 0:
        raise EdgeError("export failed (exit code {})".format(code))
    bundle = os.path.join(args.out, "bundle")
    val = os.path.join(digits, "val")

    step("4/7 edge-doctor: this machine against the bundle's golden set")
    from edge.doctor import cli as doctor
    code = doctor.main([bundle, "--json", os.path.join(args.out, "doctor.json")])
    if code != 0:
        raise EdgeError("edge-doctor found a failing check (exit code {})".format(code))

    step("5/7 edge-predict: every validation image, checked against PyTorch")
    check_agreement(bundle, val)

    step("6/7 edge-bench: runtimes and precisions side by side")
    from edge import bench
    code = bench.main([bundle, "--data", val, "--batch", "1,8,32", "--json", os.path.join(args.out, "bench.json"),
                       "--plot", os.path.join(args.out, "bench.png")])
    if code != 0:
        raise EdgeError("benchmark failed (exit code {})".format(code))

    step("7/7 edge-camera: the daemon on a video of the validation images")
    run_camera_demo(bundle, val, args.out, seconds=6)
    print("\ndemo done: model {}, bundle {}, benchmark {}".format(
        os.path.join(run, "model.pt"), bundle, os.path.join(args.out, "bench.json")))
    return 0


def run_command(name, argv):
    """Run an installed edge-* command (the one beside this Python first); its exit code."""
    import shutil
    import subprocess

    beside = os.path.join(os.path.dirname(sys.executable), name)
    command = beside if os.path.isfile(beside) else shutil.which(name)
    if command is None:
        raise EdgeError("{} is not installed: run make setup (or pip install -e '.[train,export]')".format(name))
    sys.stdout.flush()
    return subprocess.call([command] + list(argv))


def check_agreement(bundle_dir, val_dir):
    """Top-1 of each runtime on every validation image against the PyTorch evaluation."""
    from edge.bundle.bundle import Bundle
    from edge.tasks.classification import INT8_MIN_AGREEMENT
    from edge.tasks.classifier import Classifier
    from edge.predict import expand_images, predict_files
    from edge.runners.select import make_runner

    bundle = Bundle.load(bundle_dir)
    paths = expand_images([val_dir])
    truth = [os.path.basename(os.path.dirname(path)) for path in paths]
    tops = {}
    for runtime, precision in (("pytorch", "fp32"), ("onnxruntime", "fp32"), ("auto", "auto")):
        runner, why = make_runner(bundle, runtime, precision)
        with runner:
            labels = [fields["prediction"] for _, fields in predict_files(Classifier(bundle, runner, k=1), paths, 32)]
        tops[runner.describe()] = (runner.precision, labels)
        if runtime == "pytorch":
            reference = labels
    for name, (precision, labels) in tops.items():
        agree = sum(a == b for a, b in zip(labels, reference))
        correct = sum(a == b for a, b in zip(labels, truth))
        print("  {:<48} top-1 agrees with PyTorch on {}/{} images; accuracy {:.2%}".format(
            name, agree, len(paths), correct / float(len(paths))))
        # fp32 must agree everywhere; INT8 is held to the bar export verified it against.
        if agree < (len(paths) if precision == "fp32" else INT8_MIN_AGREEMENT * len(paths)):
            raise EdgeError("{} disagrees with PyTorch on {} validation images".format(name, len(paths) - agree))


def write_demo_video(image_dir, path, fps=30):
    """The validation images as an MP4 at `fps`, in a fixed shuffled order, as a camera stand-in."""
    import random

    import cv2

    from edge.predict import expand_images
    from edge.bundle.preprocess import read_image

    paths = expand_images([image_dir])
    random.Random(0).shuffle(paths)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (128, 128))
    if not writer.isOpened():
        raise EdgeError("OpenCV cannot write {} (no mp4v encoder)".format(path))
    for item in paths:
        writer.write(cv2.resize(read_image(item), (128, 128), interpolation=cv2.INTER_NEAREST))
    writer.release()
    print("wrote {} ({} frames at {} fps)".format(path, len(paths), fps))
    return path


def run_camera_demo(bundle, image_dir, out, seconds):
    """edge-camera on a video of `image_dir`'s images for `seconds`, its summary printed; the JSON-lines path."""
    video = write_demo_video(image_dir, os.path.join(out, "val.mp4"))
    jsonl = os.path.join(out, "camera.jsonl")
    if os.path.exists(jsonl):   # the daemon appends: this run's results only
        os.unlink(jsonl)
    from edge import camera
    code = camera.main([bundle, "--source", video, "--realtime", "--duration", str(seconds),
                        "--jsonl", jsonl, "--http-port", "0", "--log-every", "2"])
    if code != 0:
        raise EdgeError("camera demo failed (exit code {})".format(code))
    summarize_camera(jsonl)
    return jsonl


def summarize_camera(jsonl_path):
    import json

    import numpy as np

    with open(jsonl_path) as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if len(rows) < 2:
        raise EdgeError("the camera daemon produced {} results".format(len(rows)))
    seconds = rows[-1]["captured"] - rows[0]["captured"]
    print("  camera: {} results in {:.1f} s ({:.1f} results/s), {} frames dropped (newest frame only)".format(
        len(rows), seconds, (len(rows) - 1) / max(seconds, 1e-9), rows[-1]["dropped"]))
    for stage in ("capture_wait", "preprocess", "inference", "postprocess", "publish", "capture_to_result"):
        values = [row["latency_ms"][stage] for row in rows]
        print("  {:<18} p50 {:7.3f} ms   p90 {:7.3f} ms".format(stage, np.percentile(values, 50),
                                                               np.percentile(values, 90)))


def main(argv=None):
    return run_main("python -m train.demo", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
