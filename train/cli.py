"""edge-train: fine-tune a ResNet on an image-folder dataset: classes, or points (regression).

Classification: DATA/<class>/<images>. Regression: DATA/<images> with DATA/labels.csv
(file,x,y: points in pixels of each image; more points as nose_x,nose_y,...) or images named
<x>_<y>_<id>.jpg (NVIDIA's Jetson course, edge-collect --point); the model outputs the points in
pixels of the image it is given. --task auto picks regression when DATA holds labels.csv or holds
images directly (no class sub-folders), classification otherwise.

Writes a run folder with model.pt (the best epoch, self-describing: arch, classes or targets,
preprocessing, metrics), last.pt (resumable), per-epoch checkpoints, metrics.json,
history.csv, curves.png, confusion.png (regression: scatter.png), labels.txt, report.md and the
resolved config.yaml. The best epoch has the highest validation accuracy (regression: the lowest
MAE in pixels).

Defaults come from a YAML file (--config) and flags override it. Ctrl-C saves a resumable
state and exits 130: continue with --resume RUN/last.pt. Progress goes to stderr; the result
(best accuracy, where the model and report are) to stdout. Exit codes: 0 done; 2 usage error;
130 Ctrl-C.
"""

import argparse
import os

from edge.cli import make_parser, progress_log, run_main
from edge.options.runner_args import add_tta_argument
from edge.errors import EXIT_OK, EdgeError
from train import config as train_config  # light: no torch
from train import tasks

EPILOG = """examples:
  edge-train data/flowers --arch resnet34 --weights imagenet --epochs 15
  edge-train data/flowers --find-lr                 # plot and suggest a learning rate, then stop
  edge-train data/flowers --lr find                 # train at the finder's suggestion
  edge-train data/aerial --d4 --val data/aerial-val  # top-down imagery, separate validation folder
  edge-train data/aerial --d4 --tta d4               # ... and the best model evaluated with 8 views too
  edge-train data/nose --task regression             # DATA/labels.csv (file,x,y) or <x>_<y>_<id>.jpg names
  edge-train --resume runs/flowers-resnet34/last.pt
"""


# Every default is None: unset flags fall through to the YAML file, then built-in defaults.
S = None


def build_parser():
    parser = make_parser("edge-train", __doc__, EPILOG)
    parser.add_argument("data", nargs="?", help="image-folder dataset: one sub-folder per class, or (regression) "
                                                "images with labels.csv or <x>_<y>_<id>.jpg names")
    parser.add_argument("--task", default=S, choices=train_config.choices()["task"],
                        help="default auto: regression when DATA holds labels.csv or holds images directly (no "
                             "class sub-folders), else classification")
    parser.add_argument("--config", help="YAML file of options (same names as the flags)")
    parser.add_argument("--resume", metavar="LAST_PT", help="continue an interrupted run from its last.pt")
    parser.add_argument("--find-lr", action="store_true",
                        help="run the learning-rate finder, write lr_find.png and lr_find.json, print the "
                             "suggestion (the basin's edge: where the loss starts to rise after its longest descent, "
                             "the one-cycle peak; the descent's end, fastai's valley, minimum/10 and steep shown "
                             "beside it), stop")
    parser.add_argument("--overwrite", action="store_true", help="reuse an --out folder that holds an earlier run")
    add_data_arguments(parser)
    add_optimisation_arguments(parser)
    add_augment_arguments(parser)
    evaluation = parser.add_argument_group("final evaluation")
    add_tta_argument(evaluation, default=S, also="edge-train: after training, the best model is evaluated on the "
                                                 "validation images with it too; both figures (accuracy; "
                                                 "a regression's MAE) go into "
                                                 "metrics.json and report.md")
    return parser


def add_data_arguments(parser):
    """The data, model and preprocessing groups."""
    data = parser.add_argument_group("data")
    data.add_argument("--val", default=S, help="separate validation image folder (default: split DATA)")
    data.add_argument("--val-fraction", type=float, default=S, help="validation share of DATA (default 0.2)")
    data.add_argument("--workers", default=S, help="data-loading worker processes (default auto)")
    data.add_argument("--out", default=S, help="run folder (default runs/<data>-<arch>, numbered if taken)")
    model = parser.add_argument_group("model")
    model.add_argument("--arch", default=S, choices=train_config.CHOICES["arch"])
    model.add_argument("--weights", default=S, help="none, imagenet (torchvision's, needs network) or a file path")
    pre = parser.add_argument_group("preprocessing (travels with the model to the device)")
    pre.add_argument("--size", type=int, default=S,
                     help="input side in pixels (default {})".format(train_config.DEFAULTS["size"]))
    pre.add_argument("--resize", default=S, choices=train_config.CHOICES["resize"],
                     help="default auto: center_crop (classification), stretch (regression: a plain resize, so "
                          "no target is cut off; with center_crop every point must lie inside the crop)")
    pre.add_argument("--crop-pct", type=float, default=S,
                     help="centre-crop fraction (default 0.875; 1 for regression)")
    pre.add_argument("--interpolation", default=S, choices=train_config.CHOICES["interpolation"])


def add_optimisation_arguments(parser):
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int_or_auto, default=S,
                     help="total epochs, or auto (default): enough for about 1,000 optimizer steps from scratch, "
                          "300 from pretrained weights, within 10-100 (40 images at batch 8: 100 from scratch, "
                          "60 pretrained; 100,000 images: 10)")
    opt.add_argument("--freeze-epochs", default=S, help="epochs training only the head first (default auto: "
                                                        "1 with pretrained weights, 0 from scratch)")
    opt.add_argument("--batch-size", type=int_or_auto, default=S,
                     help="images per optimizer step (under torchrun: over all processes, split evenly), or auto "
                          "(default): the largest power of two <= training images / 10, within 8-64, capped by "
                          "an estimate of memory for --arch and --size")
    opt.add_argument("--bn-reestimate", default=S, choices=train_config.CHOICES["bn_reestimate"],
                     help="recompute BatchNorm statistics on training images before each validation "
                          "(default auto: on when an epoch has under 100 steps)")
    opt.add_argument("--sync-bn", default=S, choices=train_config.CHOICES["sync_bn"],
                     help="SyncBatchNorm under torchrun (default auto: on CUDA below 16 images per process)")
    opt.add_argument("--lr", default=S, help="peak one-cycle learning rate of the head, or 'find': run the finder "
                                             "and use its suggestion (default 2e-3)")
    opt.add_argument("--lr-spread", default=S, help="head lr / stem lr after unfreezing (default auto)")
    opt.add_argument("--weight-decay", type=float, default=S, help="AdamW weight decay (default 0.05)")
    opt.add_argument("--label-smoothing", type=float, default=S, help="classification (default 0.1)")
    opt.add_argument("--loss", default=S, choices=train_config.choices()["loss"][1:],
                     help="regression loss on the normalised targets (default smooth_l1, linear beyond 1%% of the "
                          "side; mse); classification uses cross_entropy")
    opt.add_argument("--patience", type=int, default=S,
                     help="early stop after N epochs without improvement, counted once the learning rate "
                          "has annealed to half its peak (earlier epochs swing); 0 never (default 5)")
    opt.add_argument("--seed", type=int, default=S, help="default 0")
    opt.add_argument("--device", default=S, help="auto, cpu, cuda or cuda:N")
    opt.add_argument("--amp", default=S, choices=train_config.CHOICES["amp"], help="mixed precision on CUDA (default auto)")
    opt.add_argument("--keep-epochs", type=int, default=S, help="per-epoch checkpoints kept (default 3; 0 all)")


def add_augment_arguments(parser):
    aug = parser.add_argument_group("augmentation (training images only)")
    aug.add_argument("--hflip", type=float, default=S, help="horizontal flip probability (default 0.5)")
    aug.add_argument("--vflip", type=float, default=S, help="vertical flip probability (default 0)")
    aug.add_argument("--rotate", type=float, default=S, help="max rotation in degrees (default 10)")
    aug.add_argument("--shift", type=float, default=S, help="max shift, fraction of the side (default 0.1)")
    aug.add_argument("--zoom", type=float, default=S, help="max zoom change (default 0.1)")
    aug.add_argument("--jitter", type=float, default=S, help="max brightness/contrast/saturation change (default 0.2)")
    aug.add_argument("--d4", action="store_const", const=True, default=S,
                     help="random one of the 8 dihedral transforms (top-down imagery)")
    aug.add_argument("--no-augment", action="store_true", help="train without augmentation")


def int_or_auto(text):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an integer or auto, got {!r}".format(text))


def flags_from_args(args):
    flags = {key: getattr(args, key) for key in (
        "data", "task", "loss", "val", "val_fraction", "workers", "out", "arch", "weights", "size", "resize",
        "crop_pct",
        "interpolation", "epochs", "freeze_epochs", "batch_size", "bn_reestimate", "sync_bn", "lr", "lr_spread",
        "weight_decay", "label_smoothing", "patience", "seed", "device", "amp", "keep_epochs", "hflip", "vflip",
        "rotate", "shift", "zoom", "jitter", "d4", "tta")}
    if args.no_augment:
        flags["augment"] = {"hflip": 0.0, "vflip": 0.0, "rotate": 0.0, "shift": 0.0, "zoom": 0.0,
                            "jitter": 0.0, "d4": False}
    return flags


def _main(argv):
    args = build_parser().parse_args(argv)
    if args.resume:
        if args.data or args.config:
            raise EdgeError("--resume continues a run exactly as configured; drop DATA and --config")
        config = None
    else:
        config = train_config.resolve(flags_from_args(args), args.config)
        last = train_config.earlier_run(config.get("out"))
        if last and not args.overwrite and not args.find_lr:
            raise EdgeError("{} already holds a run; continue it with --resume {}, or pass --overwrite "
                            "or another --out".format(config["out"], last))
    from train.run import run_training  # torch is imported here, after argument checks
    result = run_training(config, resume=args.resume, find_lr_only=args.find_lr, log=progress_log("edge-train"))
    if args.find_lr:
        print("suggested learning rate: {}  (plot: {})".format(
            "{:.2e} ({})".format(result["lr_suggestion"], result["lr_rule"]) if result["lr_suggestion"]
            else "none: " + result["lr_note"], os.path.join(result["run_dir"], "lr_find.png")))
        return EXIT_OK
    paths = result["paths"]
    task = tasks.named(result.get("task") or tasks.DEFAULT.name)
    print(task.result_line(result))
    if result.get("tta"):
        print(task.views_line(result["tta"]))
    print("model:  {}".format(paths["model"]))
    print("report: {}  (metrics.json, curves.png, {} beside it)".format(paths["report"], task.plot[1]))
    return EXIT_OK


def main(argv=None):
    return run_main("edge-train", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
