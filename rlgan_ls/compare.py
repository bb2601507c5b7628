"""``rlgan-ls compare``: read a sweep's runs back and report what smoothing did.

Input: an experiment folder with one run directory per (alpha, seed) (``rlgan-ls sweep`` makes one;
any folder of runs works). Curves are read from the TensorBoard event files with tbparse and final
values from each run's ``metrics.json``. Output (default ``<experiment>/report/``):

- ``summary.csv`` and ``report.md``: final metrics per alpha, mean ± std over seeds;
- ``runs.csv``: final metrics per run;
- ``<tag>.png``: the curve per alpha, mean over seeds with a band of ± one standard deviation;
- ``samples.png`` (GANs): the final sample grid of each alpha side by side;
- ``tb_layout/``: a TensorBoard custom-scalars layout that puts each tag's curves for every run in
  one chart (the report folder sits inside the experiment, so ``tensorboard --logdir <experiment>``
  picks it up).

A run without ``config.json``/``metrics.json`` (missing, still running, or crashed) is reported and skipped.
The pipeline of a run is the ``kind`` its ``config.json`` names; tags come from :mod:`rlgan_ls.tags`. The GAN
table reports the run mean of ``grad_norm/generator`` (``grad_norm/generator_mean``), the headline.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import tags
from .errors import UsageError
from .runs import read_json

__all__ = ["Report", "RunRecord", "compare", "load_runs"]

@dataclass
class RunRecord:
    name: str
    path: Path
    kind: tags.Kind
    alpha: float
    seed: int
    metrics: dict[str, float]


@dataclass
class Report:
    out: Path
    kind: tags.Kind
    runs: list[RunRecord]
    skipped: list[tuple[str, str]]
    files: list[Path]


def load_runs(exp_dir: Path) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """Finished runs directly under ``exp_dir``, and (name, reason) for each skipped one."""
    runs: list[RunRecord] = []
    skipped: list[tuple[str, str]] = []
    expected: list[str] = []
    if (exp_dir / "sweep.json").is_file():
        expected = list(read_json(exp_dir / "sweep.json").get("cells", []))
    names = sorted({p.name for p in exp_dir.iterdir() if p.is_dir()} | set(expected))
    for name in names:
        path = exp_dir / name
        if not path.is_dir():
            skipped.append((name, "missing: the sweep has not run it"))
            continue
        has_events = any(path.glob("events.out.tfevents.*"))
        if not (path / "config.json").is_file():
            if has_events or name in expected:
                skipped.append((name, "no config.json: not an rlgan-ls run, or it died at start-up"))
            continue
        if not (path / "metrics.json").is_file():
            skipped.append((name, "unfinished: no metrics.json (still running, or it failed)"))
            continue
        config, metrics = read_json(path / "config.json"), read_json(path / "metrics.json")
        kind = config.get("kind")
        if kind not in tags.KINDS or "alpha" not in config or "seed" not in config:
            skipped.append((name, "config.json names no kind (distill or gan), alpha or seed; "
                                  "it was not written by this version of rlgan-ls"))
            continue
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        runs.append(RunRecord(name, path, kind, float(config["alpha"]), int(config["seed"]), numeric))
    return runs, skipped


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _by_alpha(runs: Sequence[RunRecord]) -> dict[float, list[RunRecord]]:
    groups: dict[float, list[RunRecord]] = {}
    for r in sorted(runs, key=lambda r: (r.alpha, r.seed)):
        groups.setdefault(r.alpha, []).append(r)
    return groups


def _write_tables(out: Path, kind: tags.Kind, runs: list[RunRecord]) -> list[Path]:
    names = [t for t in tags.TABLE[kind] if any(t in r.metrics for r in runs)]
    groups = _by_alpha(runs)
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "alpha", "seed", *names])
        for r in sorted(runs, key=lambda r: (r.alpha, r.seed)):
            w.writerow([r.name, r.alpha, r.seed, *(r.metrics.get(t, math.nan) for t in names)])
    rows = []
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["alpha", "n_seeds", *(f"{t}_{s}" for t in names for s in ("mean", "std"))])
        for alpha, members in groups.items():
            stats = [_mean_std([m.metrics.get(t, math.nan) for m in members]) for t in names]
            w.writerow([alpha, len(members), *(x for pair in stats for x in pair)])
            rows.append((alpha, len(members), stats))
    header = "| α | seeds | " + " | ".join(f"`{t}`" for t in names) + " |"
    lines = [header, "|" + "---:|" * (len(names) + 2)]
    for alpha, n, stats in rows:
        lines.append(f"| {alpha:g} | {n} | " + " | ".join(f"{m:.4g} ± {s:.2g}" for m, s in stats) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return [out / "runs.csv", out / "summary.csv", out / "table.md"]


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (reports are written on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(runs: list[RunRecord], names: Sequence[str]):
    """{tag: {alpha: DataFrame(step, mean, std)}} from the event files, via tbparse."""
    import pandas as pd
    from tbparse import SummaryReader

    frames = []
    for r in runs:
        df = SummaryReader(str(r.path)).scalars
        if df.empty:
            continue
        df = df[df["tag"].isin(names)].copy()
        df["alpha"], df["seed"] = r.alpha, r.seed
        frames.append(df)
    if not frames:
        return {}
    data = pd.concat(frames)
    curves: dict[str, dict[float, Any]] = {}
    for (tag, alpha), grp in data.groupby(["tag", "alpha"]):
        stats = grp.groupby("step")["value"].agg(["mean", "std"]).fillna(0.0).reset_index()
        curves.setdefault(tag, {})[alpha] = stats
    return curves


def _plot_curves(out: Path, kind: tags.Kind, runs: list[RunRecord]) -> list[Path]:
    plt = _pyplot()
    curves = _curves(runs, tags.CURVES[kind])
    files = []
    for tag in tags.CURVES[kind]:
        if tag not in curves:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
        for alpha, stats in sorted(curves[tag].items()):
            line, = ax.plot(stats["step"], stats["mean"], label=f"α = {alpha:g}")
            ax.fill_between(stats["step"], stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("step")
        ax.set_ylabel(tag)
        ax.set_title(f"{tag} (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / f"{tag.replace('/', '_')}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files


def _last_image(run_dir: Path, tag: str):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={IMAGES: 1})  # keep only the latest image
    acc.Reload()
    if tag not in acc.Tags().get("images", []):
        return None
    return Image.open(io.BytesIO(acc.Images(tag)[-1].encoded_image_string)).convert("RGB")


def _plot_samples(out: Path, runs: list[RunRecord]) -> list[Path]:
    plt = _pyplot()
    picks = []  # the lowest seed of each alpha
    for alpha, members in _by_alpha(runs).items():
        img = _last_image(members[0].path, tags.SAMPLES)
        if img is not None:
            picks.append((alpha, members[0].seed, img))
    if not picks:
        return []
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.5), dpi=110, squeeze=False)
    for ax, (alpha, seed, img) in zip(axes[0], picks):
        ax.imshow(img)
        ax.set_title(f"α = {alpha:g} (seed {seed})")
        ax.axis("off")
    fig.suptitle("final samples from fixed noise")
    fig.tight_layout()
    path = out / "samples.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


def _write_layout(out: Path, kind: tags.Kind) -> Path:
    """A custom-scalars layout: one chart per tag holding that tag's curve for every run."""
    from torch.utils.tensorboard import SummaryWriter

    layout_dir = out / "tb_layout"
    shutil.rmtree(layout_dir, ignore_errors=True)  # one layout, however often compare runs
    with SummaryWriter(str(layout_dir)) as w:
        w.add_custom_scalars({"label smoothing: curves of every α and seed":
                              {tag: ["Multiline", [f"^{tag}$"]] for tag in tags.LAYOUT[kind]}})
    return layout_dir


def compare(exp_dir: str | Path, out: str | Path | None = None) -> Report:
    exp = Path(exp_dir)
    if not exp.is_dir():
        raise UsageError(f"{exp_dir} is not a directory; pass the experiment folder a sweep wrote (its --logdir)")
    runs, skipped = load_runs(exp)
    if not runs:
        why = "; ".join(f"{n}: {r}" for n, r in skipped) or "no run directories"
        raise UsageError(f"{exp_dir}: no finished runs to compare ({why})")
    kinds = {r.kind for r in runs}
    if len(kinds) > 1:
        raise UsageError(f"{exp_dir} mixes distillation and GAN runs; compare one experiment at a time")
    kind = kinds.pop()
    out_dir = Path(out) if out is not None else exp / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _write_tables(out_dir, kind, runs)
    files += _plot_curves(out_dir, kind, runs)
    if kind == "gan":
        files += _plot_samples(out_dir, runs)
    files.append(_write_layout(out_dir, kind))
    _write_markdown(out_dir, exp, kind, runs, skipped, files)
    files.insert(0, out_dir / "report.md")
    return Report(out_dir, kind, runs, skipped, files)


def _write_markdown(out: Path, exp: Path, kind: tags.Kind, runs: list[RunRecord], skipped: list[tuple[str, str]],
                    files: list[Path]) -> None:
    title = "Policy distillation" if kind == "distill" else "DCGAN"
    seeds = sorted({r.seed for r in runs})
    parts = [f"# {title}: label smoothing comparison", "",
             f"Experiment `{exp.name}`: {len(runs)} finished runs, α ∈ "
             f"{{{', '.join(f'{a:g}' for a in sorted({r.alpha for r in runs}))}}}, seeds {seeds}.", "",
             "Final values per α (mean ± std over seeds):", "", (out / "table.md").read_text()]
    for f in files:
        if f.suffix == ".png":
            parts += [f"![{f.stem}]({f.name})", ""]
    if skipped:
        parts += ["Skipped runs:", ""] + [f"- `{n}`: {why}" for n, why in skipped] + [""]
    (out / "report.md").write_text("\n".join(parts))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="tables and plots across the alphas of a sweep",
                       description="Read the runs of an experiment folder and write a report: "
                                   "rlgan-ls compare runs/cartpole-ls [--out runs/cartpole-ls/report]")
    p.add_argument("experiment", help="the experiment folder (a sweep's --logdir)")
    p.add_argument("--out", default=None, help="report folder (default: <experiment>/report)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    report = compare(args.experiment, args.out)
    for name, why in report.skipped:
        print(f"skipped {name}: {why}")
    print(f"compared {len(report.runs)} runs ({report.kind}); report: {report.out / 'report.md'}")
    print((report.out / "table.md").read_text(), end="")
    return 0
