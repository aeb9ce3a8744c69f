"""The learning-rate suggestion on synthetic range-test curves (no training: pure numpy)."""

import numpy as np
import pytest

from train.lr_finder import BASIN, longest_valley, lr_candidates, suggest_lr

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


def test_a_u_shaped_curve_gets_the_edge_of_its_basin_not_the_first_value():
    losses = 0.2 + 0.05 * (np.log10(LRS) + 2) ** 2          # lowest at 1e-2, steepest at the very start
    found = lr_candidates(LRS, losses)
    assert found["candidates"]["descent end"] == pytest.approx(LRS[66])
    assert found["candidates"]["minimum/10"] == pytest.approx(LRS[66] / 10)
    assert 1e-4 < found["candidates"]["valley"] < 1e-3        # the middle of the descent, plotted only
    # The loss fell from 0.78 (the median of the curve's first points) to 0.2: the basin ends where it
    # is 5% of that fall (0.029) above the floor, (log10 lr + 2)^2 <= 0.58, at index 78.
    ceiling = losses[66] + BASIN * (np.median(losses[10:15]) - losses[66])
    assert losses[78] <= ceiling < losses[79]
    assert found["rule"] == "basin edge" and found["suggestion"] == pytest.approx(LRS[78])
    assert set(found["points"]) == {"basin edge", "descent end", "valley", "minimum/10", "steep"}


# Recorded by edge-train --find-lr (seed 0, batch 8, 64 px) on 3 classes of 40 drawn shapes
# (benchmarks/small_data.py), from 1e-6 until it diverged: 73 smoothed losses.
RECORDED = [1.1545, 1.1591, 1.1369, 1.1759, 1.1915, 1.1664, 1.1545, 1.121, 1.1584, 1.1456, 1.1588, 1.1438,
            1.1488, 1.1365, 1.1455, 1.1272, 1.1127, 1.0944, 1.0945, 1.0905, 1.0683, 1.0505, 1.0235, 1.0364,
            1.0147, 0.9981, 0.9707, 0.9546, 0.9241, 0.8997, 0.8656, 0.8311, 0.7981, 0.7698, 0.7406, 0.7112,
            0.6784, 0.655, 0.6384, 0.6127, 0.5816, 0.5559, 0.531, 0.5095, 0.4919, 0.4744, 0.4591, 0.4453,
            0.4318, 0.4201, 0.4201, 0.4094, 0.4122, 0.43, 0.4206, 0.4438, 0.4903, 0.6204, 0.8118, 0.8649,
            0.9945, 0.9831, 1.053, 1.0584, 1.0621, 1.0883, 1.2318, 1.1879, 1.4628, 1.5685, 1.5986, 1.6159, 1.7223]


def test_a_range_test_that_memorises_its_images_gets_the_rate_where_the_loss_starts_to_rise():
    # The loss falls from the first rates (the model memorises 120 images), stays within 0.41-0.44
    # from 1.1e-3 to 2.2e-3 (its basin: 5% of the fall from 1.155 is 0.037), and is 0.49 at 2.5e-3.
    # One-cycle training peaking at the descent's end (1.2e-3) reached 0.992 validation accuracy;
    # at the basin's edge (2.15e-3) and at the default 2e-3, 1.000.
    found = lr_candidates(LRS[:len(RECORDED)], RECORDED)
    assert found["candidates"]["descent end"] == pytest.approx(LRS[51])     # 1.23e-3, the lowest point
    assert found["rule"] == "basin edge" and found["suggestion"] == pytest.approx(LRS[55])   # 2.15e-3
    assert "starts to rise" in found["note"]


def test_a_floor_that_never_turns_up_before_the_range_ends_gets_the_descent_end():
    losses = np.concatenate([np.linspace(1.0, 0.3, 60), np.full(40, 0.3)])   # flat to the last point kept
    found = lr_candidates(LRS, losses)
    assert found["candidates"]["basin edge"] == pytest.approx(LRS[94])      # the last point before SKIP_END
    assert found["rule"] == "descent end" and found["suggestion"] == pytest.approx(LRS[59])
    assert "never turned up" in found["note"]


def test_a_noisy_start_does_not_pull_the_suggestion_to_the_start_of_the_range():
    raw = falling(LRS)
    raw[:12] += np.array([0.9, -0.4, 0.8, -0.3, 0.6, -0.4, 0.5, -0.3, 0.4, -0.2, 0.3, -0.2])  # first batches
    losses = smoothed(raw)
    suggestion = suggest_lr(LRS, losses)
    # The loss falls from about 1e-4 to 1e-2, stays low, and diverges from 3e-2: the suggestion
    # lies where it starts to rise (the smoothing lags a divergence by a few iterations).
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
