"""The report's figures, written as PNG files with matplotlib's file-only Agg backend.

- ``intervals.png``: per headline metric, the IQM of each alpha with its 95 % stratified bootstrap
  interval (the layout rliable popularised).
- ``improvement.png``: per metric with a direction, P(a run at alpha beats one at the baseline) with
  its interval; 0.5 is no difference.
- ``profile.png`` (distillation): the fraction of runs whose normalized return exceeds tau, per alpha.
- ``calibration.png`` (distillation): the students' reliability diagram per alpha, pooled over runs: mean
  confidence against the teacher's probability of the same action (or agreement with a hard teacher).
- ``<tag>.png``: curves over training, mean over runs with a bootstrap 95 % band, one panel per task.
- ``samples.png`` (GANs): the final sample grid of each alpha side by side.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .. import tags
from ..runs import Run
from ..storage import read_json
from .stats import bootstrap_interval, performance_profile
from .summary import ALL_TASKS, Study, task_scores

__all__ = ["plot_calibration", "plot_curves", "plot_improvement", "plot_intervals", "plot_profile", "plot_samples",
           "pooled_reliability", "shown_runs"]

R = TypeVar("R", bound=Run)


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (reports are written on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _headline(study: Study) -> list[tuple[str, str]]:
    """(metric, task row) pairs to plot: pooled over tasks where the metric allows it, else the only task."""
    row = study.rows[-1]  # "all" when several tasks, else the task
    return [(m, row) for m in tags.INTERVALS[study.kind]
            if m in study.metrics and (row != ALL_TASKS or m in tags.CROSS_TASK[study.kind])]


def _bars(study: Study, out: Path, name: str, which: str, title: str) -> list[Path]:
    picks = [(m, row) for m, row in _headline(study) if which == "iqm" or tags.BETTER.get(m)]
    alphas = [a for a in study.alphas if which == "iqm" or a != study.baseline]
    if not picks or not alphas:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(picks), figsize=(3.4 * len(picks), 0.5 * len(alphas) + 1.4), dpi=110,
                             squeeze=False)
    for ax, (m, row) in zip(axes[0], picks):
        for y, a in enumerate(alphas):
            cell = study.cells.get((row, a, m))
            if cell is None:
                continue
            i = cell.iqm if which == "iqm" else cell.poi
            color = f"C{study.alphas.index(a)}"
            if math.isfinite(i.low):
                ax.plot([i.low, i.high], [y, y], color=color, linewidth=8, alpha=0.35, solid_capstyle="butt")
            ax.plot([i.point], [y], "|", color=color, markersize=16, markeredgewidth=2)
        if which == "poi":
            ax.axvline(0.5, color="grey", linestyle=":")
        ax.set_yticks(range(len(alphas)), [f"α = {a:g}" for a in alphas])
        ax.set_title(f"{m}" + ("" if row == study.tasks[0] and len(study.tasks) == 1 else f" ({row})"), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return [_save(fig, out / name)]


def plot_intervals(study: Study, out: Path) -> list[Path]:
    return _bars(study, out, "intervals.png", "iqm", f"IQM ({study.interval_name})")


def plot_improvement(study: Study, out: Path) -> list[Path]:
    return _bars(study, out, "improvement.png", "poi",
                 f"P(α beats α = {study.baseline:g}) ({study.interval_name})")


def plot_profile(study: Study, runs: Sequence[Run], out: Path, reps: int) -> list[Path]:
    metric = tags.NORMALIZED_RETURN
    if study.kind != "distill" or metric not in study.metrics:
        return []
    values = [r.metrics[metric] for r in runs if math.isfinite(r.metrics.get(metric, math.nan))]
    taus = np.linspace(min(0.0, min(values)), max(1.1, max(values)), 60)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for a in study.alphas:
        scores = task_scores([r for r in runs if r.alpha == a], study.tasks, metric)
        if not scores:
            continue
        frac, band = performance_profile(scores, taus, reps)
        line, = ax.plot(taus, frac, label=f"α = {a:g}")
        if band is not None:
            ax.fill_between(taus, band[0], band[1], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(f"τ ({metric}: teacher 1, random 0)")
    ax.set_ylabel("fraction of runs > τ")
    ax.set_title(f"performance profile ({'95 % stratified bootstrap band' if reps else 'no band: --bootstrap 0'})")
    ax.grid(alpha=0.3)
    ax.legend()
    return [_save(fig, out / "profile.png")]


def pooled_reliability(runs: Sequence[Run]) -> tuple[dict[float, np.ndarray], set[Any]]:
    """Per alpha, the ``(3, bins)`` sums count, confidence and target over the runs' ``calibration.json``
    (runs without one, or with a different binning, are left out), and what the targets were measured against."""
    pooled: dict[float, np.ndarray] = {}
    against: set[Any] = set()
    for r in runs:
        data = read_json(r.calibration_file) if r.calibration_file.is_file() else None
        if not isinstance(data, dict) or not {"count", "confidence", "target"} <= data.keys():
            continue
        count = np.asarray(data["count"], dtype=float)
        sums = np.stack([count, count * np.asarray(data["confidence"]), count * np.asarray(data["target"])])
        if r.alpha in pooled and pooled[r.alpha].shape != sums.shape:
            continue
        pooled[r.alpha] = pooled[r.alpha] + sums if r.alpha in pooled else sums
        against.add(data.get("against", "teacher"))
    return pooled, against


def plot_calibration(study: Study, runs: Sequence[Run], out: Path) -> list[Path]:
    """Each alpha's reliability diagram, every task and seed pooled (see :func:`pooled_reliability`)."""
    pooled, against = pooled_reliability(runs) if study.kind == "distill" else ({}, set())
    if study.kind != "distill" or not pooled:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    for a in sorted(pooled):
        count, conf, target = pooled[a]
        full = count > 0
        ax.plot(conf[full] / count[full], target[full] / count[full], marker="o", markersize=3, label=f"α = {a:g}")
    ax.set_xlabel("student confidence (top action)")
    names = {"teacher probability": "teacher's probability of that action", "teacher action": "agreement with teacher"}
    ax.set_ylabel(" / ".join(names.get(str(a), str(a)) for a in sorted(against, key=str)))
    ax.set_title("reliability: every task and seed pooled")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, out / "calibration.png")]


def _scalars(runs: Sequence[Run], names: Sequence[str]) -> Any:
    """One DataFrame of (tag, step, value, task, alpha, seed) from the event files, via tbparse."""
    import pandas as pd
    from tbparse import SummaryReader

    frames = []
    for r in runs:
        parts = [SummaryReader(str(f)).scalars for f in r.event_files()]  # the run's own files, not nested ones
        df = pd.concat(parts) if parts else pd.DataFrame()
        if df.empty:
            continue
        df = df[df["tag"].isin(names)].copy()
        df["task"], df["alpha"], df["seed"] = r.task, r.alpha, r.seed
        frames.append(df)
    return pd.concat(frames) if frames else None


def _mean_band(table: Any, reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step (columns), the mean over runs (rows) and its bootstrap 95 % interval (NaN with one run)."""
    values = table.to_numpy(dtype=np.float64).T  # (steps, runs)
    mean = values.mean(axis=-1)
    ci = bootstrap_interval([values], np.mean, reps)
    if ci is None:
        return mean, np.full_like(mean, math.nan), np.full_like(mean, math.nan)
    return mean, ci[0], ci[1]


def plot_curves(study: Study, runs: Sequence[Run], out: Path, reps: int) -> list[Path]:
    data = _scalars(runs, tags.CURVES[study.kind])
    if data is None:
        return []
    plt, files = _pyplot(), []
    for tag, per_tag in data.groupby("tag"):
        fig, axes = plt.subplots(1, len(study.tasks), figsize=(6 * len(study.tasks), 3.6), dpi=110, squeeze=False)
        for ax, task in zip(axes[0], study.tasks):
            for a in study.alphas:
                sel = per_tag[(per_tag["task"] == task) & (per_tag["alpha"] == a)]
                table = sel.pivot_table(index="seed", columns="step", values="value").dropna(axis=1)
                if table.empty:
                    continue
                mean, low, high = _mean_band(table, reps)
                line, = ax.plot(table.columns, mean, label=f"α = {a:g}", color=f"C{study.alphas.index(a)}")
                ax.fill_between(table.columns, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
            ax.set_xlabel("step")
            ax.set_ylabel(tag)
            if str(tag).startswith("grad_norm/"):  # a fading gradient spans decades
                ax.set_yscale("log")
            band = "95 % bootstrap band" if reps else "no band: --bootstrap 0"
            ax.set_title(f"{tag} on {task}: mean, {band}", fontsize=9)
            ax.grid(alpha=0.3)
            if ax.lines:  # a task may not log this tag
                ax.legend()
        files.append(_save(fig, out / f"{str(tag).replace('/', '_')}.png"))
    return files


def _last_image(run_dir: Path, tag: str) -> Any:
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={IMAGES: 1})  # keep only the latest image
    acc.Reload()
    if tag not in acc.Tags().get("images", []):
        return None
    return Image.open(io.BytesIO(acc.Images(tag)[-1].encoded_image_string)).convert("RGB")


def shown_runs(study: Study, runs: Sequence[R]) -> list[R]:
    """The run whose samples the report shows for each alpha: the first task's lowest seed."""
    first = [min((r for r in runs if r.alpha == a and r.task == study.tasks[0]), key=lambda r: r.seed, default=None)
             for a in study.alphas]
    return [r for r in first if r is not None]


def plot_samples(study: Study, runs: Sequence[Run], out: Path) -> list[Path]:
    picks = [(r.alpha, r.seed, img) for r in shown_runs(study, runs)
             if (img := _last_image(r.path, tags.SAMPLES)) is not None]
    if not picks:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.5), dpi=110, squeeze=False)
    for ax, (a, seed, img) in zip(axes[0], picks):
        ax.imshow(img)
        ax.set_title(f"α = {a:g} (seed {seed})")
        ax.axis("off")
    fig.suptitle(f"final samples from fixed noise ({study.tasks[0]})")
    return [_save(fig, out / "samples.png")]
