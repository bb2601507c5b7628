"""Study statistics against closed forms and simulation: IQM, bootstrap coverage, probability of
improvement, stratification, performance profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from rlgan_ls.study.stats import (
    aggregate_interval,
    iqm,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_interval,
)


def test_iqm_is_the_mean_of_the_middle_half_by_hand():
    x = np.array([9.0, 1.0, 7.0, 3.0, 100.0, 5.0, 2.0, 8.0])  # sorted: 1 2 3 5 7 8 9 100
    assert iqm(x) == pytest.approx((3 + 5 + 7 + 8) / 4)
    y = np.arange(10.0)  # 10 runs: 2 trimmed from each end, the mean of 2..7
    assert iqm(y) == pytest.approx(np.mean([2, 3, 4, 5, 6, 7]))
    interval = aggregate_interval([x[:4], x[4:]], "iqm", reps=0)  # pooled over tasks
    assert interval.point == pytest.approx((3 + 5 + 7 + 8) / 4) and interval.n == 8 and math.isnan(interval.low)


def test_bootstrap_intervals_cover_the_true_mean_95_percent_of_the_time():
    # 400 simulated studies: the count of intervals that cover the true mean is Binomial(400, 0.95) for a
    # correct 95 % interval (mean 380, sd 4.4); the bounds are its 99.9 % range. A 90 % interval (360) or
    # an unstratified one would fall outside. (The percentile bootstrap of a mean of 60 runs is a little
    # short of its nominal level; scipy's own tests cover its arithmetic.)
    rng = np.random.default_rng(123)
    covered = 0
    for study in range(400):
        runs = rng.normal(1.0, 2.0, 60)
        ci = aggregate_interval([runs[:30], runs[30:]], "mean", reps=400, seed=study)
        covered += ci.low <= 1.0 <= ci.high
    assert 365 <= covered <= 394, covered


def test_probability_of_improvement_matches_the_normal_closed_form():
    shift, n = 0.5, 2000
    quantiles = st.norm.ppf((np.arange(n) + 0.5) / n)  # evenly spread draws of N(0, 1), no sampling noise
    x, y = shift + quantiles, quantiles
    p = probability_of_improvement([x], [y])
    assert p == pytest.approx(st.norm.cdf(shift / math.sqrt(2)), abs=2e-3)  # P(X - Y > 0), X - Y ~ N(shift, 2)
    rng = np.random.default_rng(0)
    x, y = rng.normal(shift, 1.0, 500), rng.normal(0.0, 1.0, 500)
    u = st.mannwhitneyu(x, y).statistic  # its U statistic counts the same pairs
    assert probability_of_improvement([x], [y]) == pytest.approx(u / 500**2)
    ties = probability_of_improvement([np.array([1.0, 2.0])], [np.array([1.0, 1.0])])
    assert ties == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)  # a tie counts one half
    ci = probability_of_improvement_interval([x[:40]], [y[:40]], reps=500)
    assert ci.low < ci.point < ci.high and ci.n == 80


def test_resampling_is_stratified_by_task():
    # Task A always scores 0 and task B 10, four runs each. Stratified resampling keeps four runs per
    # task, so the pooled mean is 5 in every replicate; pooling the runs first would move it.
    a, b = np.zeros(4), np.full(4, 10.0)
    ci = aggregate_interval([a, b], "mean", reps=500)
    assert ci.point == ci.low == ci.high == 5.0
    pooled = aggregate_interval([np.concatenate([a, b])], "mean", reps=500)
    assert pooled.high - pooled.low > 4.0  # the unstratified interval is wide
    # Probability of improvement per task: X wins task A and loses task B, whatever their pooled ranks.
    assert probability_of_improvement([np.array([1.0]), np.array([10.0])],
                                      [np.array([0.0]), np.array([11.0])]) == 0.5


def test_performance_profile_and_degenerate_studies():
    taus = np.array([0.0, 0.5, 1.0])
    fraction, band = performance_profile([np.array([0.2, 0.6, 1.2, 0.8]), np.array([0.1, 0.9])], taus, reps=300)
    np.testing.assert_allclose(fraction, [(1.0 + 1.0) / 2, (0.75 + 0.5) / 2, (0.25 + 0.0) / 2])
    assert band is not None and (band[0] <= fraction).all() and (fraction <= band[1]).all()
    one_seed = aggregate_interval([np.array([0.7])], "iqm")
    assert one_seed.point == 0.7 and one_seed.n == 1 and math.isnan(one_seed.low) and math.isnan(one_seed.high)
    assert performance_profile([np.array([0.7])], taus)[1] is None
    with pytest.raises(ValueError, match="finite"):
        aggregate_interval([np.array([0.5, math.nan])])
