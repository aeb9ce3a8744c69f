"""The fine-tuning loop: freeze-then-unfreeze, one-cycle schedules, best checkpoint, resume.

The loop is the same for every task; the task (train.tasks) gives the loss, the figures and which
epoch is best (highest accuracy; lowest MAE in pixels). The model gives its layer groups.

Epochs [0, freeze_epochs) train the head (and BatchNorm affine parameters, as fastai does) with
the backbone frozen; the remaining epochs train everything with discriminative learning rates
(earliest layers smallest). Each phase has its own one-cycle schedule (a phase of one epoch and
5 steps still warms up for one step and anneals; below 3 steps one-cycle has no warm-up left,
which the automatic batch size avoids from 40 training images up). With a `bn_loader`, BatchNorm
statistics are re-estimated for the epoch's final weights before validating, so validation and the
saved model use statistics that match the weights (train/bn_stats.py). After every epoch the
training state is saved to last.pt; Ctrl-C saves the exact mid-epoch position, so --resume
continues on the batches not yet seen.

Early stopping (`patience`) counts only the epochs that end after the schedule has annealed half
way (the learning rate below half its peak): at the peak the validation accuracy of a small set
swings for a few epochs, and stopping there ended runs on 40 images a class before the annealing,
where the model settles, had begun.

Under torchrun (train/distributed.py) every rank runs this loop on its slice of each global batch;
the numbers it logs and records are over all ranks, and only rank 0 writes files.
"""

import os
import time

import numpy as np
import torch
from torch import nn

from edge.errors import EdgeError
from edge.util.progress import progress
from train.autosize import steps_per_epoch
from train.bn_stats import reestimate_batchnorm
from train.checkpoint import model_record, save_checkpoint, versions
from train.distributed import Processes, interrupts_held
from train.outputs import write_history_csv

BEST = "model.pt"
LAST = "last.pt"
EPOCH_DIR = "checkpoints"


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EdgeError("--device {} asked for but CUDA is not available here; use --device cpu".format(name))
    try:
        return torch.device(name)
    except RuntimeError:
        raise EdgeError("unknown --device {!r}; use auto, cpu or cuda[:N]".format(name))


def layer_groups(model):
    """Parameter groups from input to output, the head last, as the model groups its layers
    (train.resnet.ResNet.layer_groups)."""
    return [[p for module in group for p in module.parameters()] for group in model.layer_groups()]


def is_batchnorm_param(model):
    ids = set()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            ids.update(id(p) for p in module.parameters())
    return ids


class Phase(object):
    """One stretch of epochs sharing an optimizer and a one-cycle schedule."""

    def __init__(self, name, first_epoch, epochs):
        self.name, self.first_epoch, self.epochs = name, first_epoch, epochs

    def __contains__(self, epoch):
        return self.first_epoch <= epoch < self.first_epoch + self.epochs


class Trainer(object):
    def __init__(self, config, model, spec, classes, train_loader, train_sampler, val_loader, run_dir,
                 device, task, log=print, bn_loader=None, processes=None):
        self.config = config
        self.processes = processes or Processes(device=device)
        self.model = model.to(device)
        self.network = self.model  # what training calls: DistributedDataParallel over the model in a group
        self.spec = spec
        self.classes = classes
        self.task = task            # train.tasks: the loss, the figures, the best epoch
        self.train_loader, self.train_sampler = train_loader, train_sampler
        self.val_loader = val_loader
        self.bn_loader = bn_loader  # training images, evaluation preprocessing; None: keep running stats
        self.warned_small_set = False
        self.run_dir = run_dir
        self.device = device
        self.log = log  # run_training passes a silent one to ranks other than 0
        self.amp = device.type == "cuda" and config["amp"] in ("auto", True, "on")
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        # Summed, then divided by the global batch: a rank's slice counts for its share of the batch.
        self.criterion = self.task.criterion("sum")
        epochs, freeze = int(config["epochs"]), int(config["freeze_epochs"])
        self.phases = [p for p in (Phase("head", 0, freeze), Phase("full", freeze, epochs - freeze)) if p.epochs > 0]
        self.history = []
        self.best = None            # the task's score of the best epoch so far (accuracy or -MAE, -loss)
        self.best_epoch = None
        self.bad_epochs = 0
        self.optimizer = self.scheduler = None
        self.phase = None
        self.warm_up = None         # the phase's one-cycle warm-up fraction
        self.epoch = 0              # the epoch in progress (0-based)
        self.position = 0           # training items of `epoch` already consumed
        self.running = [0.0, 0, 0]  # loss sum, task figure sum (correct; pixel error), seen within the epoch

    # ----- optimisation set-up -------------------------------------------------------------
    def phase_of(self, epoch):
        for phase in self.phases:
            if epoch in phase:
                return phase
        raise ValueError("epoch {} is outside the schedule".format(epoch))

    def enter_phase(self, phase):
        """Freeze or unfreeze, then a fresh optimizer and one-cycle schedule for the phase."""
        lr, spread = float(self.config["lr"]), float(self.config["lr_spread"])
        groups = layer_groups(self.model)
        if phase.name == "head":
            bn = is_batchnorm_param(self.model)
            for group in groups[:-1]:
                for p in group:
                    p.requires_grad_(id(p) in bn)
            param_groups = [{"params": [p for g in groups[:-1] for p in g if p.requires_grad], "lr": lr},
                            {"params": groups[-1], "lr": lr}]
        else:
            for p in self.model.parameters():
                p.requires_grad_(True)
            # Geometric spread from lr/spread (stem) to lr (head), like fastai's slice(lr/spread, lr).
            rates = np.geomspace(lr / spread, lr, num=len(groups)) if spread != 1 else [lr] * len(groups)
            param_groups = [{"params": g, "lr": float(r)} for g, r in zip(groups, rates)]
        param_groups = [g for g in param_groups if g["params"]]
        self.network = self.processes.wrap(self.model)
        peak_rates = [g["lr"] for g in param_groups]
        self.optimizer = torch.optim.AdamW(param_groups, weight_decay=float(self.config["weight_decay"]))
        steps = phase.epochs * self.batches_per_epoch()
        warm_up = 0.25 if phase.epochs > 1 else 0.3
        if steps >= 3:  # OneCycleLR divides by warm_up * steps - 1: 4 steps at 0.25 would be 0
            warm_up = max(warm_up, 1.5 / steps)
        self.warm_up = warm_up
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=peak_rates, total_steps=steps, pct_start=warm_up)
        self.phase = phase
        self.log("phase {}: epochs {}-{}, {}".format(
            phase.name, phase.first_epoch + 1, phase.first_epoch + phase.epochs,
            "backbone frozen, head lr {:.1e}".format(lr) if phase.name == "head" else
            "all layers, peak lr {:.1e} (stem) to {:.1e} (head)".format(peak_rates[0], lr)))

    def batches_per_epoch(self):
        return steps_per_epoch(self.train_sampler.size, self.train_sampler.batch_size)

    # ----- the loop ---------------------------------------------------------------------------
    def fit(self):
        epochs = int(self.config["epochs"])
        started = time.time()
        while self.epoch < epochs:
            phase = self.phase_of(self.epoch)
            if self.phase is None or self.phase.name != phase.name:
                self.enter_phase(phase)
            try:
                train_loss, train_acc = self.train_one_epoch()
            except KeyboardInterrupt:
                self.stop_mid_epoch("interrupted")
            except RuntimeError as exc:
                reason = self.processes.peer_failure(exc)  # another rank failed or stalled
                if reason is None:
                    raise
                self.stop_mid_epoch("stopped as another process failed ({})".format(reason))
            if self.bn_loader is not None:
                reestimate_batchnorm(self.model, self.bn_loader, self.device, self.amp)
                self.processes.broadcast_buffers(self.model)  # equal already on CPU; GPUs may round apart
            report, val_loss = self.evaluate()
            self.end_epoch(train_loss, train_acc, val_loss, report)
            if self.should_stop():
                self.log("early stop: validation {} has not improved for {} epochs".format(self.task.metric,
                                                                                            self.bad_epochs))
                break
        return {"seconds": time.time() - started, "best_epoch": self.best_epoch, "history": self.history}

    def train_one_epoch(self):
        self.model.train()
        self.train_sampler.set_epoch(self.epoch, start=self.position)
        world = float(self.processes.world_size)
        with self.progress("", len(self.train_loader)) as shown:
            for images, labels in self.train_loader:
                seen = self.train_step(images, labels, world)
                shown.update(items=seen, loss=self.running[0] / max(1, self.running[2]))
        loss_sum, figure, seen = self.running
        return loss_sum / max(1, seen), figure / float(max(1, seen))

    def progress(self, part, batches):
        """edge.util.progress over `batches` of the epoch (rank 0 shows it): a bar on a terminal, else lines."""
        return progress("epoch {}/{}{}".format(self.epoch + 1, self.config["epochs"], part), total=batches,
                        unit="batch", items="img", enabled=self.processes.is_main)

    def train_step(self, images, labels, world):
        """One optimisation step on this rank's slice of the global batch; the epoch's running sums grow."""
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        batch = self.train_sampler.global_batch(self.position)
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            logits = self.network(images)
            # DDP averages the ranks' gradients: weighting by world / batch makes that the
            # gradient of the mean loss over the global batch, as in one process.
            loss = self.criterion(logits, labels) * (world / batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        # The last collective of the step, before the weights change: a failing peer stops the
        # run between steps, so the state saved then is consistent.
        loss_sum, figure, seen = self.processes.sum([
            float(loss.item()) * batch / world, self.task.batch_stat(logits, labels), int(labels.shape[0])])
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.running[0] += loss_sum
        self.running[1] += figure
        self.running[2] += int(seen)
        self.position += int(seen)
        return int(seen)

    def predict(self, loader):
        """(outputs as float32, targets) for every item of an evaluation loader."""
        self.model.eval()
        outputs, targets = [torch.zeros((0, len(self.classes)))], [self.task.empty_targets()]
        with torch.no_grad(), self.progress(" validation", len(loader)) as shown:
            for images, labels in loader:
                with torch.autocast(device_type=self.device.type, enabled=self.amp):
                    logits = self.model(images.to(self.device, non_blocking=True))
                outputs.append(logits.float().cpu())
                targets.append(labels)
                shown.update(items=int(labels.shape[0]))
        return torch.cat(outputs), torch.cat(targets)

    def evaluate(self):
        """(report, loss) over the whole validation set: each rank predicts its share, all gather.

        The shares are consecutive slices of the validation set, gathered in rank order: the rows
        come back in the set's order.
        """
        outputs, targets = self.predict(self.val_loader)
        losses = self.task.criterion("none")(outputs, targets)
        if losses.ndim > 1:   # one loss per output (a regression's coordinates): summed per item
            losses = losses.sum(1)
        rows = self.processes.gather(zip(targets.tolist(), self.task.compact(outputs), losses.tolist()))
        report = self.task.report([row[1] for row in rows], [row[0] for row in rows])
        return report, float(np.mean([row[2] for row in rows])) if rows else float("nan")

    def evaluate_views(self, views):
        """The validation report with test-time augmentation: edge.tasks.tta's `views` of each image through the
        model, averaged back as the task does it on the device (a classifier's probabilities; a regression's
        points, each brought back through its view's inverse first), as edge-predict --tta does. The model sees
        batches no larger than the validation loader's; each rank evaluates its share, all gather."""
        self.model.eval()
        pairs = []
        with torch.no_grad():
            for images, labels in self.val_loader:
                if not len(labels):
                    continue
                expanded = torch.from_numpy(views.expand(images.numpy()))
                outputs = []
                for part in torch.split(expanded, len(labels)):
                    with torch.autocast(device_type=self.device.type, enabled=self.amp):
                        outputs.append(self.model(part.to(self.device, non_blocking=True)).float().cpu())
                averaged = self.task.mean_over_views(torch.cat(outputs), views)
                pairs.extend(zip(labels.tolist(), self.task.compact(averaged)))
        rows = self.processes.gather(pairs)
        return self.task.report([row[1] for row in rows], [row[0] for row in rows])

    def end_epoch(self, train_loss, train_figure, val_loss, report):
        extras = self.task.record_extras(report)
        report = dict((key, value) for key, value in report.items() if key != "points")
        row = {"epoch": self.epoch + 1, "phase": self.phase.name, "train_loss": train_loss, "val_loss": val_loss,
               "lr": self.head_lr()}
        row.update(self.task.history(train_figure, report))
        self.history.append(row)
        score = self.task.score(report, val_loss)
        improved = self.best is None or score > self.best
        train_text, val_text = self.task.epoch_text(train_figure, report)
        self.log("epoch {:>3}/{}  train loss {:.4f} {}  val loss {:.4f} {}{}".format(
            self.epoch + 1, self.config["epochs"], train_loss, train_text, val_loss, val_text,
            "  * best" if improved else ""))
        warning = None if self.warned_small_set else self.task.warning(report)
        if warning:
            self.log(warning)
            self.warned_small_set = True
        if improved:
            self.best, self.best_epoch, self.bad_epochs = score, self.epoch + 1, 0
        elif self.annealed_half_way():
            self.bad_epochs += 1
        if self.processes.is_main:
            metrics = {"val": report, "val_loss": val_loss, "epoch": self.epoch + 1}
            record = model_record(self.model, self.config["arch"], self.classes, self.spec, metrics=metrics,
                                  epoch=self.epoch + 1, config=self.config, targets=self.targets)
            record.update(extras)
            if improved:
                save_checkpoint(os.path.join(self.run_dir, BEST), record)
            self.save_epoch_checkpoint(record)
            write_history_csv(self.history, os.path.join(self.run_dir, "history.csv"),  # follow a long run
                              self.task.history_columns)
        self.epoch += 1
        self.position = 0
        self.running = [0.0, 0, 0]
        if self.processes.is_main:
            save_checkpoint(os.path.join(self.run_dir, LAST), self.state_record())

    def stop_mid_epoch(self, why):
        """Rank 0 saves the exact position (the other ranks hold the same state); all stop."""
        path = os.path.join(self.run_dir, LAST)
        if not self.processes.is_main:
            raise EdgeError("rank {}: {} in epoch {}; rank 0 saves the resumable state".format(
                self.processes.rank, why, self.epoch + 1))
        with interrupts_held():
            save_checkpoint(path, self.state_record())
        raise EdgeError("{} in epoch {} after {} of {} images; resumable state saved: edge-train --resume {}".format(
            why, self.epoch + 1, self.position, self.train_sampler.size, path))

    @property
    def targets(self):
        """What the task records of its outputs in the checkpoints (a regression's RegressionTargets; None for a
        classifier)."""
        return self.task.targets

    def head_lr(self):
        """The head's learning rate where the epoch ended (traces the one-cycle schedule)."""
        return float(self.optimizer.param_groups[-1]["lr"])

    def save_epoch_checkpoint(self, record):
        folder = os.path.join(self.run_dir, EPOCH_DIR)
        save_checkpoint(os.path.join(folder, "epoch-{:03d}.pt".format(self.epoch + 1)), record)
        keep = int(self.config["keep_epochs"])
        if keep > 0:
            names = sorted(n for n in os.listdir(folder) if n.startswith("epoch-") and n.endswith(".pt"))
            for name in names[:-keep]:
                os.unlink(os.path.join(folder, name))

    def annealed_half_way(self):
        """True when the epoch in progress ends past the middle of its phase's annealing (cosine: the
        learning rate is below half its peak from there)."""
        done = float(self.epoch + 1 - self.phase.first_epoch) / self.phase.epochs
        return done >= self.warm_up + (1 - self.warm_up) / 2

    def should_stop(self):
        patience = int(self.config["patience"])
        return patience > 0 and self.bad_epochs >= patience

    # ----- resumable state ----------------------------------------------------------------------
    def state_record(self):
        record = model_record(self.model, self.config["arch"], self.classes, self.spec,
                              epoch=self.epoch, config=self.config, targets=self.targets)
        record.update({
            "kind": "train-state",
            "phase": self.phase.name if self.phase else None,
            "position": self.position,
            "running": list(self.running),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "history": self.history,
            "best": list(self.best) if self.best else None,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            # Augmentation draws from per-sample seeds (SeededSampler); torch's generator is the rest.
            "rng": {"torch": torch.get_rng_state()},
            "versions": versions(),
            "processes": self.processes.describe(),  # informative: --resume works with any number
        })
        return record

    def restore(self, state):
        """Continue from a train-state record (the model weights are already loaded)."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.running = list(state["running"])
        self.history = list(state["history"])
        self.best = tuple(state["best"]) if state["best"] else None
        self.best_epoch, self.bad_epochs = state["best_epoch"], int(state["bad_epochs"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.epoch >= int(self.config["epochs"]):
            return
        phase = self.phase_of(self.epoch)
        self.enter_phase(phase)
        # The saved optimizer/scheduler belong to the phase in progress when the state was saved;
        # at a phase boundary (epoch just finished was the last of the head phase) start fresh.
        if state["phase"] == phase.name and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
