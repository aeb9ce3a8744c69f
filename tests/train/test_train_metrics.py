"""Validation accuracy with its 95% Wilson interval, and the warning for a set too small to compare runs."""

import numpy as np
import pytest

from train.metrics import classification_report, small_set_warning, wilson_interval

Z = 1.96


@pytest.mark.parametrize("correct, total", [(39, 40), (40, 40), (0, 4), (357, 359), (13, 20)])
def test_wilson_bounds_are_the_roots_of_its_defining_equation(correct, total):
    """The bounds are where (p_hat - p)^2 = z^2 p (1 - p) / n: a quadratic in p, solved independently."""
    p_hat = correct / float(total)
    a, b, c = 1 + Z * Z / total, -(2 * p_hat + Z * Z / total), p_hat * p_hat
    low, high = sorted(np.roots([a, b, c]).real)
    assert wilson_interval(correct, total) == pytest.approx((max(0.0, low), min(1.0, high)), abs=1e-9)


def test_the_report_carries_the_interval_and_warns_on_small_sets():
    labels = np.array([0] * 20 + [1] * 20)
    predictions = labels.copy()
    predictions[0] = 1
    report = classification_report(labels, predictions, ["a", "b"])
    assert report["accuracy"] == 0.975 and report["accuracy_ci95"] == pytest.approx(list(wilson_interval(39, 40)))
    assert "40 validation images give accuracy +/-" in small_set_warning(report)
    big = classification_report(np.arange(2000) % 2, np.arange(2000) % 2, ["a", "b"])
    assert small_set_warning(big) is None
