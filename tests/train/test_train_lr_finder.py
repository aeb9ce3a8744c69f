"""The learning-rate suggestion on synthetic range-test curves (no training: pure numpy)."""

import numpy as np
import pytest

from train.lr_finder import longest_valley, lr_candidates, suggest_lr

LRS = np.geomspace(1e-6, 1.0, 100)   # the finder's default range and iteration count


def smoothed(raw, beta=0.9):
    """The finder's bias-corrected moving average of the raw batch losses."""
    out, average = [], 0.0
    for step, value in enumerate(raw):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta ** (step + 1)))
    return np.array(out)


def falling(lrs, high=0.7, low=0.15, centre=1e-3, diverge=3e-2):
    """A typical range test: flat while the rate is too small, falling, then diverging."""
    x = np.log10(lrs)
    curve = low + (high - low) / (1 + np.exp(4 * (x - np.log10(centre))))
    return curve + np.where(lrs > diverge, 4.0 * (x - np.log10(diverge)) ** 2, 0.0)


def test_a_u_shaped_curve_gets_the_end_of_its_descent_not_the_first_value():
    losses = 0.2 + 0.05 * (np.log10(LRS) + 2) ** 2          # lowest at 1e-2, steepest at the very start
    found = lr_candidates(LRS, losses)
    assert found["rule"] == "descent end" and found["suggestion"] == pytest.approx(LRS[66])
    assert found["candidates"]["minimum/10"] == pytest.approx(LRS[66] / 10)
    assert 1e-4 < found["candidates"]["valley"] < 1e-3        # the middle of the descent, plotted only
    assert set(found["points"]) == {"descent end", "valley", "minimum/10", "steep"}


def test_a_range_test_that_memorises_its_images_gets_the_rate_where_the_loss_stops_falling():
    # As on 40 drawn shapes: the loss falls from the first rates (1e-5) to a floor at 1e-3, then
    # diverges from 2e-3. The middle of that descent (1e-4) trained worse than the rates near 1e-3.
    x = np.log10(LRS)
    losses = np.where(x < -3, 0.25 + 0.45 * (-3 - x) / 3, 0.25) + np.where(x > -2.7, 2.0 * (x + 2.7) ** 2, 0)
    suggestion = suggest_lr(LRS, smoothed(losses))
    assert 5e-4 < suggestion < 3e-3, suggestion


def test_a_noisy_start_does_not_pull_the_suggestion_to_the_start_of_the_range():
    raw = falling(LRS)
    raw[:12] += np.array([0.9, -0.4, 0.8, -0.3, 0.6, -0.4, 0.5, -0.3, 0.4, -0.2, 0.3, -0.2])  # first batches
    losses = smoothed(raw)
    suggestion = suggest_lr(LRS, losses)
    # The loss falls from about 1e-4 to 1e-2, stays low, and diverges from 3e-2: the suggestion
    # lies where it has stopped falling (the smoothing lags a divergence by a few iterations).
    assert 5e-3 < suggestion < 5e-2, suggestion


def test_a_noisy_range_test_curve_as_the_finder_records_it():
    rng = np.random.RandomState(3)
    raw = falling(LRS) + rng.normal(0, 0.15, size=LRS.size)
    losses = smoothed(raw)
    stop = int(np.argmax(losses > 4 * np.minimum.accumulate(losses))) or len(losses)  # the finder stops there
    suggestion = suggest_lr(LRS[:stop], losses[:stop])
    assert 5e-3 < suggestion < 5e-2, suggestion


def test_a_curve_that_never_falls_gets_no_suggestion():
    rng = np.random.RandomState(0)
    raw = 0.69 + rng.normal(0, 0.05, size=LRS.size) + np.where(LRS > 1e-2, 2 * np.log10(LRS / 1e-2) ** 2, 0)
    found = lr_candidates(LRS, smoothed(raw))
    assert suggest_lr(LRS, smoothed(raw)) is None
    assert found["rule"] is None and "never fell" in found["note"]


def test_a_valley_at_the_edge_of_the_range_falls_back_to_minimum_over_ten():
    # Slowly rising, then a sharp fall in the last points before the recording stops.
    losses = np.concatenate([np.linspace(1.0, 1.2, 92), [1.1, 0.9, 0.7, 0.5, 0.45, 0.44, 0.43, 0.42]])
    found = lr_candidates(LRS, losses)
    assert found["rule"] == "minimum/10" and "minimum/10 used instead" in found["note"]
    assert found["suggestion"] == pytest.approx(LRS[94] / 10)   # the lowest loss before the last 5 points


def test_a_descent_that_ends_at_the_edge_of_the_range_falls_back_to_its_middle():
    losses = np.linspace(1.0, 0.2, 100)          # still falling where the recording stops
    found = lr_candidates(LRS, losses)
    assert found["rule"] == "valley" and "its middle used instead" in found["note"]
    assert found["suggestion"] == pytest.approx(found["candidates"]["valley"])


def test_too_short_a_curve_and_diverged_values_give_no_suggestion():
    assert suggest_lr(LRS[:10], falling(LRS[:10])) is None
    losses = falling(LRS)
    losses[20:] = np.nan
    assert suggest_lr(LRS, losses) is None


def test_the_longest_valley_skips_small_bumps():
    losses = [5, 4, 4.5, 3, 3.2, 2, 1, 6, 0.5]
    assert longest_valley(losses) == (3, 8)          # 5, 4, 3, 2, 1, 0.5: six points down to the lowest
    assert longest_valley([1, 2, 3]) == (0, 0)
    assert longest_valley([9, 1, 1.1, 1.2, 1.3, 1.4, 1.0, 0.9]) == (4, 7)   # an early spike stretches nothing
