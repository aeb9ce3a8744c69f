"""Re-estimate BatchNorm running statistics for the current weights ("precise BN").

During training the running mean and variance are a moving average over the batches seen, each
computed with different weights. After few optimizer steps they do not match the weights, and the
validation loss jumps. Here they are recomputed from scratch: a cumulative average (momentum=None)
over a fixed set of training images with evaluation preprocessing (no augmentation), no gradients.
Only the BatchNorm buffers change; the pass is deterministic, so a resumed run stays exact.
"""

import numpy as np
import torch
from torch import nn


def batchnorm_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def sample_indices(count, limit, batch_size, seed):
    """A fixed random order of at most `limit` of `count` indices.

    Shuffled, not sorted: the images of a folder come class by class, and batches of one class
    would average within-class variances only (far too small: the validation loss explodes).
    Never ends on a 1-item batch (BatchNorm cannot take a batch of one 1x1 feature map).
    """
    order = np.random.RandomState(seed).permutation(count)[:limit]
    if len(order) > 1 and len(order) % batch_size == 1:
        order = order[:-1]
    return [int(i) for i in order]


def reestimate_batchnorm(model, loader, device, amp=False):
    """Replace every BatchNorm layer's running statistics by their average over `loader`."""
    layers = batchnorm_layers(model)
    if not layers:
        return
    was_training = model.training
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None            # cumulative average over the batches
    model.train()
    try:
        with torch.no_grad():
            for images, _ in loader:
                with torch.autocast(device_type=device.type, enabled=amp):
                    model(images.to(device, non_blocking=True))
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.train(was_training)
