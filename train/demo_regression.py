"""The regression demo: find a drawn "nose" in cluttered images (the course's "where is my nose"), end to end.

    python -m train.demo_regression [--out demo-regression] [--images 400] [--epochs 10]
    make demo-regression

1. writes 64x64 images of a bright disc on a noisy, cluttered background at a random position:
   points/train/<x>_<y>_<id>.jpg (the course's names) and points/val/ with a labels.csv,
2. trains a ResNet-18 from scratch for 10 epochs with edge-train's other defaults (the task is detected:
   regression; a plain resize, SmoothL1, MAE in pixels) on the training images (run/),
3. exports a verified bundle with INT8 models (bundle/) with edge-export, calibrating on half the
   validation images and judging INT8 by its change in MAE on the other half,
4. checks this machine against the bundle's golden set with edge-doctor (doctor.json),
5. finds the point in every validation image with edge-predict's runtimes and prints the MAE in
   pixels against the labels; then again on the validation images at twice their size, whose
   points come back in their own (doubled) pixels,
6. benchmarks the runtimes with edge-bench: latency and MAE per runtime (bench.json),
7. runs the camera daemon edge-camera on a video of the validation images for a few seconds,
   points in its JSON lines (camera.jsonl).
"""

import os

from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from train.demo import run_camera_demo, run_command, step


def ensure_points(folder, count, size):
    from train.demo_data import write_points

    marker = os.path.join(folder, ".complete")
    if os.path.exists(marker):
        print("dataset already at {}".format(folder))
        return
    counts = write_points(folder, count=count, size=size, seed=0)
    open(marker, "w").close()
    print("wrote {} training images ({}/train/<x>_<y>_<id>.jpg) and {} validation images ({}/val, labels.csv)".format(
        counts["train"], folder, counts["val"], folder))


def write_doubled(val_dir, out_dir):
    """The validation images at twice their size, with labels.csv in the doubled pixels."""
    import cv2

    from edge.util.atomic import write_text
    from edge.tasks.point_labels import folder_points
    from edge.bundle.preprocess import read_image

    rows = ["file,x,y"]
    for path, (x, y), _ in folder_points(val_dir).entries:
        image = read_image(path)
        big = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
        name = os.path.basename(path)
        cv2.imwrite(os.path.join(out_dir, name), big)
        # Pixel centres: pixel x of the small image is pixel 2x + 0.5 of the doubled one.
        rows.append("{},{:g},{:g}".format(name, 2 * x + 0.5, 2 * y + 0.5))
    write_text(os.path.join(out_dir, "labels.csv"), "\n".join(rows) + "\n")
    return out_dir


def score_runtimes(bundle_dir, folder, runtimes):
    """{runner description: (MAE figures, predicted rows)} of each (runtime, precision) on a labelled folder."""
    from edge.bundle.bundle import Bundle
    from edge.tasks.registry import model_for
    from edge.predict import expand_images, predict_files
    from edge.tasks.point_scores import PointScore
    from edge.runners.select import make_runner

    bundle = Bundle.load(bundle_dir)
    paths = expand_images([folder])
    scores = {}
    for runtime, precision in runtimes:
        runner, _ = make_runner(bundle, runtime, precision)
        score = PointScore(bundle.targets, [folder], log=print)
        with runner:
            for path, fields in predict_files(model_for(bundle, runner), paths, 32):
                score.add(path, fields)
            scores[runner.describe()] = (score.figures(), score.predicted)
    return scores


def check_predictions(bundle_dir, val_dir, doubled_dir):
    """MAE of each runtime on the validation images; fp32 runtimes must agree with PyTorch to a hundredth of a
    pixel. Then the doubled images: their MAE in their own pixels, about twice the MAE in the small ones."""
    import numpy as np

    from edge.tasks.points import summary_text

    scores = score_runtimes(bundle_dir, val_dir, (("pytorch", "fp32"), ("onnxruntime", "fp32"), ("auto", "auto")))
    reference = np.asarray(scores[sorted(name for name in scores if name.startswith("pytorch"))[0]][1])
    for name, (figures, predicted) in scores.items():
        distance = float(np.abs(np.asarray(predicted) - reference).mean())
        print("  {:<40} {} on {} images; {:.3f} px from PyTorch on average".format(
            name, summary_text(figures), figures["images"], distance))
        if "fp32" in name and distance > 0.01:
            raise EdgeError("{} places the points {:.3f} px from PyTorch's".format(name, distance))
    doubled = score_runtimes(bundle_dir, doubled_dir, (("onnxruntime", "fp32"),))
    for name, (figures, _) in doubled.items():
        print("  {:<40} {} on the same images at twice their size ({}), in their own pixels".format(
            name, summary_text(figures), doubled_dir))
    return scores


def _main(argv):
    parser = make_parser("python -m train.demo_regression", __doc__)
    parser.add_argument("--out", default="demo-regression", help="folder for everything the demo writes")
    parser.add_argument("--images", type=int, default=400, help="images to generate, a fifth for validation "
                                                                "(default 400)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="training epochs (default 10, to keep the demo short; edge-train's own default, "
                             "auto, aims at about 1,000 optimizer steps from scratch)")
    args = parser.parse_args(argv)
    data, run = os.path.join(args.out, "points"), os.path.join(args.out, "run")
    train_dir, val_dir = os.path.join(data, "train"), os.path.join(data, "val")
    bundle = os.path.join(args.out, "bundle")

    step("1/7 demo dataset: a nose to find on cluttered 64x64 images")
    ensure_points(data, args.images, 64)

    step("2/7 edge-train: ResNet-18 from scratch, default settings (regression detected from the file names)")
    from train import cli as train_cli
    code = train_cli.main([train_dir, "--val", val_dir, "--out", run, "--overwrite", "--size", "64",
                           "--epochs", str(args.epochs)])
    if code != 0:
        raise EdgeError("training failed (exit code {})".format(code))

    step("3/7 edge-export: ONNX (opset 13), verification, INT8 judged by its MAE change")
    code = run_command("edge-export", [os.path.join(run, "model.pt"), "-o", bundle, "--int8", "--calib", val_dir,
                                       "--holdout-fraction", "0.5"])
    if code != 0:
        raise EdgeError("export failed (exit code {})".format(code))

    step("4/7 edge-doctor: this machine against the bundle's golden set")
    from edge.doctor import cli as doctor
    code = doctor.main([bundle, "--json", os.path.join(args.out, "doctor.json")])
    if code != 0:
        raise EdgeError("edge-doctor found a failing check (exit code {})".format(code))

    step("5/7 edge-predict: the point in every validation image, in pixels, against the labels")
    doubled = os.path.join(data, "val-2x")
    os.makedirs(doubled, exist_ok=True)
    check_predictions(bundle, val_dir, write_doubled(val_dir, doubled))

    step("6/7 edge-bench: latency and MAE per runtime")
    from edge import bench
    code = bench.main([bundle, "--data", val_dir, "--batch", "1,8", "--min-time", "1",
                       "--json", os.path.join(args.out, "bench.json")])
    if code != 0:
        raise EdgeError("benchmark failed (exit code {})".format(code))

    step("7/7 edge-camera: the daemon on a video of the validation images")
    jsonl = run_camera_demo(bundle, val_dir, args.out, seconds=5)
    with open(jsonl) as handle:
        print("  a result: {}".format(handle.readline().strip()[:200]))
    print("\nregression demo done: model {}, bundle {}, report {}".format(
        os.path.join(run, "model.pt"), bundle, os.path.join(run, "report.md")))
    return 0


def main(argv=None):
    return run_main("python -m train.demo_regression", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
