"""Training configuration: built-in defaults < YAML file (--config) < command-line flags.

The resolved configuration is written into the run folder (config.yaml) so the run can be
reproduced with `edge-train --config runs/x/config.yaml`.

The task (resolve_task): --task auto is the first task of train.tasks that claims DATA (regression:
labels.csv, or images directly with no class sub-folders), the default (classification) otherwise.
What depends on it resolves with it, from the task's defaults (resize, crop_pct, loss), and the
task refuses what clashes with it.
"""

import os

from edge.errors import EdgeError
from edge.util.lazy import require
from edge.options.ranges import check
from edge.options.yaml_file import load_options
from edge.bundle.preprocess import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE
from edge.tasks.tta import MODES as TTA_MODES
from train import tasks

DEFAULTS = {
    "data": None,
    "task": "auto",              # one of train.tasks (classification, regression); auto: from DATA (resolve_task)
    "loss": "auto",              # the task's default (train.tasks), or another of its losses
    "val": None,
    "out": None,
    "arch": "resnet18",
    "weights": "none",
    "epochs": "auto",            # ~1000 optimizer steps from scratch, 300 pretrained, 10..100 epochs (autosize)
    "freeze_epochs": "auto",     # 1 with pretrained weights, 0 from scratch (nothing to preserve)
    "batch_size": "auto",        # from the training set's size: ~10+ steps an epoch, 8..64 (train/autosize.py)
    "bn_reestimate": "auto",     # BatchNorm statistics recomputed before validating: auto = under 100 steps an epoch
    "sync_bn": "auto",           # SyncBatchNorm under torchrun: auto = on CUDA below 16 images per process
    "lr": 2e-3,                  # peak one-cycle learning rate of the head; "find" runs the finder first
    "lr_spread": "auto",         # head lr / earliest-layer lr after unfreezing: 10 pretrained, 1 scratch
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "size": INPUT_SIZE,
    "resize": "auto",            # the task's: center_crop (classification) or stretch (regression: keeps every target)
    "crop_pct": "auto",          # the task's: 0.875 (classification) or 1.0 (regression)
    "interpolation": "bilinear",
    "mean": list(IMAGENET_MEAN),  # lists: config.yaml holds plain values
    "std": list(IMAGENET_STD),
    "val_fraction": 0.2,
    "seed": 0,
    "workers": "auto",
    "patience": 5,               # epochs without improvement (counted once the lr has annealed half way); 0 = never
    "keep_epochs": 3,            # per-epoch checkpoints kept (newest); 0 keeps all
    "device": "auto",
    "amp": "auto",               # mixed precision: on for CUDA, off on CPU
    "tta": "none",               # after training, also evaluate the best model with test-time augmentation (edge.tasks.tta)
    "augment": {"hflip": 0.5, "vflip": 0.0, "rotate": 10.0, "shift": 0.1, "zoom": 0.1,
                "jitter": 0.2, "d4": False},
}

AUGMENT_KEYS = tuple(DEFAULTS["augment"])

# Options taking one of a few words (flags and YAML alike); --task and --loss take the words of the tasks
# registered when they are read (choices()).
CHOICES = {
    "arch": ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
    "resize": ("auto", "center_crop", "stretch"),
    "interpolation": ("nearest", "bilinear", "bicubic", "area"),
    "bn_reestimate": ("auto", "on", "off"),
    "sync_bn": ("auto", "on", "off"),
    "amp": ("auto", "off"),
    "tta": TTA_MODES,
}
# Numbers (their ranges are rows of edge.options.ranges) and the word each may be instead.
NUMBERS = {"epochs": "auto", "freeze_epochs": "auto", "batch_size": "auto", "workers": "auto", "patience": None,
           "keep_epochs": None, "size": None, "seed": None, "lr": "find", "lr_spread": "auto",
           "weight_decay": None, "label_smoothing": None, "val_fraction": None, "crop_pct": "auto"}
RANGE_ROWS = {"batch_size": "train_batch_size"}   # where the training row's name differs from the option's


def resolve(flags, config_path=None):
    """Merge defaults, the YAML file and the flags that were given (None = not given)."""
    config = dict(DEFAULTS, augment=dict(DEFAULTS["augment"]))
    layers = [load_options(config_path)] if config_path else []
    layers.append({k: v for k, v in flags.items() if v is not None})
    for layer in layers:
        for key, value in layer.items():
            if key == "augment":
                if not isinstance(value, dict):
                    raise EdgeError("'augment' must be a mapping of {}".format(", ".join(AUGMENT_KEYS)))
                unknown = sorted(set(value) - set(AUGMENT_KEYS))
                if unknown:
                    raise EdgeError("unknown augment option(s): {}".format(", ".join(unknown)))
                config["augment"].update(value)
            elif key in AUGMENT_KEYS:
                config["augment"][key] = value
            elif key in config:
                config[key] = value
            else:
                raise EdgeError("unknown option {!r} in {}".format(key, config_path or "flags"))
    config = check_options(config, config_path)
    return resolve_task(config) if config.get("data") else config


def choices():
    """CHOICES with --task's and --loss's words: the tasks of train.tasks (auto: from DATA) and their losses."""
    return dict(CHOICES, task=("auto",) + tasks.names(), loss=("auto",) + tasks.losses())


def check_options(config, config_path=None):
    """Every number inside its range (edge.options.ranges) and every word one of its choices, in place.

    Runs before torch is imported, so a typo costs a second, not a minute; `config_path` names the
    YAML file in the message when the value may have come from it.
    """
    def where(key):
        flag = "--" + key.replace("_", "-")
        return flag if not config_path else "{} (flag or {} in {})".format(flag, key, config_path)

    for key, word in NUMBERS.items():
        if config[key] is not None and config[key] != word:
            config[key] = check(RANGE_ROWS.get(key, key), config[key], where(key))
    for key, allowed in choices().items():
        if config[key] not in allowed:
            raise EdgeError("{} must be one of {}, got {!r}".format(where(key), ", ".join(allowed), config[key]))
    for key in AUGMENT_KEYS:
        if key != "d4":
            config["augment"][key] = check(key, config["augment"][key], where(key))
    check_freeze_epochs(config)
    return config


def check_freeze_epochs(config):
    """Once both are numbers (an 'auto' epoch count is known only with the dataset)."""
    if "auto" not in (config["freeze_epochs"], config["epochs"]) and config["freeze_epochs"] > config["epochs"]:
        raise EdgeError("--freeze-epochs must be between 0 and --epochs ({})".format(config["epochs"]))


def resolve_task(config):
    """The task and what depends on it, in place (see the module docstring); one EdgeError when they clash."""
    task = tasks.for_folder(config["data"]) if config["task"] == "auto" else tasks.named(config["task"])
    config["task"] = task.name
    if config["resize"] == "auto":
        config["resize"] = task.defaults["resize"]
    task.check_config(config)
    if config["loss"] not in ("auto",) + task.losses:   # another task's loss that check_config let through
        raise EdgeError("--loss {} is another task's; {} trains with {}".format(config["loss"], task.name,
                                                                            " or ".join(task.losses)))
    for key in ("crop_pct", "loss"):
        if config[key] == "auto":
            config[key] = task.defaults[key]
    return config


def earlier_run(out):
    """The last.pt of a run already in the folder `out`, or None: a new run must not overwrite it unasked."""
    last = os.path.join(out, "last.pt") if out else None
    return last if last and os.path.exists(last) else None


def dump_yaml(config):
    yaml = require("yaml", "writing the resolved config")
    return yaml.safe_dump(config, sort_keys=False)
