"""A study's final metrics, per task and alpha: aggregates with intervals, and the tables that hold them.

For every task, every alpha and every metric of the pipeline (:data:`rlgan_ls.tags.TABLE`): the number
of runs, the mean, the sample standard deviation, and the mean, median and IQM with stratified
bootstrap intervals (:mod:`rlgan_ls.stats`); for metrics with a direction (:data:`rlgan_ls.tags.BETTER`)
also the probability that a run at this alpha does better than one at the baseline alpha (0 when the
study has it). With several tasks, metrics on a common scale (:data:`rlgan_ls.tags.CROSS_TASK`) are
also pooled over tasks into rows whose task is ``all``. A run missing a metric is left out of that
metric's statistics, and ``n`` says how many runs each one rests on.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import tags
from ..runs import Run
from .stats import Interval, aggregate_interval, probability_of_improvement_interval

__all__ = ["ALL_TASKS", "STATS", "MetricSummary", "Study", "fmt", "summarize", "task_scores", "values_of",
           "write_tables"]

ALL_TASKS = "all"
_NAN = Interval(math.nan, math.nan, math.nan, 0)




@dataclass(frozen=True)
class MetricSummary:
    """One metric at one alpha on one task (or ``all`` tasks pooled)."""

    n: int
    std: float
    mean: Interval
    median: Interval
    iqm: Interval
    poi: Interval
    """P(a run at this alpha beats one at the baseline); NaN without a direction or at the baseline."""


@dataclass
class Study:
    """Summaries keyed by (task, alpha, metric), with what the report needs to say about them."""

    kind: tags.Kind
    tasks: list[str]
    alphas: list[float]
    baseline: float
    metrics: list[str]
    cells: dict[tuple[str, float, str], MetricSummary] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    """metric -> runs without it."""
    reps: int = 2000
    """Bootstrap replicates behind each interval (0: no intervals)."""

    @property
    def interval_name(self) -> str:
        """How the report names its intervals, or says there are none."""
        return "95 % stratified bootstrap CI" if self.reps else "no intervals: --bootstrap 0"

    @property
    def rows(self) -> list[str]:
        """The task column's values, in order: each task, then ``all`` when several are pooled."""
        return [*self.tasks, ALL_TASKS] if len(self.tasks) > 1 else list(self.tasks)

    def min_runs(self) -> int:
        """The fewest runs behind any (task, alpha) of the study."""
        return min((c.n for (t, _, _), c in self.cells.items() if t != ALL_TASKS), default=0)


def task_scores(runs: Sequence[Run], tasks: Sequence[str], metric: str) -> list[np.ndarray]:
    """Per task, the finite values of ``metric`` (tasks without any left out): the input of :mod:`rlgan_ls.stats`."""
    by_task = [np.array([r.metrics[metric] for r in runs if r.task == t and _finite(r, metric)]) for t in tasks]
    return [s for s in by_task if s.size]


def _summary(scores: list[np.ndarray], base: list[np.ndarray] | None, direction: int, reps: int,
             seed: int) -> MetricSummary:
    pooled = np.concatenate(scores)
    poi = _NAN
    if base is not None and direction and len(base) == len(scores):
        poi = probability_of_improvement_interval([direction * s for s in scores], [direction * b for b in base],
                                                  reps, seed)
    mean, median, iqm = (aggregate_interval(scores, a, reps, seed) for a in ("mean", "median", "iqm"))
    return MetricSummary(pooled.size, statistics.stdev(pooled) if pooled.size > 1 else math.nan, mean, median, iqm,
                         poi)


def summarize(runs: Sequence[Run], kind: tags.Kind, reps: int = 2000, seed: int = 0) -> Study:
    """Every (task, alpha, metric) summary of a study's finished runs (see the module docstring)."""
    tasks = sorted({r.task for r in runs})
    alphas = sorted({r.alpha for r in runs})
    metrics = [m for m in tags.TABLE[kind] if any(m in r.metrics for r in runs)]
    study = Study(kind, tasks, alphas, 0.0 if 0.0 in alphas else alphas[0], metrics, reps=reps)
    for m in metrics:
        lacking = sorted(r.name for r in runs if not _finite(r, m))
        if lacking:
            study.missing[m] = lacking
    for task in study.rows:
        members = tasks if task == ALL_TASKS else [task]
        for m in metrics:
            if task == ALL_TASKS and m not in tags.CROSS_TASK[kind]:
                continue
            base = task_scores([r for r in runs if r.alpha == study.baseline], members, m)
            for a in alphas:
                scores = task_scores([r for r in runs if r.alpha == a], members, m)
                if scores:
                    study.cells[(task, a, m)] = _summary(scores, base if a != study.baseline else None,
                                                         tags.BETTER.get(m, 0), reps, seed)
    return study


def _finite(run: Run, metric: str) -> bool:
    return metric in run.metrics and math.isfinite(run.metrics[metric])


STATS = ("n", "std", "mean", "mean_lo", "mean_hi", "median", "median_lo", "median_hi", "iqm", "iqm_lo", "iqm_hi",
          "poi", "poi_lo", "poi_hi")


def values_of(c: MetricSummary | None) -> list[float]:
    if c is None:
        return [0, *([math.nan] * (len(STATS) - 1))]
    return [c.n, c.std, *(v for i in (c.mean, c.median, c.iqm, c.poi) for v in (i.point, i.low, i.high))]


def write_tables(out: Path, study: Study, runs: Sequence[Run]) -> list[Path]:
    """``runs.csv`` (every run's final metrics), ``summary.csv`` (every statistic) and ``table.md``."""
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "task", "alpha", "seed", *study.metrics])
        for r in sorted(runs, key=lambda r: (r.task, r.alpha, r.seed)):
            w.writerow([r.name, r.task, r.alpha, r.seed, *(r.metrics.get(m, math.nan) for m in study.metrics)])
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "alpha", *(f"{m}_{s}" for m in study.metrics for s in STATS)])
        for task in study.rows:
            for a in study.alphas:
                w.writerow([task, a, *(v for m in study.metrics for v in values_of(study.cells.get((task, a, m))))])
    (out / "table.md").write_text(markdown_table(study))
    return [out / "runs.csv", out / "summary.csv", out / "table.md"]


def fmt(i: Interval) -> str:
    if math.isnan(i.point):
        return "–"
    return f"{i.point:.3g} [{i.low:.3g}, {i.high:.3g}]" if math.isfinite(i.low) else f"{i.point:.3g}"


def markdown_table(study: Study) -> str:
    """IQM [95 % CI] per task, alpha and metric, with n, as a Markdown table."""
    header = "| task | α | n | " + " | ".join(f"`{m}`" for m in study.metrics) + " |"
    lines = [header, "|---|---:|---:|" + "---:|" * len(study.metrics)]
    for task in study.rows:
        for a in study.alphas:
            cells = [study.cells.get((task, a, m)) for m in study.metrics]
            n = max((c.n for c in cells if c is not None), default=0)
            lines.append(f"| {task} | {a:g} | {n} | " + " | ".join(fmt(c.iqm) if c else "–" for c in cells) + " |")
    return "\n".join(lines) + "\n"
