"""Settings chosen from the size of the training set: batch size, epochs, BatchNorm re-estimation.

Batch size ("auto"): the largest power of two <= n_train / 10, within [8, 64], so an epoch has
about 10 optimizer steps or more (at 64 an epoch of 160 images was 3 steps, and a run of 6 epochs
did not learn), then capped so a batch fits in memory. The cap is an estimate of what fits about
8 GB of GPU memory with mixed precision at 224 px, scaled by the input area; it is applied on every
device, so one command resolves to the same run on a laptop CPU and on a GPU desktop.

Epochs ("auto"): enough for about 1,000 optimizer steps from scratch (--weights none) and 300 from
pretrained weights, within 10-100 epochs. From scratch, a small set learns late: drawn shapes,
3 classes of 40 at 64 px, batch 8, stayed near chance for about 300 steps and then rose; 300 steps
in all (20 epochs) reached 0.79 and 0.67 best validation accuracy (seeds 0 and 1), 1,000 (67
epochs) 1.00 and 1.00 (benchmarks/small_data.py; the README has the table). Pretrained weights
need no such start (2 and 3 classes of 20-200 from a checkpoint reached 0.88-1.00 within 10
epochs). From about 6,400 images from scratch (1,900 pretrained) at batch 64, it stays 10.

BatchNorm re-estimation ("auto"): on when an epoch has fewer than 100 optimizer steps. Running
statistics are a moving average (momentum 0.1) of the batches seen; with few steps an epoch they
still hold older weights' statistics (or the initial 0/1) when the model is validated and saved.
With 100 steps or more the average has caught up, and re-estimation would cost time for nothing.
"""

from train.config import check_freeze_epochs

MIN_BATCH, MAX_BATCH = 8, 64
STEPS_GOAL = 10              # optimizer steps an epoch the batch size aims at
STEPS_FROM_SCRATCH = 1000   # optimizer steps the automatic epoch count aims at, by start
STEPS_PRETRAINED = 300
MIN_EPOCHS, MAX_EPOCHS = 10, 100
BN_STEPS = 100               # re-estimate BatchNorm statistics below this many steps an epoch
BN_IMAGES = 1024             # training images the statistics are re-estimated on (at most)
# Images per batch that fit about 8 GB of GPU memory with mixed precision at 224x224 (estimates).
MEMORY_BUDGET_224 = {"resnet18": 256, "resnet34": 192, "resnet50": 80, "resnet101": 48, "resnet152": 32}


def power_of_two_floor(value):
    power = 1
    while power * 2 <= value:
        power *= 2
    return power


def memory_cap(arch, size):
    """The largest power-of-two batch estimated to fit for `arch` at `size` x `size` pixels."""
    budget = MEMORY_BUDGET_224.get(arch, 32) * (224.0 / max(1, size)) ** 2
    return power_of_two_floor(max(1.0, budget))


def auto_batch_size(train_images, arch, size):
    """(batch size, why) for `train_images` training images."""
    by_steps = min(MAX_BATCH, max(MIN_BATCH, power_of_two_floor(max(1, train_images // STEPS_GOAL))))
    cap = memory_cap(arch, size)
    batch = min(by_steps, cap)
    why = "{} training images -> {} steps an epoch".format(train_images, steps_per_epoch(train_images, batch))
    if cap < by_steps:
        why += "; capped at {} for {} at {} px".format(cap, arch, size)
    return batch, why


def steps_per_epoch(train_images, batch_size):
    return -(-train_images // batch_size)


def auto_epochs(train_images, batch_size, pretrained):
    """(epochs, why): about STEPS_PRETRAINED or STEPS_FROM_SCRATCH optimizer steps, within
    MIN_EPOCHS..MAX_EPOCHS."""
    steps = steps_per_epoch(train_images, batch_size)
    goal = STEPS_PRETRAINED if pretrained else STEPS_FROM_SCRATCH
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, -(-goal // steps)))
    return epochs, "{} steps an epoch -> {} steps{}".format(
        steps, steps * epochs, "" if pretrained else " (from scratch)")


def is_pretrained(config):
    return config["weights"] not in (None, "none")


def resolve_for_dataset(config, train_images):
    """Resolve batch_size, epochs and bn_reestimate 'auto' in place (other values were checked with
    the rest of the configuration); returns the lines to log."""
    lines = []
    if config["batch_size"] == "auto":
        config["batch_size"], why = auto_batch_size(train_images, config["arch"], int(config["size"]))
        lines.append("batch size auto: {} ({})".format(config["batch_size"], why))
    if config["epochs"] == "auto":
        config["epochs"], why = auto_epochs(train_images, int(config["batch_size"]), is_pretrained(config))
        lines.append("epochs auto: {} ({})".format(config["epochs"], why))
        check_freeze_epochs(config)
    if config["bn_reestimate"] == "auto":
        steps = steps_per_epoch(train_images, int(config["batch_size"]))
        config["bn_reestimate"] = "on" if steps < BN_STEPS else "off"
        lines.append("BatchNorm statistics re-estimated before each validation: {} ({} steps an epoch{})".format(
            config["bn_reestimate"], steps, " < {}".format(BN_STEPS) if steps < BN_STEPS else ""))
    return lines
