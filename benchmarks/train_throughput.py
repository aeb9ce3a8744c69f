"""Training throughput: images per second for one process against N under torchrun.

    .venv/bin/python -m benchmarks.train_throughput --out /tmp/tp [--processes 1,2] [--size 64]

Draws a shapes dataset (benchmarks/shapes.py) once, then trains the same run (same seed, same
global batch) with `python -m train` for 1 process and with `torchrun --standalone
--nproc_per_node N -m train` for the others: on CUDA (one GPU a process, NCCL) where there is
one, else on this CPU (Gloo). On a CPU the cores are shared fairly: one process gets all of them
as threads, N processes get cores/N each; one process is also measured with one thread (what each
of N processes gets on N cores). The load average before each run is recorded: on a machine
shared with other work, threads of one process wait for each other at every operation, and the
figures say more about the sharing than about data parallelism. BatchNorm re-estimation is off and the validation share
small, so the time is mostly training steps; images/s = training images x epochs / training time
(metrics.json's train_seconds, which still holds the small validation and checkpoint writes).
The first row is the baseline; the table and OUT/results.json say which device measured it.
"""

import json
import os
import subprocess
import sys
import time

from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from train.config import CHOICES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser():
    parser = make_parser("train_throughput", __doc__)
    parser.add_argument("--out", required=True, help="folder for the dataset, the runs and results.json")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts (default 1,2)")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels (default 64)")
    parser.add_argument("--per-class", type=int, default=160, help="images per class, 2 classes (default 160)")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch (default 32)")
    parser.add_argument("--epochs", type=int, default=2, help="default 2")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--sync-bn", default="auto", choices=CHOICES["sync_bn"], help="(CUDA only: on)")
    return parser


def device_description():
    import torch

    if torch.cuda.is_available():
        return "cuda", "{} x {}".format(torch.cuda.device_count(), torch.cuda.get_device_name(0))
    import platform

    return "cpu", "{} ({} cores)".format(platform.processor() or platform.machine(), os.cpu_count())


def command_for(processes, data, run, args):
    train = ["-m", "train", data, "--out", run, "--size", str(args.size), "--batch-size", str(args.batch_size),
             "--epochs", str(args.epochs), "--arch", args.arch, "--workers", "0", "--val-fraction", "0.05",
             "--bn-reestimate", "off", "--patience", "0", "--lr", "1e-3", "--sync-bn", args.sync_bn]
    if processes == 1:
        return [sys.executable] + train
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] + train


def measure(processes, threads, data, args):
    run = os.path.join(args.out, "run-{}x{}".format(processes, threads))
    if os.path.exists(os.path.join(run, "metrics.json")):
        raise EdgeError("{} holds an earlier run: give another --out".format(run))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    load = os.getloadavg()[0]
    started = time.time()
    done = subprocess.run(command_for(processes, data, run, args), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        raise EdgeError("{} process(es) failed: {}".format(processes, done.stderr.strip().splitlines()[-1:]))
    with open(os.path.join(run, "metrics.json")) as handle:
        metrics = json.load(handle)
    images = metrics["dataset"]["train_images"] * args.epochs
    return {"processes": processes, "threads_per_process": threads, "backend": metrics["training"]["backend"],
            "sync_bn": metrics["training"]["sync_bn"], "global_batch": metrics["training"]["global_batch"],
            "batch_per_process": metrics["training"]["batch_per_process"], "train_images": images,
            "train_seconds": metrics["train_seconds"], "images_per_second": images / metrics["train_seconds"],
            "wall_seconds": round(time.time() - started, 1), "load_average_before": round(load, 2)}


def render(rows, device):
    lines = ["device: {}".format(device), "",
             "| processes | threads each | backend | batch global / each | SyncBN | images/s | speed-up "
             "| load before |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| {} | {} | {} | {} / {} | {} | {:.1f} | {:.2f}x | {} |".format(
            row["processes"], row["threads_per_process"], row["backend"] or "-", row["global_batch"],
            row["batch_per_process"], "on" if row["sync_bn"] else "off", row["images_per_second"],
            row["images_per_second"] / rows[0]["images_per_second"], row["load_average_before"]))
    return "\n".join(lines)


def _main(argv):
    args = build_parser().parse_args(argv)
    try:
        counts = [int(text) for text in args.processes.split(",")]
    except ValueError:
        raise EdgeError("--processes must be comma-separated integers, got {!r}".format(args.processes))
    from benchmarks.shapes import write_folder

    kind, device = device_description()
    print("device: {}".format(device))
    data = os.path.join(args.out, "data")
    if not os.path.isdir(data):
        write_folder(data, ("circle", "triangle"), args.per_class, seed=0, side=args.size)
    cores = os.cpu_count() or 1
    plan = []
    for count in counts:
        if kind == "cpu" and count == 1 and cores > 1:
            plan.append((1, cores))  # and one thread, below
        plan.append((count, max(1, cores // count) if kind == "cpu" and count > 1 else 1))
    rows = []
    for count, threads in plan:
        rows.append(measure(count, threads, data, args))
        print("{} process(es) x {} thread(s): {:.1f} images/s".format(count, threads, rows[-1]["images_per_second"]))
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump({"device": device, "rows": rows}, handle, indent=2)
    print(render(rows, device))
    return 0


def main(argv=None):
    return run_main("train_throughput", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
