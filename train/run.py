"""One training run from a resolved configuration: data, model, loaders, trainer, outputs.

Under torchrun every process runs this (train/distributed.py); rank 0 alone writes the run folder.
"""

import os

import torch

from edge.util.atomic import make_folder, write_json, write_text
from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from edge.tasks.tta import DihedralViews
from train import config as train_config
from train.augment import AugmentConfig
from train.autosize import BN_IMAGES, is_pretrained, resolve_for_dataset
from train.bn_stats import sample_indices
from train.checkpoint import load_checkpoint, model_from_record
from train.distributed import join_group, leave_group, resolve_sync_bn
from train.loaders import make_loader
from train.lr_finder import find_lr
from train.outputs import run_paths, write_run_outputs
from train.plots import plot_lr_find
from train.resnet import build_resnet, load_backbone_weights
from train import tasks
from train.trainer import BEST, Trainer, pick_device


def spec_from_config(config):
    return PreprocessSpec(size=int(config["size"]), resize=config["resize"], crop_pct=config["crop_pct"],
                          mean=config["mean"], std=config["std"], interpolation=config["interpolation"])


def resolve_auto(config):
    """Replace the 'auto' values by what they mean for this run (recorded in config.yaml)."""
    pretrained = is_pretrained(config)
    if config["freeze_epochs"] == "auto":
        config["freeze_epochs"] = 1 if pretrained else 0
    if config["lr_spread"] == "auto":
        config["lr_spread"] = 10.0 if pretrained else 1.0
    if config["workers"] == "auto":
        config["workers"] = min(2, os.cpu_count() or 1)
    config["freeze_epochs"], config["workers"] = int(config["freeze_epochs"]), int(config["workers"])
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
    """Train (or resume) and write the run's outputs; returns a summary dict with the paths.

    Under torchrun (WORLD_SIZE > 1) this process joins the group first and leaves it at the end,
    whatever happens, so no rank waits for one that has gone.
    """
    state = None
    if resume:
        state = load_checkpoint(resume, kinds=("train-state",))
        config = dict(state["config"])  # the run goes on exactly as it was configured
        config.setdefault("bn_reestimate", "off")  # runs started before it existed did without
        config.setdefault("sync_bn", "auto")
        config.setdefault("tta", "none")
        config.setdefault("task", tasks.DEFAULT.name)
        config.setdefault("loss", tasks.DEFAULT.defaults["loss"])
        run_dir = os.path.dirname(os.path.abspath(resume))
    else:
        if not config.get("data"):
            raise EdgeError("no dataset given: edge-train DATA (an image folder with one sub-folder per class, or "
                            "images with labels.csv for regression)")
        config = resolve_auto(config)
        run_dir = None
    processes = join_group(str(config["device"]), pick_device)
    try:
        if not processes.is_main:
            log = quiet
        if processes.distributed and (find_lr_only or config["lr"] == "find"):
            raise EdgeError("the learning-rate finder runs in one process: run edge-train DATA --find-lr with the "
                            "same --batch-size first, then torchrun with --lr VALUE")
        if state is not None:
            log("resuming {} at epoch {}, {} images into it".format(run_dir, state["epoch"] + 1, state["position"]))
        else:  # chosen once, by rank 0: on shared storage every rank would see its own free name
            run_dir = config["out"] = processes.broadcast(config["out"] or default_run_dir(config))
        return train_in_group(config, state, run_dir, processes, find_lr_only, log)
    finally:
        leave_group(processes)


def quiet(*args):
    return None


def train_in_group(config, state, run_dir, processes, find_lr_only, log):
    spec = spec_from_config(config)
    torch.manual_seed(int(config["seed"]))
    train_set, val_set, skipped, task, dataset_info = load_data(config, spec, state, log)
    loaders = make_loaders(config, spec, train_set, val_set, task, processes, log)
    model = make_model(config, state, len(task.output_names), loaders["sync_bn"])
    if processes.is_main:
        make_folder(run_dir, "the run folder")  # --out /proc/x, a read-only disk: one line, not a traceback
    if find_lr_only or config["lr"] == "find":
        found = run_lr_finder(model, loaders["train"], processes.device, config, run_dir, log, task)
        if find_lr_only:
            return {"run_dir": run_dir, "lr_suggestion": found["suggestion"], "lr_rule": found["rule"],
                    "lr_note": found["note"]}
        if found["suggestion"] is None:
            raise EdgeError("the learning-rate finder found no good rate: {} (see {}); pass --lr VALUE".format(
                found["note"], os.path.join(run_dir, "lr_find.png")))
        config["lr"] = found["suggestion"]
    training = dict(processes.describe(), global_batch=loaders["batch"], batch_per_process=loaders["per_process"],
                    sync_bn=loaders["sync_bn"])
    if processes.is_main:
        write_config(config, run_dir, processes, loaders["batch"])
    trainer = Trainer(config, model, spec, task.output_names, loaders["train"], loaders["sampler"], loaders["val"],
                      run_dir, processes.device, task=task, log=log, bn_loader=loaders["bn"], processes=processes)
    if state is not None:
        trainer.restore(state)
    log("training {} on {} ({}), {} epochs, run folder {}".format(
        config["arch"], processes.device, "mixed precision" if trainer.amp else "fp32", config["epochs"], run_dir))
    result = trainer.fit()
    best = load_checkpoint(os.path.join(run_dir, BEST), kinds=("model",)) if processes.is_main else None
    tta = None
    if config["tta"] != "none":
        tta = evaluate_best_with_views(trainer, best, config["tta"], spec, processes, log)
    if not processes.is_main:  # files are rank 0's; this summary is never printed
        return {"run_dir": run_dir, "paths": run_paths(run_dir, task), "task": task.name,
                "accuracy": trainer.best[0], "best_epoch": trainer.best_epoch, "seconds": result["seconds"]}
    paths = write_run_outputs(run_dir, best, trainer.history, dataset_info, skipped, result["seconds"],
                              training=training, tta=tta)
    report = best["metrics"]["val"]
    return {"run_dir": run_dir, "paths": paths, "task": task.name, "accuracy": report.get("accuracy"),
            "mae_px": report.get("mae_px"), "summary": task.summary(report),
            "best_epoch": best["epoch"], "seconds": result["seconds"], "tta": tta}


def make_loaders(config, spec, train_set, val_set, task, processes, log):
    """The training, validation and (with --bn-reestimate on) BatchNorm loaders of this process, by role, with
    the global batch, this process's share of it and whether BatchNorm is synchronised."""
    pin = processes.device.type == "cuda"
    workers, batch = int(config["workers"]), int(config["batch_size"])
    per_process = max(1, batch // processes.world_size)
    sync_bn, sync_why = resolve_sync_bn(config["sync_bn"], per_process, processes)
    if processes.distributed:
        if batch < processes.world_size:
            raise EdgeError("--batch-size {} is the global batch, split across {} processes: give at least {}".format(
                batch, processes.world_size, processes.world_size))
        log("data parallel: {} processes ({}), global batch {} = {}{} images per process; SyncBatchNorm {} ({})".format(
            processes.world_size, processes.backend, batch, per_process,
            "" if batch % processes.world_size == 0 else "-{}".format(per_process + 1),
            "on" if sync_bn else "off", sync_why))
    train_loader, train_sampler = make_loader(train_set, spec, batch, workers, AugmentConfig(**config["augment"]),
                                              shuffle=True, seed=int(config["seed"]), pin_memory=pin,
                                              rank=processes.rank, world_size=processes.world_size, task=task)
    first, stop = processes.shard(len(val_set.samples))  # each rank validates its share
    val_loader, _ = make_loader(val_set.subset(range(first, stop)), spec, per_process, workers, None,
                                pin_memory=pin, task=task)
    bn_loader = None
    if config["bn_reestimate"] == "on":
        sample = sample_indices(len(train_set.samples), BN_IMAGES, batch, int(config["seed"]))
        bn_loader, _ = make_loader(train_set.subset(sample), spec, batch, workers, None, pin_memory=pin,
                                   task=task)
    return {"train": train_loader, "sampler": train_sampler, "val": val_loader, "bn": bn_loader, "batch": batch,
            "per_process": per_process, "sync_bn": sync_bn}


def make_model(config, state, outputs, sync_bn):
    """The network: a resumed run's, or a new one with the configured backbone weights."""
    if state is not None:
        model = model_from_record(state)
    else:
        model = build_resnet(config["arch"], outputs)
        load_backbone_weights(model, config["arch"], config["weights"])
    if sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state-dict keys
    return model


def write_config(config, run_dir, processes, batch):
    """config.yaml: the resolved configuration. How it was trained goes in a YAML comment, so the file stays a
    valid --config for any number of processes."""
    write_text(os.path.join(run_dir, "config.yaml"), "# trained by {} process(es){}, global batch {}\n".format(
        processes.world_size, " ({})".format(processes.backend) if processes.distributed else "", batch)
        + train_config.dump_yaml(config))


def evaluate_best_with_views(trainer, best, mode, spec, processes, log):
    """--tta: the best model (rank 0's model.pt, sent to every rank) evaluated on the validation images with
    edge.tasks.tta's views; on rank 0 the figures metrics.json records beside the plain ones (None elsewhere)."""
    views = DihedralViews(mode, spec.size)
    trainer.model.load_state_dict(processes.broadcast(best["state_dict"] if processes.is_main else None))
    if processes.is_main:
        log("evaluating the best model (epoch {}) with --tta {}: {} views of each validation image".format(
            best["epoch"], mode, views.count))
    report = trainer.evaluate_views(views)
    if not processes.is_main:
        return None
    return trainer.task.views_figures(mode, views.count, report, best["metrics"]["val"])


def load_data(config, spec, state, log):
    """(train set, val set, skipped files, task, dataset info) for the configured task, checked against a
    resumed run's classes or targets; what was found is logged."""
    task = tasks.named(config["task"])
    train_set, val_set, skipped, task, info, what = task.load_data(config, spec, state,
                                                                   workers=max(2, int(config["workers"])))
    log("data: {}, {} training and {} validation images{}".format(
        what, len(train_set.samples), len(val_set.samples),
        ", {} unreadable file(s) skipped (listed in the report)".format(len(skipped)) if skipped else ""))
    for item in skipped[:5]:
        log("  skipped {}: {}".format(item["file"], item["reason"]))
    for line in resolve_for_dataset(config, len(train_set.samples)):  # batch size, BatchNorm: 'auto'
        log(line)
    return train_set, val_set, skipped, task, info


def run_lr_finder(model, loader, device, config, run_dir, log, task):
    criterion = task.criterion("mean")
    model.to(device)
    lrs, losses, found = find_lr(model, loader, criterion, device, list(model.parameters()),
                                 weight_decay=float(config["weight_decay"]), log=log)
    plot_lr_find(lrs, losses, found, os.path.join(run_dir, "lr_find.png"))
    write_json(os.path.join(run_dir, "lr_find.json"), {
        "lrs": lrs, "losses": losses, "suggestion": found["suggestion"], "rule": found["rule"],
        "note": found["note"], "candidates": found["candidates"], "batch_size": int(config["batch_size"])})
    log("lr finder plot: {}".format(os.path.join(run_dir, "lr_find.png")))
    return found
