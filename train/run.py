"""One training run from a resolved configuration: data, model, loaders, trainer, outputs."""

import os

import torch

from edge.atomic import write_json, write_text
from edge.errors import EdgeError
from edge.preprocess import PreprocessSpec
from train import config as train_config
from train.augment import AugmentConfig
from train.autosize import BN_IMAGES, resolve_for_dataset
from train.bn_stats import sample_indices
from train.checkpoint import load_checkpoint, model_from_record
from train.data import make_splits
from train.loaders import make_loader
from train.lr_finder import find_lr
from train.outputs import write_run_outputs
from train.plots import plot_lr_find
from train.resnet import build_resnet, load_backbone_weights
from train.trainer import BEST, Trainer, pick_device


def spec_from_config(config):
    return PreprocessSpec(size=int(config["size"]), resize=config["resize"], crop_pct=config["crop_pct"],
                          mean=config["mean"], std=config["std"], interpolation=config["interpolation"])


def resolve_auto(config):
    """Replace the 'auto' values by what they mean for this run (recorded in config.yaml)."""
    pretrained = config["weights"] not in (None, "none")
    if config["freeze_epochs"] == "auto":
        config["freeze_epochs"] = 1 if pretrained else 0
    if config["lr_spread"] == "auto":
        config["lr_spread"] = 10.0 if pretrained else 1.0
    if config["workers"] == "auto":
        config["workers"] = min(2, os.cpu_count() or 1)
    integers = ["epochs", "freeze_epochs", "workers", "patience", "keep_epochs", "size", "seed"]
    if config["batch_size"] != "auto":  # "auto" is resolved once the training set is known
        integers.append("batch_size")
    for key in integers:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise EdgeError("--{} must be an integer, got {!r}".format(key.replace("_", "-"), config[key]))
    if config["epochs"] < 1 or config["batch_size"] != "auto" and config["batch_size"] < 1:
        raise EdgeError("--epochs and --batch-size must be at least 1")
    if config["bn_reestimate"] not in ("auto", "on", "off"):
        raise EdgeError("--bn-reestimate must be auto, on or off, got {!r}".format(config["bn_reestimate"]))
    if not 0 <= config["freeze_epochs"] <= config["epochs"]:
        raise EdgeError("--freeze-epochs must be between 0 and --epochs ({})".format(config["epochs"]))
    if config["lr"] != "find":
        try:
            config["lr"] = float(config["lr"])
        except (TypeError, ValueError):
            raise EdgeError("--lr must be a number or 'find', got {!r}".format(config["lr"]))
        if config["lr"] <= 0:
            raise EdgeError("--lr must be positive")
    return config


def unique_run_dir(base):
    """base, or base-2, base-3... so an earlier run is never overwritten."""
    if not os.path.exists(base):
        return base
    index = 2
    while os.path.exists("{}-{}".format(base, index)):
        index += 1
    return "{}-{}".format(base, index)


def default_run_dir(config):
    name = os.path.basename(os.path.normpath(config["data"])) or "data"
    return unique_run_dir(os.path.join("runs", "{}-{}".format(name, config["arch"])))


def run_training(config, resume=None, find_lr_only=False, log=print):
    """Train (or resume) and write the run's outputs; returns a summary dict with the paths."""
    state = None
    if resume:
        state = load_checkpoint(resume, kinds=("train-state",))
        config = dict(state["config"])  # the run goes on exactly as it was configured
        config.setdefault("bn_reestimate", "off")  # runs started before it existed did without
        run_dir = os.path.dirname(os.path.abspath(resume))
        log("resuming {} at epoch {}, {} images into it".format(run_dir, state["epoch"] + 1, state["position"]))
    else:
        if not config.get("data"):
            raise EdgeError("no dataset given: edge-train DATA (an image folder with one sub-folder per class)")
        config = resolve_auto(config)
        run_dir = config["out"] or default_run_dir(config)
        config["out"] = run_dir
    spec = spec_from_config(config)
    augment_config = AugmentConfig(**config["augment"])
    device = pick_device(str(config["device"]))
    torch.manual_seed(int(config["seed"]))

    train_set, val_set, skipped = make_splits(config["data"], config["val"], float(config["val_fraction"]),
                                              int(config["seed"]), workers=max(2, int(config["workers"])))
    if state is not None and list(state["classes"]) != train_set.classes:
        raise EdgeError("the dataset's classes changed since the run started ({} -> {}); start a new run".format(
            state["classes"], train_set.classes))
    dataset_info = {"data": config["data"], "val": config["val"], "classes": train_set.classes,
                    "train_images": len(train_set.samples), "val_images": len(val_set.samples),
                    "skipped": len(skipped), "train_counts": train_set.counts(), "val_counts": val_set.counts()}
    log("data: {} classes, {} training and {} validation images{}".format(
        len(train_set.classes), len(train_set.samples), len(val_set.samples),
        ", {} unreadable file(s) skipped (listed in the report)".format(len(skipped)) if skipped else ""))
    for item in skipped[:5]:
        log("  skipped {}: {}".format(item["file"], item["reason"]))
    for line in resolve_for_dataset(config, len(train_set.samples)):  # batch size, BatchNorm: 'auto'
        log(line)

    pin = device.type == "cuda"
    workers, batch = int(config["workers"]), int(config["batch_size"])
    train_loader, train_sampler = make_loader(train_set, spec, batch, workers, augment_config,
                                              shuffle=True, seed=int(config["seed"]), pin_memory=pin)
    val_loader, _ = make_loader(val_set, spec, batch, workers, None, pin_memory=pin)
    bn_loader = None
    if config["bn_reestimate"] == "on":
        sample = sample_indices(len(train_set.samples), BN_IMAGES, batch, int(config["seed"]))
        bn_loader, _ = make_loader(train_set.subset(sample), spec, batch, workers, None, pin_memory=pin)

    if state is not None:
        model = model_from_record(state)
    else:
        model = build_resnet(config["arch"], len(train_set.classes))
        load_backbone_weights(model, config["arch"], config["weights"])
    os.makedirs(run_dir, exist_ok=True)

    if find_lr_only or config["lr"] == "find":
        found = run_lr_finder(model, train_loader, device, config, run_dir, log)
        suggestion = found["suggestion"]
        if find_lr_only:
            return {"run_dir": run_dir, "lr_suggestion": suggestion, "lr_rule": found["rule"],
                    "lr_note": found["note"]}
        if suggestion is None:
            raise EdgeError("the learning-rate finder found no good rate: {} (see {}); pass --lr VALUE".format(
                found["note"], os.path.join(run_dir, "lr_find.png")))
        config["lr"] = suggestion

    write_text(os.path.join(run_dir, "config.yaml"), train_config.dump_yaml(config))
    trainer = Trainer(config, model, spec, train_set.classes, train_loader, train_sampler, val_loader,
                      run_dir, device, log=log, bn_loader=bn_loader)
    if state is not None:
        trainer.restore(state)
    log("training {} on {} ({}), {} epochs, run folder {}".format(
        config["arch"], device, "mixed precision" if trainer.amp else "fp32", config["epochs"], run_dir))
    result = trainer.fit()
    best = load_checkpoint(os.path.join(run_dir, BEST), kinds=("model",))
    paths = write_run_outputs(run_dir, best, trainer.history, dataset_info, skipped, result["seconds"])
    return {"run_dir": run_dir, "paths": paths, "accuracy": best["metrics"]["val"]["accuracy"],
            "best_epoch": best["epoch"], "seconds": result["seconds"]}


def run_lr_finder(model, loader, device, config, run_dir, log):
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=float(config["label_smoothing"]))
    model.to(device)
    lrs, losses, found = find_lr(model, loader, criterion, device, list(model.parameters()),
                                 weight_decay=float(config["weight_decay"]), log=log)
    plot_lr_find(lrs, losses, found, os.path.join(run_dir, "lr_find.png"))
    write_json(os.path.join(run_dir, "lr_find.json"), {
        "lrs": lrs, "losses": losses, "suggestion": found["suggestion"], "rule": found["rule"],
        "note": found["note"], "candidates": found["candidates"], "batch_size": int(config["batch_size"])})
    log("lr finder plot: {}".format(os.path.join(run_dir, "lr_find.png")))
    return found
