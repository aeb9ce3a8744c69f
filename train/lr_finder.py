"""Learning-rate range test (Smith 2015, as in fastai's lr_find).

Trains for a few iterations while the learning rate grows exponentially, records the smoothed
loss, and suggests a rate from the curve. The model and optimizer are restored afterwards, so the
finder does not change the run.

The suggestion is the basin's edge: the largest rate, past the end of the longest descent, at
which the smoothed loss is still within 5% of its fall (from the start of the curve down to the
descent's end) above that lowest level. That is where the loss starts to rise, Smith's choice of
the peak rate for a cyclical or one-cycle schedule (which is how edge-train uses it). The
descent is as long as the curve's longest decreasing subsequence, so small bumps do not cut it.
The descent's end, fastai's "valley" (the middle of that descent), "minimum/10" and "steep" (the
steepest descent) are computed beside it and plotted.

Why not the lowest point or the valley: on 20-100 images a class the range test's 100 iterations
are 10-50 passes over the data, so the loss falls from the very first rates because the model
memorises its images, and the floor of the curve is flat and noisy. The valley (two thirds along
the descent, 1.3e-4, this finder's first rule) trained worse than the default 2e-3: 2 classes of
20 drawn shapes, 64 px, seeds 0 and 1, validation accuracy 0.86 and 0.86 against 0.90 and 0.93.
The descent's end (0.7-1.4e-3 on 2 and 3 classes of 20 and 40, this finder's second rule) trained
below the default on 5 runs of 8 (by 1-9 validation images of 80-120), with the loss on those
curves still in its basin at 2e-3. The basin's edge (1.2-3.3e-3 there) against the default, 12
runs on the same sets with seeds 0-2: better on 3, equal on 6, worse on 3, a mean of +0.8 points
(the README's small-dataset section has the table). A plausible reason the edge suits a one-cycle
peak: the schedule warms up to its peak and leaves it at once, where the range test's rate keeps
climbing.

As in fastai, the first tenth of the curve (the smoothing is still noisy there) and the last
points (divergence) are left out. A basin that reaches the end of what is left (the loss never
turned up) gives the descent's end instead. A descent that ends within the first or last few
points of what is left is not trusted: the suggestion falls back to the valley, then to
minimum/10, and says so. A curve that never falls clearly gets no suggestion at all.
"""

import copy
import math

import numpy as np
import torch

from edge.util.progress import Progress

SKIP_END = 5                # last points left out: the loss is diverging there
EDGE = 3                    # a point this close to either end of the curve is not trusted
MIN_DROP = 0.1              # the loss must fall by this fraction of its starting level
BASIN = 0.05                # the basin: within this fraction of the loss's fall above the descent's end


def longest_valley(losses):
    """(first, last) index of the longest descending stretch of `losses`.

    Its length is that of the longest strictly decreasing subsequence, so noise bumps on the way
    down do not cut it; it ends where that subsequence ends and is counted back from there (as
    fastai does), so one early spike cannot stretch it over a flat or rising region.
    """
    n = len(losses)
    length = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    last = int(np.argmax(length))  # the first to reach the longest
    return last - length[last] + 1, last


def basin_edge(losses, floor_index, level):
    """The last index from `floor_index` on whose loss stays within BASIN of the fall from `level` to
    losses[floor_index] above that floor: where the loss starts to rise."""
    ceiling = losses[floor_index] + BASIN * (level - losses[floor_index])
    edge = floor_index
    while edge + 1 < len(losses) and losses[edge + 1] <= ceiling:
        edge += 1
    return edge


def lr_candidates(lrs, losses):
    """Every candidate rate and the suggestion, as a JSON-ready dict.

    suggestion: the rate to use (None when the curve gives none), rule: "basin edge", "descent end",
    "valley" or "minimum/10" (or None), note: one line saying why, candidates: {name: rate or None},
    points: {name: [rate, smoothed loss there]} for the plot.
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    if not finite.all():
        lrs, losses = lrs[:int(np.argmin(finite))], losses[:int(np.argmin(finite))]
    result = {"suggestion": None, "rule": None, "note": "", "candidates": {}, "points": {}}
    start, stop = len(lrs) // 10, len(lrs) - SKIP_END
    if stop - start < 4 * EDGE:
        result["note"] = "too few points ({}) to suggest a learning rate".format(len(lrs))
        return result
    window, rates = losses[start:stop], lrs[start:stop]
    log_rates = np.log10(rates)

    def point(name, lr):
        result["candidates"][name] = float(lr)
        result["points"][name] = [float(lr), float(np.interp(np.log10(lr), np.log10(lrs), losses))]

    def trusted(index):
        return EDGE <= index < len(window) - EDGE

    lowest = int(np.argmin(window))
    if rates[lowest] / 10 >= lrs[0]:
        point("minimum/10", rates[lowest] / 10)
    point("steep", rates[int(np.argmin(np.gradient(window, log_rates)))])
    first, last = longest_valley(window)
    middle = (first + last) // 2
    point("valley", rates[middle])
    point("descent end", rates[last])
    level = float(np.median(window[:EDGE + 2]))
    edge = basin_edge(window, last, level)
    point("basin edge", rates[edge])

    span = "{} points of falling loss, {:.1e} to {:.1e}".format(last - first + 1, rates[first], rates[last])
    if level - window[lowest] < MIN_DROP * abs(level):
        result["note"] = "the loss never fell clearly (from {:.3f} to at best {:.3f}): no suggestion".format(
            level, window[lowest])
    elif trusted(last) and trusted(edge):
        result.update(suggestion=float(rates[edge]), rule="basin edge",
                      note="basin edge: the loss starts to rise after {}".format(span))
    elif trusted(last):
        result.update(suggestion=float(rates[last]), rule="descent end",
                      note="the loss never turned up before the range ends; descent end: " + span)
    elif trusted(middle):
        result.update(suggestion=float(rates[middle]), rule="valley",
                      note="the descent ends at the edge of the range ({:.1e}); its middle used instead ({})".format(
                          rates[last], span))
    elif "minimum/10" in result["candidates"]:
        result.update(suggestion=result["candidates"]["minimum/10"], rule="minimum/10",
                      note="the descent lies at the edge of the range ({:.1e}); minimum/10 used instead".format(
                          rates[middle]))
    else:
        result["note"] = "the descent lies at the edge of the range and the minimum too close to its start"
    return result


def suggest_lr(lrs, losses):
    """The suggested learning rate (see lr_candidates), or None."""
    return lr_candidates(lrs, losses)["suggestion"]


def find_lr(model, loader, criterion, device, trainable, start_lr=1e-6, end_lr=1.0, iterations=100,
            weight_decay=0.0, smoothing=0.9, log=print):
    """Run the range test; returns (lrs, smoothed losses, lr_candidates dict)."""
    saved_model = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(trainable, lr=start_lr, weight_decay=weight_decay)
    gamma = (end_lr / start_lr) ** (1.0 / max(1, iterations - 1))
    lrs, losses = [], []
    average, best = 0.0, float("inf")
    model.train()
    step = 0
    shown = Progress("lr finder", total=iterations, unit="step", items="img")
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
                shown.update(items=int(labels.shape[0]), lr="{:.1e}".format(lr), loss=smoothed)
                # Stop once the loss has clearly diverged.
                if step >= iterations or not math.isfinite(smoothed) or smoothed > 4 * best:
                    step = iterations
                    break
    finally:
        shown.close()
        model.load_state_dict(saved_model)
    found = lr_candidates(lrs, losses)
    log("lr finder: {} iterations from {:.1e} to {:.1e}; {}".format(
        len(lrs), lrs[0] if lrs else start_lr, lrs[-1] if lrs else end_lr, "  ".join(
            "{} {:.2e}".format(name, lr) for name, lr in sorted(found["candidates"].items()))))
    log("lr finder: {}{}".format(
        "suggested lr {:.2e} ({}); ".format(found["suggestion"], found["rule"]) if found["suggestion"] else "",
        found["note"]))
    return lrs, losses, found
