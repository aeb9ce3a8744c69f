"""The host's share of every frame (issue 25): before and after, in one sitting, 3 runs each.

    .venv/bin/python -m benchmarks.host_share --out /tmp/hs [--runs 3] [--before-rev 4a5e735] [--model MODEL.pt]

Two checkouts of this project measure the same model on the same machine, alternately (before, after,
before, after, ...), so that both see the same load:

    before   --before-rev (default: the last commit before issue 25), as a git worktree under OUT;
    after    this checkout.

Each side exports its own bundle from the same model.pt with its own defaults (`edge-export MODEL --int8
--calib VAL --holdout-fraction 0.5`), then each run measures, with that side's own commands:

    rows     `edge-bench BUNDLE --data VAL --batch 1 --runtimes onnxruntime,pytorch --checkpoint MODEL`: the stage
             breakdown of the deployed path (decode of an image file, resize, normalize: everything the host does
             before inference, as medians over frames), and the batch-1 p50 of ONNX Runtime INT8 and fp32 and of
             PyTorch fp32;
    camera   `edge-bench BUNDLE --source VIDEO --duration 10 --runtimes onnxruntime --precisions int8`: the daemon's
             loop with edge-camera's default options on a 30 fps video, its CPU per result and percent of one core,
             and (after only: the report is part of issue 25) the CPU outside inference per result; once per
             --video-sizes video.

The model (unless --model): ResNet-18 at 224 px trained here for 8 epochs on scikit-learn's digits upscaled to
224 px (60 a class; `python -m train.demo_data --size 224`). The videos: the validation images on frames of
each --video-sizes size, 30 fps, MPEG-4 written with OpenCV and decoded by it in software: by default 640x480
(a USB camera's, resized on the host), and 341x256, the box a 4:3 camera's frames are scaled to for this
model (224 / 0.875 on the short side) before the CPU sees them where the capture scales (edge-camera asks a
Jetson's nvvidconv for it: then the host only crops). Figures are min-max over the
runs; the markdown table goes to stdout and OUT/table.md, every run's JSON stays under OUT/runs/.
"""

import json
import os
import subprocess
import sys

from edge.cli import make_parser, run_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE_REV = "4a5e735"      # main before issue 25
TRAIN = ["--size", "224", "--epochs", "8"]
STAGES = (("decode", "decode (from file)"), ("resize", "resize"), ("normalize", "normalize (host)"))
ROWS = (("onnxruntime", "int8", "ONNX Runtime INT8 compute"), ("onnxruntime", "fp32", "ONNX Runtime fp32 compute"),
        ("pytorch", "fp32", "PyTorch fp32 compute"))


def command(tree, module, args, log_path):
    """Run `module`'s main(args) from the checkout `tree` (its own edge/, export/, train/); output to log_path."""
    env = dict(os.environ, PYTHONPATH=tree)
    code = "import sys; from {} import main; sys.exit(main())".format(module)
    with open(log_path, "ab") as log:
        subprocess.check_call([sys.executable, "-c", code] + list(args), cwd=tree, env=env, stdout=log, stderr=log)


def before_tree(out, rev):
    path = os.path.join(out, "before-" + rev)
    if not os.path.isdir(path):
        subprocess.check_call(["git", "-C", ROOT, "worktree", "add", "--detach", "--force", path, rev])
    return path


def ensure_model(out, log_path):
    """(model.pt, validation folder): trained here once, reused from OUT afterwards."""
    data, run = os.path.join(out, "digits"), os.path.join(out, "run")
    if not os.path.isdir(data):
        command(ROOT, "train.demo_data", [data, "--size", "224", "--per-class", "60"], log_path)
    if not os.path.exists(os.path.join(run, "model.pt")):
        command(ROOT, "train.cli", [os.path.join(data, "train"), "--val", os.path.join(data, "val"), "--out", run]
                + TRAIN, log_path)
    return os.path.join(run, "model.pt"), os.path.join(data, "val")


def write_video(image_dir, path, size, seconds=12, fps=30):
    """The validation images, each centred on a grey frame of `size` (width, height), `fps` frames a second."""
    import cv2
    import numpy as np
    from edge.bundle.preprocess import read_image

    if os.path.exists(path):
        return path
    images = [read_image(os.path.join(root, name)) for root, _, names in sorted(os.walk(image_dir))
              for name in sorted(names) if name.endswith(".png")]
    width, height = size
    writer = cv2.VideoWriter(path + ".tmp.mp4", cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    side = min(width, height)
    for index in range(seconds * fps):
        frame = np.full((height, width, 3), 128, np.uint8)
        image = cv2.resize(images[index % len(images)], (side, side))
        top, left = (height - side) // 2, (width - side) // 2
        frame[top:top + side, left:left + side] = image
        writer.write(frame)
    writer.release()
    os.replace(path + ".tmp.mp4", path)
    return path


def export(tree, model, val, bundle, log_path):
    if not os.path.exists(os.path.join(bundle, "manifest.json")):
        command(tree, "export.cli", [model, "-o", bundle, "--int8", "--calib", val, "--holdout-fraction", "0.5"],
                log_path)
    return bundle


def measure(tree, bundle, model, val, videos, prefix, log_path):
    """One run of one side: (rows document, {video size: camera document}), also kept as PREFIX.rows.json and
    PREFIX.camera-SIZE.json."""
    rows = prefix + ".rows.json"
    command(tree, "edge.bench", [bundle, "--data", val, "--batch", "1", "--runtimes", "onnxruntime,pytorch",
                                 "--checkpoint", model, "--json", rows], log_path)
    cameras = {}
    for size, video in videos.items():
        camera = "{}.camera-{}.json".format(prefix, size)
        command(tree, "edge.bench", [bundle, "--source", video, "--duration", "10", "--runtimes", "onnxruntime",
                                     "--precisions", "int8", "--json", camera], log_path)
        with open(camera) as handle:
            cameras[size] = json.load(handle)
    with open(rows) as handle:
        return json.load(handle), cameras


def row(document, runtime, precision):
    for item in document["rows"]:
        if item["runtime"] == runtime and item["precision"] == precision and item["runnable"]:
            return item
    raise SystemExit("edge-bench measured no {} {} row: {}".format(
        runtime, precision, [(r["runtime"], r["precision"], r.get("reason")) for r in document["rows"]]))


def figures(rows, cameras):
    """The table's figures of one run of one side: {label: value}."""
    int8 = row(rows, "onnxruntime", "int8")
    values = dict((label, int8["stages_ms"][stage]) for stage, label in STAGES)
    for runtime, precision, label in ROWS:
        values[label] = row(rows, runtime, precision)["latency_ms"]["p50"]
    int8_ms, fp32_ms, torch_ms = (values[label] for _, _, label in ROWS)
    values["host before inference / INT8 compute"] = (int8["stages_ms"]["resize"] + int8["stages_ms"]["normalize"]) \
        / int8_ms
    values["INT8 speed-up over ONNX Runtime fp32"] = fp32_ms / int8_ms
    values["INT8 speed-up over PyTorch"] = torch_ms / int8_ms
    values["ONNX Runtime fp32 speed-up over PyTorch"] = torch_ms / fp32_ms
    for size, camera in cameras.items():
        values.update(camera_figures("camera {}".format(size), camera["measurements"][0]))
    return values


def camera_figures(name, stream):
    values = {name + ": results/s (30 fps video)": stream["fps"], name + ": CPU, % of one core": stream["cpu_percent"],
              name + ": CPU ms per result": stream["cpu_ms_per_result"]}
    cpu = stream.get("cpu")     # issue 25's report; the before side has none
    if cpu:
        values[name + ": of which inference, CPU ms"] = cpu["inference_ms"]
        values[name + ": of which outside inference, CPU ms"] = cpu["outside_inference_ms"]
        for part in ("capture_ms", "host_stages_ms", "loop_ms", "other_ms"):
            values["{}: outside inference: {}".format(name, part[:-3].replace("_", " "))] = cpu["outside"][part]
    return values


def span(values, pattern):
    """min-max of `values` in `pattern`, one figure when both read the same; "-" when none."""
    if not values:
        return "-"
    low, high = pattern.format(min(values)), pattern.format(max(values))
    return low if low == high else "{}–{}".format(low, high)


def pattern_of(label):
    if label.startswith("host before"):
        return "{:.1%}"
    return "{:.2f}x" if "speed-up" in label else "{:.2f}"


def table(results):
    """Markdown: one line per figure, min-max over the runs of each side."""
    labels = []
    for side in ("before", "after"):
        for run in results[side]:
            labels.extend(label for label in run if label not in labels)
    lines = ["| figure (ms per frame, p50, unless said) | before | after |", "|---|---|---|"]
    for label in labels:
        cells = [span([run[label] for run in results[side] if label in run], pattern_of(label))
                 for side in ("before", "after")]
        lines.append("| {} | {} | {} |".format(label, *cells))
    return "\n".join(lines)


def _main(argv):
    parser = make_parser("python -m benchmarks.host_share", __doc__)
    parser.add_argument("--out", required=True, help="work folder (kept: a second call reuses its model and bundles)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before-rev", default=BEFORE_REV)
    parser.add_argument("--model", help="a model.pt to measure instead of training one")
    parser.add_argument("--video-sizes", default="640x480,341x256",
                        help="WIDTHxHEIGHT of each camera video (default 640x480,341x256)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    log_path = os.path.join(out, "commands.log")
    model, val = ensure_model(out, log_path)
    if args.model:
        model = os.path.abspath(args.model)
    videos = dict((size, write_video(val, os.path.join(out, "camera-{}.mp4".format(size)),
                                     tuple(int(v) for v in size.split("x"))))
                  for size in args.video_sizes.split(","))
    trees = {"before": before_tree(out, args.before_rev), "after": ROOT}
    bundles = dict((side, export(tree, model, val, os.path.join(out, side + "-bundle"), log_path))
                   for side, tree in trees.items())
    results = {"before": [], "after": []}
    for index in range(args.runs):
        for side in ("before", "after"):
            print("run {} of {}: {}".format(index + 1, args.runs, side), file=sys.stderr)
            prefix = os.path.join(out, "runs", "{}-{}".format(side, index + 1))
            results[side].append(figures(*measure(trees[side], bundles[side], model, val, videos, prefix, log_path)))
    text = table(results)
    with open(os.path.join(out, "table.md"), "w") as handle:
        handle.write(text + "\n")
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    print(text)
    return 0


def main(argv=None):
    return run_main("python -m benchmarks.host_share", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
