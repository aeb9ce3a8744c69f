"""PyTorch datasets and loaders over `train.data.ImageFolder` and `PointFolder`, using edge's preprocessing.

Evaluation images go through exactly `edge.bundle.preprocess.preprocess`: the function the device runs.
Training images go through the same resize/crop and normalisation with augmentation in between.
Training batches are global batches (train/distributed.py): with several processes each one
loads its slice of every batch, so the order and the batches are those of one process.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from edge.errors import EdgeError
from edge.bundle.preprocess import normalize, read_image, resize_and_crop
from edge.tasks.points import image_to_input
from edge.tasks.points import normalize as normalize_points
from train.augment import augment, augment_points
from train.distributed import share
from train import tasks


class FolderDataset(Dataset):
    """Items are (index, augmentation seed) pairs from SeededSampler, or plain indices."""

    def __init__(self, folder, spec, augment_config=None):
        self.folder = folder
        self.spec = spec
        self.augment_config = augment_config

    def __len__(self):
        return len(self.folder.samples)

    def read(self, item):
        """(the sample, its image as read, the augmentation's random generator or None)."""
        index, seed = item if isinstance(item, tuple) else (item, None)
        sample = self.folder.samples[index]
        image = read_image(sample[0])
        if image is None:
            raise EdgeError("{} could not be read any more (changed during training?)".format(sample[0]))
        return sample, image, (np.random.default_rng(seed) if self.augment_config is not None else None)

    def __getitem__(self, item):
        (_, label), image, rng = self.read(item)
        image = resize_and_crop(image, self.spec)
        if rng is not None:
            image = augment(image, self.augment_config, rng)
        return torch.from_numpy(normalize(image, self.spec)), label


class PointDataset(FolderDataset):
    """Regression items: (image tensor, its targets in the model's units), targets moved by every augmentation.

    The points go through the same resize and crop as the pixels (edge.tasks.points.image_to_input),
    then the augmentation moves both together, then they are normalised to the model input.
    """

    def __getitem__(self, item):
        (_, values, _), image, rng = self.read(item)
        points = image_to_input(values, image.shape[:2], self.spec).reshape(-1, 2)
        image = resize_and_crop(image, self.spec)
        if rng is not None:
            image, points = augment_points(image, points, self.augment_config, rng)
        target = normalize_points(points.reshape(-1), self.spec).astype(np.float32)
        return torch.from_numpy(normalize(image, self.spec)), torch.from_numpy(target)


class SeededSampler(Sampler):
    """A seeded permutation per epoch, each index paired with its own augmentation seed.

    `start` skips the items already consumed, so a run interrupted mid-epoch resumes on exactly
    the batches it had not seen.
    """

    def __init__(self, size, seed, shuffle=True):
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch, start=0):
        self.epoch, self.start = epoch, start

    def __iter__(self):
        rng = np.random.RandomState([self.seed, self.epoch])
        order = rng.permutation(self.size) if self.shuffle else np.arange(self.size)
        seeds = rng.randint(0, 2 ** 31 - 1, size=self.size)
        for position in range(self.start, self.size):
            yield int(order[position]), int(seeds[position])

    def __len__(self):
        return self.size - self.start


class GlobalBatchSampler(Sampler):
    """Batches of a SeededSampler's order, each the slice of a global batch that `rank` trains on.

    The order, the seeds and the global batches do not depend on `world_size`, and `start` counts
    global items: a run interrupted mid-epoch resumes on the batches it had not seen, with any
    number of processes. A slice may be empty (a last batch smaller than the world).
    """

    def __init__(self, size, seed, batch_size, rank=0, world_size=1):
        self.items = SeededSampler(size, seed, shuffle=True)
        self.size, self.batch_size = size, batch_size
        self.rank, self.world_size = rank, world_size
        self.start = 0

    def set_epoch(self, epoch, start=0):
        self.items.set_epoch(epoch)
        self.start = start

    def global_batch(self, first):
        """How many items the global batch starting at position `first` holds."""
        return min(self.batch_size, self.size - first)

    def __iter__(self):
        items = list(self.items)
        for first in range(self.start, self.size, self.batch_size):
            count = self.global_batch(first)
            lower, upper = share(count, self.rank, self.world_size)
            yield items[first + lower:first + upper]

    def __len__(self):
        return -(-(self.size - self.start) // self.batch_size)


class SliceCollate(object):
    """default_collate, except that an empty slice becomes empty tensors of the right shape."""

    def __init__(self, spec, empty_targets):
        """empty_targets: the targets of an empty slice (the task's: no class labels, no rows of points)."""
        self.height, self.width = spec.size
        self.empty_targets = empty_targets

    def __call__(self, items):
        if items:
            return default_collate(items)
        return torch.zeros((0, 3, self.height, self.width)), self.empty_targets


def _worker_init(worker_id):
    # Each worker decodes one image at a time; OpenCV's own thread pool in every worker would
    # only fight the training threads for the same cores.
    import cv2
    cv2.setNumThreads(1)


def make_loader(folder, spec, batch_size, workers, augment_config=None, shuffle=False, seed=0,
                pin_memory=False, rank=0, world_size=1, task=None):
    """(loader, sampler). Shuffled: a GlobalBatchSampler (rank's slice of each global batch of
    `batch_size`); otherwise the folder in order, in batches of `batch_size`.

    task: the train.tasks task whose torch Dataset the folder becomes; default the one the folder names
    (FolderDataset for an ImageFolder, PointDataset for a PointFolder)."""
    task = task or tasks.named(folder.task)
    dataset = task.dataset(folder, spec, augment_config)
    common = dict(num_workers=workers, pin_memory=pin_memory, persistent_workers=workers > 0,
                  worker_init_fn=_worker_init if workers > 0 else None)
    if shuffle:
        sampler = GlobalBatchSampler(len(dataset), seed, batch_size, rank, world_size)
        collate = SliceCollate(spec, task.empty_batch_targets(folder))
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, **common), sampler
    sampler = SeededSampler(len(dataset), seed, shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False, **common), sampler
