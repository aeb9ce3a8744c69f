"""Data-parallel training under torchrun: the process group and the few collectives the trainer uses.

torchrun starts one process per GPU (or several on a CPU) and tells each its RANK, WORLD_SIZE and
LOCAL_RANK. With WORLD_SIZE > 1 the process joins the group (NCCL on CUDA, Gloo on CPU) and the
model is wrapped in DistributedDataParallel; otherwise every method here is the single-process
identity, so the trainer has one code path. Rank 0 alone writes files and prints.

--batch-size is the global batch: every optimizer step sees the same images, in the same order,
as a single-process run; each rank takes its slice (train/loaders.py). The loss of a slice is
weighted by its share of the global batch, so the averaged gradient is the single-process one.
"""

import contextlib
import os
import signal
import sys
import threading
from datetime import timedelta

import torch

from edge.errors import EdgeError, first_line
from train.config import CHOICES

# A rank waits at most this long for the others (a crashed peer, a stalled machine); then the
# collective fails instead of hanging. Long enough for rank 0 to write checkpoints meanwhile.
TIMEOUT = timedelta(minutes=15)
SYNC_BN_BELOW = 16  # --sync-bn auto: on under this many images per process (see README)
# Gloo reports a vanished peer as a plain RuntimeError; these words mark a failed collective.
PEER_FAILURE_WORDS = ("closed by peer", "connection reset", "timed out", "timeout", "gloo", "nccl")


class Processes(object):
    """This process's place in the training group: rank, world size, backend and device."""

    def __init__(self, rank=0, world_size=1, local_rank=0, backend=None, device=None):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.backend, self.device = backend, device

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1

    def describe(self):
        return {"world_size": self.world_size, "backend": self.backend}

    def sum(self, values):
        """Element-wise sum of a list of numbers over every rank."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, items):
        """Every rank's list of items, concatenated in rank order (picklable items)."""
        if not self.distributed:
            return list(items)
        parts = [None] * self.world_size
        torch.distributed.all_gather_object(parts, list(items))
        return [item for part in parts for item in part]

    def broadcast(self, value):
        """Rank 0's value, on every rank."""
        if not self.distributed:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_buffers(self, model):
        """Rank 0's buffers (BatchNorm statistics) into every rank's copy of the model."""
        if self.distributed:
            for buffer in model.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def wrap(self, model):
        """The model to train: DistributedDataParallel over `model` in a group, else `model`.

        Built again whenever the trainable parameters change (a frozen backbone thaws): DDP
        synchronises only the parameters that required gradients when it was built.
        """
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def peer_failure(self, exc):
        """A short reason when `exc` is a collective that failed because another rank went away."""
        text = str(exc).strip()
        if not self.distributed or not (isinstance(exc, torch.distributed.DistError)
                                        or any(word in text.lower() for word in PEER_FAILURE_WORDS)):
            return None
        first = first_line(exc, limit=None).split("] ", 1)[-1]  # no source location
        return first.split(". ")[0][:160]

    def shard(self, count):
        """The contiguous share [first, stop) of `count` items that this rank evaluates."""
        return share(count, self.rank, self.world_size)


def share(count, rank, world_size):
    """[first, stop) of rank `rank`'s contiguous share of `count` items split over `world_size` ranks."""
    return count * rank // world_size, count * (rank + 1) // world_size


def env_int(name, default):
    text = os.environ.get(name, "")
    try:
        return int(text) if text else default
    except ValueError:
        raise EdgeError("{}={!r} is not an integer (torchrun sets it)".format(name, text))


def join_group(device_name, pick_device):
    """Processes for this run: joins the group when torchrun started several processes.

    `pick_device(name)` turns a --device value into a torch.device (train/trainer.py).
    """
    world_size = env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return Processes(device=pick_device(device_name))
    rank, local_rank = env_int("RANK", 0), env_int("LOCAL_RANK", 0)
    if device_name.startswith("cuda:"):
        raise EdgeError("--device {} under torchrun: each process takes the GPU of its LOCAL_RANK; "
                        "use --device auto or cuda".format(device_name))
    device = pick_device(device_name)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise EdgeError("LOCAL_RANK {} but only {} GPU(s) here: --nproc_per_node must not exceed the "
                            "GPU count".format(local_rank, torch.cuda.device_count()))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, timeout=TIMEOUT)
    # torchrun stops the other workers with SIGTERM when one fails: treated as Ctrl-C, so rank 0
    # saves the position it reached instead of dying mid-step.
    signal.signal(signal.SIGTERM, raise_interrupt)
    if rank != 0:
        # Only rank 0 speaks: the same lines from every rank would only repeat it. Errors still
        # reach stderr from every rank.
        sys.stdout = open(os.devnull, "w")
    return Processes(rank, world_size, local_rank, backend, device)


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def leave_group(processes):
    if processes.distributed:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


@contextlib.contextmanager
def interrupts_held():
    """Ctrl-C reaches every process and torchrun sends it again: let a save that began finish."""
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(number, signal.SIG_IGN) for number in held]
    try:
        yield
    finally:
        for number, handler in zip(held, previous):
            signal.signal(number, handler)


def resolve_sync_bn(setting, per_process_batch, processes):
    """(use SyncBatchNorm, why) for --sync-bn auto/on/off."""
    if setting not in CHOICES["sync_bn"]:  # a resumed run's config.yaml was checked by an older version
        raise EdgeError("--sync-bn must be auto, on or off, got {!r}".format(setting))
    if not processes.distributed:
        return False, "one process"
    on_gpu = processes.device.type == "cuda"
    if setting == "on" and not on_gpu:
        raise EdgeError("--sync-bn on needs CUDA (PyTorch synchronises BatchNorm on GPUs only); "
                        "use --sync-bn off or auto on CPU")
    if setting != "auto":
        return setting == "on", "--sync-bn " + setting
    if not on_gpu:
        return False, "auto: PyTorch synchronises BatchNorm on GPUs only"
    if per_process_batch < SYNC_BN_BELOW:
        return True, "auto: {} images per process < {}".format(per_process_batch, SYNC_BN_BELOW)
    return False, "auto: {} images per process >= {}".format(per_process_batch, SYNC_BN_BELOW)
