"""Statistics over runs and tasks: the protocol of Agarwal et al. (2021, "Deep RL at the Edge of the
Statistical Precipice"), computed with scipy.stats.

A study's scores for one setting are a list of 1-D arrays, one per task (env or dataset), each holding
that task's runs (seeds). Aggregates pool every run of every task: the mean, the median, or the
interquartile mean (IQM: the mean of the middle 50 %, ``scipy.stats.trim_mean(x, 0.25)``). Intervals
are percentile bootstrap intervals from ``scipy.stats.bootstrap`` with the runs of each task resampled
within that task (stratified: runs never move between tasks). The probability of improvement
P(X > Y) is the Mann-Whitney form, P(x > y) + P(x = y) / 2 over all pairs of runs, averaged over tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AGGREGATES", "Interval", "aggregate_interval", "bootstrap_interval", "iqm", "performance_profile",
           "probability_of_improvement", "probability_of_improvement_interval"]

Scores = Sequence[np.ndarray]  # one 1-D array of run scores per task


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50 % of ``x`` along ``axis``."""
    from scipy import stats  # here, not at the top: scipy.stats takes most of a second to import, and every
    # rlgan-ls command (every sweep cell) builds the command line, which imports this module

    return np.asarray(stats.trim_mean(x, 0.25, axis=axis))


AGGREGATES: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median, "iqm": iqm}


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval, and the number of runs behind it."""

    point: float
    low: float
    high: float
    n: int
    """Runs behind the estimate (all tasks); the interval is NaN when a task has fewer than 2."""


def _check(scores: Scores) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("every task needs at least one run")
    if any(not np.isfinite(a).all() for a in arrays):
        raise ValueError("scores must be finite (drop runs with a missing metric first)")
    return arrays


def bootstrap_interval(samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray], reps: int = 2000,
                       seed: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
    """Percentile bootstrap interval ``(low, high)`` of a vectorized ``statistic`` of ``samples``, each
    resampled on its own along its last axis (stratified); None without replicates or with a sample of
    fewer than 2 values."""
    if reps < 1 or min(a.shape[-1] for a in samples) < 2:
        return None
    from scipy import stats

    result = stats.bootstrap(samples, statistic, n_resamples=reps, vectorized=True, paired=False, axis=-1,
                             confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    return np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)


def _interval(point: float, ci: tuple[np.ndarray, np.ndarray] | None, n: int) -> Interval:
    return Interval(point, float(ci[0]), float(ci[1]), n) if ci else Interval(point, math.nan, math.nan, n)


def aggregate_interval(scores: Scores, aggregate: str = "iqm", reps: int = 2000, seed: int = 0,
                       level: float = 0.95) -> Interval:
    """``aggregate`` (mean, median or iqm) of all runs, with a stratified bootstrap interval."""
    arrays, fn = _check(scores), AGGREGATES[aggregate]

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return fn(np.concatenate(samples, axis=axis), axis=axis)

    ci = bootstrap_interval(arrays, statistic, reps, seed, level)
    return _interval(float(statistic(*arrays)), ci, sum(a.size for a in arrays))


def _poi(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over tasks of P(x > y) + P(x = y) / 2; leading axes of the arrays are batch axes."""
    per_task = [((x[..., :, None] > y[..., None, :]) + 0.5 * (x[..., :, None] == y[..., None, :])).mean((-2, -1))
                for x, y in zip(xs, ys)]
    return np.mean(per_task, axis=0)


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y): how often a run of X beats a run of Y on the same task, averaged over tasks."""
    xs, ys = _check(x), _check(y)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must cover the same tasks, got {len(xs)} and {len(ys)}")
    return float(_poi(xs, ys))


def probability_of_improvement_interval(x: Scores, y: Scores, reps: int = 2000, seed: int = 0,
                                        level: float = 0.95) -> Interval:
    """P(X > Y) with a bootstrap interval (the runs of X and of Y resampled within each task)."""
    xs, ys = _check(x), _check(y)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must cover the same tasks, got {len(xs)} and {len(ys)}")
    t = len(xs)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return _poi(samples[:t], samples[t:])

    ci = bootstrap_interval([*xs, *ys], statistic, reps, seed, level)
    return _interval(float(_poi(xs, ys)), ci, sum(a.size for a in xs) + sum(a.size for a in ys))


def performance_profile(scores: Scores, taus: np.ndarray, reps: int = 2000, seed: int = 0,
                        level: float = 0.95) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Fraction of runs scoring above each tau (each task weighted equally), ``(len(taus),)``, and its
    stratified bootstrap band ``(low, high)`` (None when a task has fewer than 2 runs)."""
    arrays = _check(scores)
    taus = np.asarray(taus, dtype=np.float64)

    def profile(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        # (..., n) samples -> (T, ...): per task the fraction above each tau, then the mean over tasks
        per_task = [(np.moveaxis(x, axis, -1)[..., None] > taus).mean(axis=-2) for x in samples]
        return np.moveaxis(np.mean(per_task, axis=0), -1, 0)

    return profile(*arrays), bootstrap_interval(arrays, profile, reps, seed, level)
