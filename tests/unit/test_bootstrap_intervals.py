"""Bootstrap intervals over test images, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from blipctl.eval.bootstrap import interval, paired_difference, redraws


def test_redraws_are_seeded_and_in_range():
    a, b, c = redraws(7, draws=50, seed=1), redraws(7, draws=50, seed=1), redraws(7, draws=50, seed=2)
    assert a.shape == (50, 7) and a.min() >= 0 and a.max() <= 6
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_interval_is_the_percentile_range_of_the_redrawn_means():
    draws = np.array([[0, 0], [1, 1], [0, 1], [1, 0], [0, 0]])  # means of [0, 10]: 0, 10, 5, 5, 0
    lo, hi = interval(np.array([0.0, 10.0]), draws, level=0.5)  # 25th and 75th percentiles
    assert (lo, hi) == pytest.approx((0.0, 5.0))
    assert interval(np.full(4, 3.0), redraws(4, 100)) == (3.0, 3.0)  # no spread, no interval


def test_paired_difference_cancels_what_both_models_share():
    # the per-image scores vary a lot, but b is a shifted by 1 on every image: the paired
    # interval is exactly 1, while each model's own interval is wide
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, 120)
    draws = redraws(120)
    d, lo, hi = paired_difference(a + 1, a, draws)
    assert d == pytest.approx(1) and lo == pytest.approx(1) and hi == pytest.approx(1)
    lo_a, hi_a = interval(a, draws)
    assert hi_a - lo_a > 5
    # opposite sign, half the images: a difference the interval cannot tell from 0
    d, lo, hi = paired_difference(np.tile([1.0, -1.0], 60), np.zeros(120), draws)
    assert d == 0 and lo < 0 < hi
