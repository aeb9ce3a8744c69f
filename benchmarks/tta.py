"""Test-time augmentation: what --tta hflip and --tta d4 change in accuracy, on two kinds of data.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.tta --out /tmp/tta [--digits demo] [--epochs 8]

1. The digits demo (`make demo`: DIGITS/bundle, validated on DIGITS/digits/val). Digits are not
   symmetric: a mirrored 2 or a 6 turned upside down is another digit, so the views can only hurt.
2. A rotation-invariant top-down set this script draws (benchmarks/shapes.py: circles, squares,
   triangles, pentagons, ellipses at any angle and position, with clutter), 64 px. A ResNet-18 is
   trained from scratch with D4 augmentation (edge-train --d4 --tta d4, so training's final
   evaluation measures the views in PyTorch too) and exported (fp32 ONNX).

Each bundle classifies every validation image through ONNX Runtime fp32 with --tta none, hflip
and d4 (edge's own Classifier, as edge-predict does). Beside each accuracy: the images the views
fixed and broke against none, since on a few hundred images a difference of a point or two is
within the noise of the set, while the paired counts say which way the views pushed. Results go to
OUT/results.json and OUT/table.md. Time per image: edge-bench BUNDLE --data VAL --tta d4.
"""

import json
import os
import sys
import time

from edge.cli import make_parser, run_main

SHAPE_CLASSES = ("circle", "square", "triangle", "pentagon", "ellipse")


def labelled_paths(folder, classes):
    from edge.util.image_folders import image_files

    return [(path, name) for name in classes for path in image_files(os.path.join(folder, name))]


def evaluate(bundle_dir, val, mode, batch_size=32):
    """[True/False per validation image] for `mode`, through ONNX Runtime fp32 and edge's Classifier."""
    import edge
    from edge.bundle.preprocess import read_image

    bundle = edge.load_bundle(bundle_dir)
    items = labelled_paths(val, bundle.classes)
    right = []
    with bundle.runner(runtime="onnxruntime", precision="fp32", tta=mode) as model:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            predictions = model.predict_batch([read_image(path) for path, _ in chunk])
            right.extend(p.prediction == truth for p, (_, truth) in zip(predictions, chunk))
    return right


def compare_modes(name, bundle_dir, val, note):
    """One result row: accuracy per mode, and the images each mode fixed / broke against none."""
    row = {"dataset": name, "bundle": bundle_dir, "val": val, "note": note, "modes": {}}
    plain = None
    for mode in ("none", "hflip", "d4"):
        started = time.time()
        right = evaluate(bundle_dir, val, mode)
        entry = {"accuracy": sum(right) / float(len(right)), "images": len(right),
                 "seconds": round(time.time() - started, 1)}
        if plain is None:
            plain = right
        else:
            entry["fixed"] = sum(1 for a, b in zip(plain, right) if b and not a)
            entry["broken"] = sum(1 for a, b in zip(plain, right) if a and not b)
        row["modes"][mode] = entry
        print("{}: --tta {:<5} top-1 {:.2%} ({} images)".format(name, mode, entry["accuracy"], entry["images"]))
        sys.stdout.flush()
    return row


def shapes_bundle(out, args):
    """Draw the set, train with --d4 --tta d4, export fp32; returns (bundle, val, training's metrics)."""
    from benchmarks.small_data import ensure_dataset, quiet_main

    train, val = ensure_dataset(os.path.join(out, "data"), SHAPE_CLASSES, args.per_class, args.val_per_class)
    run, bundle = os.path.join(out, "run"), os.path.join(out, "bundle")
    log = os.path.join(out, "train.log")
    if not os.path.exists(os.path.join(run, "model.pt")):
        print("training ResNet-18 from scratch on {} ({} a class, {} px, {} epochs, --d4)...".format(
            ", ".join(SHAPE_CLASSES), args.per_class, args.size, args.epochs))
        sys.stdout.flush()
        code = quiet_main([train, "--val", val, "--out", run, "--overwrite", "--size", str(args.size), "--crop-pct",
                           "1", "--d4", "--hflip", "0", "--epochs", str(args.epochs), "--workers", "0",
                           "--tta", "d4", "--seed", str(args.seed)], log)
        if code != 0:
            raise SystemExit("training failed (see {})".format(log))
    if not os.path.exists(os.path.join(bundle, "manifest.json")):
        from export.cli import main as export_main

        if export_main([os.path.join(run, "model.pt"), "-o", bundle, "--verify", val]) != 0:
            raise SystemExit("export failed")
    with open(os.path.join(run, "metrics.json")) as handle:
        return bundle, val, json.load(handle)


def table(rows):
    lines = ["| data | val images | --tta none | --tta hflip (fixed/broken) | --tta d4 (fixed/broken) |",
             "|---|---|---|---|---|"]
    for row in rows:
        modes = row["modes"]
        cells = ["{:.2%}".format(modes["none"]["accuracy"])]
        for mode in ("hflip", "d4"):
            entry = modes[mode]
            cells.append("{:.2%} ({:+.2f} pts; {}/{})".format(
                entry["accuracy"], 100.0 * (entry["accuracy"] - modes["none"]["accuracy"]), entry["fixed"],
                entry["broken"]))
        lines.append("| {} | {} | {} |".format(row["dataset"], modes["none"]["images"], " | ".join(cells)))
    return "\n".join(lines)


def _main(argv):
    parser = make_parser("python -m benchmarks.tta", __doc__)
    parser.add_argument("--out", default="/tmp/tta", help="folder for the shapes data, run, bundle and results")
    parser.add_argument("--digits", default="demo", help="the demo's folder (make demo): DIGITS/bundle and "
                                                         "DIGITS/digits/val (default demo)")
    parser.add_argument("--size", type=int, default=64, help="shapes: image and input side (default 64)")
    parser.add_argument("--per-class", type=int, default=120, help="shapes: training images a class (default 120)")
    parser.add_argument("--val-per-class", type=int, default=80, help="shapes: held-out images a class (default 80)")
    parser.add_argument("--epochs", type=int, default=8, help="shapes: training epochs (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    digits_bundle, digits_val = os.path.join(args.digits, "bundle"), os.path.join(args.digits, "digits", "val")
    if os.path.isfile(os.path.join(digits_bundle, "manifest.json")) and os.path.isdir(digits_val):
        rows.append(compare_modes("digits (demo bundle)", digits_bundle, digits_val,
                                  "not symmetric: a mirrored or turned digit is another digit"))
    else:
        print("no digits demo in {} (run make demo, or pass --digits): skipped".format(args.digits))
    bundle, val, metrics = shapes_bundle(args.out, args)
    row = compare_modes("shapes at any angle (--d4 trained)", bundle, val, "rotation- and mirror-invariant")
    row["training"] = {"accuracy": metrics["accuracy"], "tta": metrics.get("tta"), "epochs": args.epochs,
                       "per_class": args.per_class, "size": args.size, "train_seconds": metrics["train_seconds"]}
    rows.append(row)
    from edge.util.atomic import write_json, write_text

    write_json(os.path.join(args.out, "results.json"), rows)
    text = table(rows)
    write_text(os.path.join(args.out, "table.md"), text + "\n")
    print(text)
    tta = metrics.get("tta") or {}
    print("shapes, PyTorch (edge-train --tta d4): {:.2%} -> {:.2%} with d4".format(
        metrics["accuracy"], tta.get("accuracy", float("nan"))))
    return 0


def main(argv=None):
    return run_main("benchmarks.tta", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
