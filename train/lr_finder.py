"""Learning-rate range test (Smith 2015, as in fastai's lr_find).

Trains for a few iterations while the learning rate grows exponentially, records the smoothed
loss, and suggests the rate where the loss falls fastest. The model and optimizer are restored
afterwards, so the finder does not change the run.
"""

import copy
import math

import numpy as np
import torch


def suggest_lr(lrs, losses):
    """The learning rate at the steepest descent of the smoothed loss, before its minimum."""
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if len(lrs) < 5:
        return None
    stop = int(np.argmin(losses))
    if stop < 3:
        return None
    slopes = np.gradient(losses[:stop + 1], np.log10(lrs[:stop + 1]))
    return float(lrs[int(np.argmin(slopes))])


def find_lr(model, loader, criterion, device, trainable, start_lr=1e-6, end_lr=1.0, iterations=100,
            weight_decay=0.0, smoothing=0.9, log=print):
    """Run the range test; returns (lrs, smoothed losses, suggestion)."""
    saved_model = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(trainable, lr=start_lr, weight_decay=weight_decay)
    gamma = (end_lr / start_lr) ** (1.0 / max(1, iterations - 1))
    lrs, losses = [], []
    average, best = 0.0, float("inf")
    model.train()
    step = 0
    try:
        while step < iterations:
            for images, labels in loader:
                lr = start_lr * gamma ** step
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, labels = images.to(device), labels.to(device)
                loss = criterion(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = float(loss.item())
                average = smoothing * average + (1 - smoothing) * value
                smoothed = average / (1 - smoothing ** (step + 1))
                lrs.append(lr)
                losses.append(smoothed)
                best = min(best, smoothed)
                step += 1
                # Stop once the loss has clearly diverged.
                if step >= iterations or not math.isfinite(smoothed) or smoothed > 4 * best:
                    step = iterations
                    break
    finally:
        model.load_state_dict(saved_model)
    suggestion = suggest_lr(lrs, losses)
    log("lr finder: {} iterations from {:.1e} to {:.1e}; suggested lr {}".format(
        len(lrs), lrs[0] if lrs else start_lr, lrs[-1] if lrs else end_lr,
        "{:.2e}".format(suggestion) if suggestion else "none (loss never fell: check the data)"))
    return lrs, losses, suggestion
