"""Small held-out datasets: old defaults against new defaults against --lr find.

    .venv/bin/python -m benchmarks.small_data --out /tmp/sd [--size 96] [--epochs auto]

Generates image-folder datasets of drawn shapes (benchmarks/shapes.py): 2 classes (circle,
triangle) and 3 classes (circle, square, triangle), 20/40/100/200 training images a class and a
separate held-out validation folder (40 a class). Each is trained with edge-train (in-process,
train.cli.main), from scratch and from a checkpoint (a ResNet-18 first trained here on other
shapes: ellipse, pentagon, star, cross), with three settings:

    old   the defaults before issue 16: --batch-size 64 --lr 2e-3 --bn-reestimate off
    new   today's defaults (batch size and BatchNorm re-estimation auto, lr 2e-3)
    find  today's defaults with --lr find

Every finished run is appended to OUT/results.jsonl, so an interrupted benchmark continues where
it stopped; the markdown table is printed at the end (and written to OUT/table.md). Accuracy is
the best epoch's (the model.pt a user gets) with its 95% Wilson interval, and the last epoch's.
"""

import csv
import json
import os
import sys
import time

from edge.cli import make_parser, run_main

SETTINGS = {
    "old": ["--batch-size", "64", "--lr", "2e-3", "--bn-reestimate", "off"],
    "new": [],
    "find": ["--lr", "find"],
}
CLASS_SETS = {2: ("circle", "triangle"), 3: ("circle", "square", "triangle")}


FLAG_NAMES = {"lr": "--lr", "bs": "--batch-size", "bn": "--bn-reestimate", "freeze": "--freeze-epochs",
              "ep": "--epochs", "pat": "--patience", "rot": "--rotate", "zoom": "--zoom", "shift": "--shift",
              "jit": "--jitter", "wd": "--weight-decay", "ls": "--label-smoothing"}


def setting_flags(name):
    """The flags of a named setting, or of an ad-hoc one such as "bs=16+lr=5e-4+bn=off"."""
    if name in SETTINGS:
        return SETTINGS[name]
    flags = []
    for part in name.split("+"):
        key, _, value = part.partition("=")
        if key not in FLAG_NAMES or not value:
            raise SystemExit("unknown setting {!r}: use {} or KEY=VALUE joined by + (keys: {})".format(
                name, ", ".join(SETTINGS), ", ".join(FLAG_NAMES)))
        flags += [FLAG_NAMES[key], value]
    return flags


def int_list(text):
    return [int(v) for v in text.split(",") if v]


def name_list(text):
    return [v for v in text.split(",") if v]


def quiet_main(argv, log_path):
    """train.cli.main with its console output sent to a log file."""
    from train import cli

    with open(log_path, "a") as log:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            return cli.main(argv)
        finally:
            sys.stdout, sys.stderr = saved


def ensure_dataset(root, classes, per_class, val_per_class):
    from benchmarks.shapes import make_dataset

    marker = os.path.join(root, ".complete")
    train, val = os.path.join(root, "train"), os.path.join(root, "val")
    if not os.path.exists(marker):
        make_dataset(root, classes, per_class, val_per_class, seed=per_class * 10 + len(classes))
        open(marker, "w").close()
    return train, val


def ensure_checkpoint(out, args):
    """A ResNet-18 trained on other shapes: the 'from a checkpoint' start."""
    from benchmarks.shapes import PRETEXT_SHAPES

    run = os.path.join(out, "pretext-run")
    model = os.path.join(run, "model.pt")
    if os.path.exists(model):
        return model
    train, val = ensure_dataset(os.path.join(out, "data", "pretext"), PRETEXT_SHAPES, args.pretext_per_class, 40)
    print("training the checkpoint on {} ({} a class, {} epochs)...".format(
        ", ".join(PRETEXT_SHAPES), args.pretext_per_class, args.pretext_epochs))
    sys.stdout.flush()
    code = quiet_main([train, "--val", val, "--out", run, "--overwrite", "--weights", "none",
                       "--size", str(args.size), "--epochs", str(args.pretext_epochs),
                       "--workers", str(args.workers)], os.path.join(out, "pretext.log"))
    if code != 0:
        raise SystemExit("training the checkpoint failed (see {})".format(os.path.join(out, "pretext.log")))
    with open(os.path.join(run, "metrics.json")) as handle:
        print("checkpoint: validation accuracy {:.3f} on its own task".format(json.load(handle)["accuracy"]))
    return model


def one_run(out, dataset, train, val, per_class, start, weights, setting, args):
    run = os.path.join(out, "runs", "{}-{}-{}-seed{}".format(dataset, start, setting, args.seed))
    argv = [train, "--val", val, "--out", run, "--overwrite", "--weights", weights, "--size", str(args.size),
            "--epochs", str(args.epochs), "--workers", str(args.workers), "--seed", str(args.seed)]
    started = time.time()
    code = quiet_main(argv + setting_flags(setting), os.path.join(out, "runs.log"))
    seconds = time.time() - started
    row = {"dataset": dataset, "per_class": per_class, "start": start, "setting": setting, "code": code,
           "seconds": round(seconds, 1), "size": args.size, "epochs": args.epochs, "seed": args.seed}
    if code != 0:
        return row
    import yaml

    with open(os.path.join(run, "metrics.json")) as handle:
        metrics = json.load(handle)
    with open(os.path.join(run, "config.yaml")) as handle:
        config = yaml.safe_load(handle)
    with open(os.path.join(run, "history.csv")) as handle:
        epochs_run = list(csv.DictReader(handle))
    last = epochs_run[-1]
    row.update(accuracy=metrics["accuracy"], ci95=metrics["accuracy_ci95"], best_epoch=metrics["best_epoch"],
               last_accuracy=float(last["val_accuracy"]), val_images=metrics["dataset"]["val_images"],
               train_images=metrics["dataset"]["train_images"], batch_size=config["batch_size"],
               lr=config["lr"], bn_reestimate=config.get("bn_reestimate", "off"), epochs_set=config["epochs"],
               epochs_run=len(epochs_run))
    if os.path.exists(os.path.join(run, "lr_find.json")) and "find" in setting_flags(setting):
        with open(os.path.join(run, "lr_find.json")) as handle:
            found = json.load(handle)
        row.update(lr_rule=found.get("rule"), lr_candidates=found.get("candidates"))
    return row


def load_rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def table(rows):
    lines = ["| dataset | img/class | start | setting | seed | batch | lr | val acc, best epoch (95% CI) | last epoch "
             "| s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["code"] != 0:
            lines.append("| {dataset} | {per_class} | {start} | {setting} | {seed} | | | failed (exit {code}) | | "
                         "{seconds:.0f} |".format(**row))
            continue
        lr = "{:.1e}".format(row["lr"]) + (" ({})".format(row["lr_rule"]) if row.get("lr_rule") else "")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {:.3f} ({:.3f}-{:.3f}) | {:.3f} | {:.0f} |".format(
            row["dataset"], row["per_class"], row["start"], row["setting"], row.get("seed", 0), row["batch_size"], lr,
            row["accuracy"], row["ci95"][0], row["ci95"][1], row["last_accuracy"], row["seconds"]))
    return "\n".join(lines)


def _main(argv):
    parser = make_parser("python -m benchmarks.small_data", __doc__)
    parser.add_argument("--out", default="/tmp/sd", help="folder for data, runs and results (default /tmp/sd)")
    parser.add_argument("--size", type=int, default=96, help="input side in pixels (default 96: affordable on "
                                                             "2 CPU cores; edge-train's default is 224)")
    parser.add_argument("--epochs", default="auto", help="a number, or auto (default: edge-train's default)")
    parser.add_argument("--classes", type=int_list, default=[2, 3], help="class counts (default 2,3)")
    parser.add_argument("--per-class", type=int_list, default=[20, 40, 100, 200],
                        help="training images a class (default 20,40,100,200)")
    parser.add_argument("--val-per-class", type=int, default=40, help="held-out images a class (default 40)")
    parser.add_argument("--starts", type=name_list, default=["scratch", "checkpoint"])
    parser.add_argument("--settings", type=name_list, default=list(SETTINGS),
                        help="old, new, find, or ad-hoc ones such as bs=16+lr=5e-4 (default old,new,find)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--workers", type=int, default=0, help="loader workers (default 0; results do not "
                                                               "depend on it)")
    parser.add_argument("--pretext-per-class", type=int, default=150)
    parser.add_argument("--pretext-epochs", type=int, default=10)
    parser.add_argument("--table-only", action="store_true", help="print the table of OUT/results.jsonl")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    results = os.path.join(args.out, "results.jsonl")
    if not args.table_only:
        done = {(r["dataset"], r["start"], r["setting"], r["size"], r["epochs"], r["seed"]) for r in load_rows(results)}
        datasets = []  # all written first: a second benchmark process on the same --out reads finished folders
        for count in args.classes:
            for per_class in args.per_class:
                dataset = "{}class-{}".format(count, per_class)
                datasets.append((dataset, per_class) + ensure_dataset(
                    os.path.join(args.out, "data", dataset), CLASS_SETS[count], per_class, args.val_per_class))
        weights = {"scratch": "none"}
        if "checkpoint" in args.starts:
            weights["checkpoint"] = ensure_checkpoint(args.out, args)
        for dataset, per_class, train, val in datasets:
            for start in args.starts:
                for setting in args.settings:
                    if (dataset, start, setting, args.size, args.epochs, args.seed) in done:
                        continue
                    row = one_run(args.out, dataset, train, val, per_class, start, weights[start], setting, args)
                    with open(results, "a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(table([row]).splitlines()[-1])
                    sys.stdout.flush()
    rows = load_rows(results)
    text = table(rows)
    with open(os.path.join(args.out, "table.md"), "w") as handle:
        handle.write(text + "\n")
    print("")
    print(text)
    return 0


def main(argv=None):
    return run_main("python -m benchmarks.small_data", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
