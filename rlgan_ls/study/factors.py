"""A study with factors beside alpha and seed (``sweep --grid``, or ``compare --factor``): the answer per level.

Smoothing's promised outcomes are conditional, so a study of when it helps crosses alpha with a factor
that sets the regime (label noise, a demonstration budget, a discriminator's strength). Each level of
the factors is summarised on its own, as a study of its own (:func:`~rlgan_ls.study.summary.summarize`):
the IQM of every metric per alpha with its stratified bootstrap interval and P(alpha beats 0) *within the
level*. The report shows, per headline metric, alpha on the x-axis and one line per level with its band
(``levels.png``), a table per level, and ``summary.csv``/``runs.csv`` rows keyed by (factor levels, alpha).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import tags
from ..runs import Run
from .summary import STATS, Study, fmt, summarize, values_of

__all__ = ["level_of", "level_studies", "level_tables", "plot_levels", "write_level_tables"]


def level_of(run: Run, factors: Sequence[str]) -> str:
    """The run's level of the factors, as a label: ``label_noise=0.2, demos=500``."""
    return ", ".join(f"{f}={run.config.get(f)!r}".replace("'", "") for f in factors)


def level_studies(runs: Sequence[Run], factors: Sequence[str], reps: int) -> dict[str, tuple[Study, list[Run]]]:
    """One study per level of the factors, in the order of the levels' values."""
    def order(r: Run) -> tuple:
        return tuple((v is None, v if isinstance(v, (int, float)) else str(v)) for v in
                     (r.config.get(f) for f in factors))

    out: dict[str, tuple[Study, list[Run]]] = {}
    for run in sorted(runs, key=order):
        out.setdefault(level_of(run, factors), (None, []))[1].append(run)  # type: ignore[arg-type]
    kind = runs[0].kind
    return {level: (summarize(members, kind, reps), members) for level, (_, members) in out.items()}  # type: ignore[arg-type]


def plot_levels(levels: dict[str, tuple[Study, list[Run]]], out: Path) -> list[Path]:
    """``levels.png``: per headline metric, its IQM (tasks pooled where the scale allows) against alpha, one
    line per level with its interval as a band."""
    from .plots import _pyplot, _save

    first = next(iter(levels.values()))[0]
    metrics = [m for m in tags.INTERVALS[first.kind] if m in first.metrics]
    if not metrics:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), dpi=110, squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for i, (level, (study, _)) in enumerate(levels.items()):
            row = study.rows[-1] if m in tags.CROSS_TASK[study.kind] or len(study.tasks) == 1 else study.tasks[0]
            cells = [(a, study.cells[(row, a, m)].iqm) for a in study.alphas if (row, a, m) in study.cells]
            xs = [a for a, _ in cells]
            line, = ax.plot(xs, [c.point for _, c in cells], "o-", color=f"C{i}", label=level)
            if all(math.isfinite(c.low) for _, c in cells):
                ax.fill_between(xs, [c.low for _, c in cells], [c.high for _, c in cells], color=line.get_color(),
                                alpha=0.2, linewidth=0)
        ax.set_xlabel("α")
        ax.set_title(f"IQM {m} ({first.interval_name})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return [_save(fig, out / "levels.png")]


def level_tables(levels: dict[str, tuple[Study, list[Run]]]) -> str:
    """Per level: n, and for each headline metric the IQM [interval] and P(α beats 0) [interval], per α."""
    parts = []
    for level, (study, _) in levels.items():
        row = study.rows[-1]
        metrics = [m for m in tags.INTERVALS[study.kind] if m in study.metrics
                   and (row != "all" or m in tags.CROSS_TASK[study.kind])]
        head = " | ".join(f"IQM `{m}` | P(beats α = {study.baseline:g})" for m in metrics)
        lines = [f"**{level}** ({row if row != 'all' else 'tasks pooled'})", "", f"| α | n | {head} |",
                 "|---:|---:|" + "---:|---:|" * len(metrics)]
        for a in study.alphas:
            cells = [study.cells.get((row, a, m)) for m in metrics]
            n = max((c.n for c in cells if c is not None), default=0)
            vals = " | ".join(f"{fmt(c.iqm)} | {fmt(c.poi)}" if c else "– | –" for c in cells)
            lines.append(f"| {a:g} | {n} | {vals} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def write_level_tables(out: Path, levels: dict[str, tuple[Study, list[Run]]], factors: Sequence[str]) -> list[Path]:
    """``runs.csv`` and ``summary.csv`` with the factors' values in the leading columns; ``table.md``."""
    metrics = sorted({m for study, _ in levels.values() for m in study.metrics}, key=_order)
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", *factors, "task", "alpha", "seed", *metrics])
        for _, runs in levels.values():
            for r in sorted(runs, key=lambda r: (r.task, r.alpha, r.seed)):
                w.writerow([r.name, *(r.config.get(k) for k in factors), r.task, r.alpha, r.seed,
                            *(r.metrics.get(m, math.nan) for m in metrics)])
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*factors, "task", "alpha", *(f"{m}_{s}" for m in metrics for s in STATS)])
        for study, runs in levels.values():
            values: list[Any] = [runs[0].config.get(k) for k in factors]
            for task in study.rows:
                for a in study.alphas:
                    cells = [study.cells.get((task, a, m)) for m in metrics]
                    w.writerow([*values, task, a, *(v for c in cells for v in values_of(c))])
    (out / "table.md").write_text(level_tables(levels))
    return [out / "runs.csv", out / "summary.csv", out / "table.md"]


def _order(metric: str) -> int:
    every = [m for kind in tags.KINDS for m in tags.TABLE[kind]]
    return every.index(metric) if metric in every else len(every)
