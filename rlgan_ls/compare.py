"""``rlgan-ls compare``: read a study's runs back and report what smoothing did, with intervals.

Input: an experiment folder with one run directory per (task, alpha, seed) (``rlgan-ls sweep`` makes
one; any folder of runs works). Final values come from each run's ``metrics.json``, curves from its
TensorBoard event files (tbparse), the task (env or dataset), alpha and seed from its ``config.json``,
whose ``kind`` names the pipeline. Within a task, runs may differ only in alpha and seed: a study whose
runs differ in anything else that shapes the results (the prior, the loss, the smoothing mode ...) is
refused, because its report would label them by an alpha that does not tell them apart.

Output (default ``<experiment>/report/``): ``report.md`` leads with the IQM and its 95 % stratified
bootstrap interval per alpha (``intervals.png``), the probability of improvement over the baseline
alpha (``improvement.png``), and, for distillation, the performance profile of the normalized return;
then the tables (``summary.csv``: n, mean, std, and mean, median, IQM and P(improvement) with
intervals, per task and alpha and, pooled, over tasks; ``runs.csv``), the curves with bootstrap bands,
the sample grids of GAN runs and their animations over training. Statistics: :mod:`rlgan_ls.stats`.
(TensorBoard's custom-scalars layout is in every run's own event file, written by the trainers.)
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import tags
from .errors import UsageError
from .plots import plot_curves, plot_improvement, plot_intervals, plot_profile, plot_samples, shown_runs
from .runs import read_json
from .summary import Study, summarize, write_tables

__all__ = ["Report", "RunRecord", "compare", "load_runs"]

# Settings that do not change what a run computes (bookkeeping, hardware, cadence) or that a study varies.
_FREE = {"alpha", "seed", "logdir", "run_name", "progress", "device", "threads", "cache_dir", "vectorization",
         "eval_envs", "log_every", "eval_every", "checkpoint_every", "layer_grad_every", "compile", "channels_last",
         "precision", "data_root", "download", "train_teacher"}


@dataclass
class RunRecord:
    name: str
    path: Path
    kind: tags.Kind
    task: str
    alpha: float
    seed: int
    metrics: dict[str, float]
    config: dict[str, Any]


@dataclass
class Report:
    out: Path
    kind: tags.Kind
    runs: list[RunRecord]
    skipped: list[tuple[str, str]]
    files: list[Path]
    study: Study


def load_runs(exp_dir: Path) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """Finished runs directly under ``exp_dir``, and (name, reason) for each skipped one."""
    runs: list[RunRecord] = []
    skipped: list[tuple[str, str]] = []
    expected: list[str] = []
    if (exp_dir / "sweep.json").is_file():
        expected = list(read_json(exp_dir / "sweep.json").get("cells", []))
    for name in sorted({p.name for p in exp_dir.iterdir() if p.is_dir()} | set(expected)):
        path = exp_dir / name
        if not path.is_dir():
            skipped.append((name, "missing: the sweep has not run it"))
        elif not (path / "config.json").is_file():
            if any(path.glob("events.out.tfevents.*")) or name in expected:
                skipped.append((name, "no config.json: not an rlgan-ls run, or it died at start-up"))
        elif not (path / "metrics.json").is_file():
            skipped.append((name, "unfinished: no metrics.json (still running, or it failed)"))
        else:
            record = _record(name, path)
            if isinstance(record, str):
                skipped.append((name, record))
            else:
                runs.append(record)
    return runs, skipped


def _record(name: str, path: Path) -> RunRecord | str:
    """The run in ``path``, or why it cannot be compared."""
    config, metrics = read_json(path / "config.json"), read_json(path / "metrics.json")
    kind = config.get("kind")
    if kind not in tags.KINDS or "alpha" not in config or "seed" not in config:
        return "config.json names no kind (distill or gan), alpha or seed; it was not written by this version"
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return RunRecord(name, path, kind, str(config.get(tags.TASK_KEY[kind], "?")), float(config["alpha"]),
                     int(config["seed"]), numeric, config)


def _check_one_setting(runs: list[RunRecord], exp: Path) -> None:
    """Within each task, runs must agree on every setting that shapes the results, alpha and seed aside."""
    for task in sorted({r.task for r in runs}):
        members = [r for r in runs if r.task == task]
        keys = sorted(set().union(*(r.config for r in members)) - _FREE)
        for key in keys:
            values = {repr(r.config.get(key)) for r in members}
            if len(values) > 1:
                raise UsageError(f"{exp}: the runs on {task} differ in {key} ({', '.join(sorted(values))}), not only "
                                 f"in alpha and seed; compare one setting at a time (one experiment folder each)")


def compare(exp_dir: str | Path, out: str | Path | None = None, reps: int = 2000) -> Report:
    """Write the report of the study in ``exp_dir`` (``reps`` bootstrap replicates per interval)."""
    exp = Path(exp_dir)
    if not exp.is_dir():
        raise UsageError(f"{exp_dir} is not a directory; pass the experiment folder a sweep wrote (its --logdir)")
    if reps < 0:
        raise UsageError(f"--bootstrap must be >= 0 (0: no intervals), got {reps}")
    runs, skipped = load_runs(exp)
    if not runs:
        why = "; ".join(f"{n}: {r}" for n, r in skipped) or "no run directories"
        raise UsageError(f"{exp_dir}: no finished runs to compare ({why})")
    if len({r.kind for r in runs}) > 1:
        raise UsageError(f"{exp_dir} mixes distillation and GAN runs; compare one experiment at a time")
    _check_one_setting(runs, exp)
    study = summarize(runs, runs[0].kind, reps)
    out_dir = Path(out) if out is not None else exp / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = plot_intervals(study, out_dir) + plot_improvement(study, out_dir)
    figures += plot_profile(study, runs, out_dir, reps)
    tables = write_tables(out_dir, study, runs)
    curves = plot_curves(study, runs, out_dir, reps)
    samples = plot_samples(study, runs, out_dir) + _animations(study, runs, out_dir) if study.kind == "gan" else []
    _write_markdown(out_dir, exp, study, runs, skipped, figures, curves + samples)
    return Report(out_dir, study.kind, runs, skipped, [out_dir / "report.md", *figures, *tables, *curves, *samples],
                  study)


def _animations(study: Study, runs: list[RunRecord], out: Path) -> list[Path]:
    """Each alpha's ``samples.gif`` (first task, lowest seed): the sample grid over training."""
    files = []
    for r in shown_runs(study, runs):
        if (r.path / "samples.gif").is_file():
            files.append(out / f"samples_a{r.alpha:g}.gif")
            shutil.copyfile(r.path / "samples.gif", files[-1])
    return files


def study_notes(study: Study) -> list[str]:
    """What a reader must know before the numbers: n, and when intervals are wide or missing."""
    seeds = study.min_runs()
    notes = [f"n = {seeds} run(s) per task and α (the fewest of any cell) × {len(study.tasks)} task(s): "
             f"{', '.join(study.tasks)}; α ∈ {{{', '.join(f'{a:g}' for a in study.alphas)}}}; baseline "
             f"α = {study.baseline:g}."]
    if seeds < 2:
        notes.append("**One run per cell: no interval can be computed; the numbers below are single runs.**")
    elif seeds * len(study.tasks) < 5:
        notes.append("**n < 5 runs per α: the intervals are wide; add seeds or tasks before concluding.**")
    notes += [f"`{m}` is missing in {len(names)} run(s) ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}); "
              f"its statistics use the others (n says how many)." for m, names in study.missing.items()]
    return notes


def _write_markdown(out: Path, exp: Path, study: Study, runs: list[RunRecord], skipped: list[tuple[str, str]],
                    figures: list[Path], more: list[Path]) -> None:
    title = "Policy distillation" if study.kind == "distill" else "DCGAN"
    parts = [f"# {title}: label smoothing comparison", "", f"Experiment `{exp.name}`: {len(runs)} finished runs.",
             "", *study_notes(study), ""]
    parts += [f"![{f.stem}]({f.name})\n" for f in figures]
    parts += ["IQM [95 % stratified bootstrap CI] per task and α (`all`: pooled over tasks; `summary.csv` also "
              "holds the mean, median, std and the probability of improvement):", "", (out / "table.md").read_text()]
    parts += [f"![{f.stem}]({f.name})\n" for f in more]
    if skipped:
        parts += ["Skipped runs:", ""] + [f"- `{n}`: {why}" for n, why in skipped] + [""]
    (out / "report.md").write_text("\n".join(parts))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="tables, intervals and plots across the alphas of a study",
                       description="Read the runs of an experiment folder and write a report: "
                                   "rlgan-ls compare runs/cartpole-ls [--out runs/cartpole-ls/report]")
    p.add_argument("experiment", help="the experiment folder (a sweep's --logdir)")
    p.add_argument("--out", default=None, help="report folder (default: <experiment>/report)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                   help="bootstrap replicates per interval (default: 2000; 0: no intervals)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    report = compare(args.experiment, args.out, args.bootstrap)
    for name, why in report.skipped:
        print(f"skipped {name}: {why}")
    print(f"compared {len(report.runs)} runs ({report.kind}); report: {report.out / 'report.md'}")
    for note in study_notes(report.study):
        print(note.replace("**", ""))
    print((report.out / "table.md").read_text(), end="")
    return 0
