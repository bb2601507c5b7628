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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import tags
from ..errors import UsageError
from ..experiments import Experiment
from ..runs import Run
from ..storage import writable_folder
from .factors import level_of, level_studies, plot_levels, write_level_tables
from .plots import (
    plot_calibration,
    plot_curves,
    plot_improvement,
    plot_intervals,
    plot_profile,
    plot_samples,
    shown_runs,
)
from .summary import Study, summarize, write_tables

__all__ = ["Report", "compare", "load_runs"]

# Settings that do not change what a run computes (bookkeeping, hardware, cadence) or that a study varies.
_FREE = {"alpha", "seed", "logdir", "run_name", "progress", "device", "threads", "cache_dir", "vectorization",
         "eval_envs", "log_every", "eval_every", "checkpoint_every", "layer_grad_every", "compile", "channels_last",
         "precision", "data_root", "download", "train_teacher", "trust_teacher", "ensemble"}


@dataclass
class Report:
    out: Path
    kind: tags.Kind
    runs: list[Run]
    skipped: list[tuple[str, str]]
    files: list[Path]
    study: Study
    """The study (with factors: its first level's)."""
    levels: dict[str, tuple[Study, list[Run]]] | None = None
    """With factors: each level's study and runs."""


def load_runs(exp_dir: Path) -> tuple[list[Run], list[tuple[str, str]]]:
    """Finished runs directly under ``exp_dir``, and (name, reason) for each skipped one."""
    exp = Experiment(exp_dir)
    plan = exp.plan()
    expected = [str(c) for c in plan.get("cells", [])] if isinstance(plan, dict) else []
    runs: list[Run] = []
    skipped: list[tuple[str, str]] = []
    for name in sorted({p.name for p in exp.run_dirs()} | set(expected)):
        run = Run(exp.path / name)
        if not run.path.is_dir():
            skipped.append((name, "missing: the sweep has not run it"))
        elif not run.config_file.is_file():
            if run.event_files() or name in expected:
                skipped.append((name, "no config.json: not an rlgan-ls run, or it died at start-up"))
        elif not run.finished:
            skipped.append((name, "unfinished: no metrics.json (still running, or it failed)"))
        elif (reason := _unusable(run)) is not None:
            skipped.append((name, reason))
        else:
            runs.append(run)
    return runs, skipped


def _unusable(run: Run) -> str | None:
    """Why the finished ``run`` cannot be compared (naming the file and the problem), or None."""
    try:
        config, _ = run.config, run.metrics
    except UsageError as e:
        return str(e)
    if run.kind not in tags.KINDS or "alpha" not in config or "seed" not in config:
        return f"{run.config_file} names no kind (distill or gan), alpha or seed; it was not written by this version"
    alpha, seed = config["alpha"], config["seed"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
        return f"{run.config_file}: alpha {alpha!r} is not a number in [0, 1)"
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"{run.config_file}: seed {seed!r} is not an integer"
    return None


def _check_unique(runs: list[Run], factors: Sequence[str]) -> None:
    """Two folders holding the same (task, factor levels, alpha, seed) would count one seed twice."""
    seen: dict[tuple[str, str, float, int], Run] = {}
    for r in runs:
        first = seen.setdefault((r.task, level_of(r, factors), r.alpha, r.seed), r)
        if first is not r:
            raise UsageError(f"{first.path} and {r.path} are both {r.task} at alpha {r.alpha:g}, seed {r.seed}"
                             f"{' (' + level_of(r, factors) + ')' if factors else ''}; a study counts each seed "
                             f"once: move one of them out of the folder")


def _check_one_setting(runs: list[Run], exp: Path, factors: Sequence[str]) -> None:
    """Within each task, runs must agree on every setting that shapes the results, but alpha, seed and the
    declared factors. A setting derived from a factor (the student's architecture from its width) may differ
    between the factor's levels, never within one."""
    for task in sorted({r.task for r in runs}):
        members = [r for r in runs if r.task == task]
        keys = sorted(set().union(*(r.config for r in members)) - _FREE - set(factors))
        for key in keys:
            values = {repr(r.config.get(key)) for r in members}
            per_level: dict[str, set[str]] = {}
            for r in members:
                per_level.setdefault(level_of(r, factors), set()).add(repr(r.config.get(key)))
            if len(values) > 1 and (not factors or any(len(v) > 1 for v in per_level.values())):
                raise UsageError(f"{exp}: the runs on {task} differ in {key} ({', '.join(sorted(values))}), not only "
                                 f"in alpha, seed and the declared factors; declare it (compare --factor {key}) or "
                                 f"compare one setting at a time (one experiment folder each)")


def _factors(exp: Experiment, runs: list[Run], explicit: Sequence[str]) -> list[str]:
    """The factors: the grid the sweep recorded, and those named with ``--factor``."""
    plan = exp.plan()
    declared = list(plan.get("grid") or {}) if isinstance(plan, dict) and isinstance(plan.get("grid"), dict) else []
    for f in explicit:
        key = f.replace("-", "_")
        if not any(key in r.config for r in runs):
            raise UsageError(f"--factor {f}: the runs have no setting {f!r}")
        if key not in declared:
            declared.append(key)
    return declared


def compare(exp_dir: str | Path, out: str | Path | None = None, reps: int = 2000,
            factors: Sequence[str] = ()) -> Report:
    """Write the report of the study in ``exp_dir`` (``reps`` bootstrap replicates per interval; ``factors``:
    settings besides alpha and seed that the runs vary, reported per level, beside those its sweep recorded)."""
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
    keys = _factors(Experiment(exp), runs, factors)
    _check_one_setting(runs, exp, keys)
    _check_unique(runs, keys)
    out_dir = writable_folder(out if out is not None else exp / "report", "--out")
    if keys and len({level_of(r, keys) for r in runs}) > 1:
        return _factor_report(exp, out_dir, runs, skipped, keys, reps)
    study = summarize(runs, runs[0].kind, reps)  # type: ignore[arg-type]
    figures = plot_intervals(study, out_dir) + plot_improvement(study, out_dir)
    figures += plot_profile(study, runs, out_dir, reps) + plot_calibration(study, runs, out_dir)
    tables = write_tables(out_dir, study, runs)
    curves = plot_curves(study, runs, out_dir, reps)
    samples = plot_samples(study, runs, out_dir) + _animations(study, runs, out_dir) if study.kind == "gan" else []
    report = Report(out_dir, study.kind, runs, skipped, [out_dir / "report.md", *figures, *tables, *curves, *samples],
                    study)
    _write_markdown(report, exp, figures, curves + samples)
    return report


def _factor_report(exp: Path, out: Path, runs: list[Run], skipped: list[tuple[str, str]], factors: list[str],
                   reps: int) -> Report:
    """The report of a study with factors: per level of the factors (see :mod:`.factors`)."""
    levels = level_studies(runs, factors, reps)
    figures = plot_levels(levels, out)
    tables = write_level_tables(out, levels, factors)
    first = next(iter(levels.values()))[0]
    report = Report(out, first.kind, runs, skipped, [out / "report.md", *figures, *tables], first, levels)
    title = "Policy distillation" if first.kind == "distill" else "DCGAN"
    parts = [f"# {title}: label smoothing × {', '.join(factors)}", "",
             f"Experiment `{exp.name}`: {len(runs)} finished runs in {len(levels)} levels of {', '.join(factors)}. "
             f"Within each level: IQM [{first.interval_name}] and the probability that a run at α beats one at "
             f"α = {first.baseline:g} (`summary.csv` holds every statistic per task, level and α).", "",
             *study_notes(first), "", *[f"![{f.stem}]({f.name})\n" for f in figures], (out / "table.md").read_text()]
    if skipped:
        parts += ["Skipped runs:", ""] + [f"- `{n}`: {why}" for n, why in skipped] + [""]
    (out / "report.md").write_text("\n".join(parts))
    return report


def _animations(study: Study, runs: list[Run], out: Path) -> list[Path]:
    """Each alpha's sample animation (first task, lowest seed): the sample grid over training."""
    files = []
    for r in shown_runs(study, runs):
        if r.animation_file.is_file():
            files.append(out / f"samples_a{r.alpha:g}.gif")
            shutil.copyfile(r.animation_file, files[-1])
    return files


def study_notes(study: Study) -> list[str]:
    """What a reader must know before the numbers: n, and when intervals are wide or missing."""
    seeds = study.min_runs()
    notes = [f"n = {seeds} run(s) per task and α (the fewest of any cell) × {len(study.tasks)} task(s): "
             f"{', '.join(study.tasks)}; α ∈ {{{', '.join(f'{a:g}' for a in study.alphas)}}}; baseline "
             f"α = {study.baseline:g}."]
    if seeds < 2:
        notes.append("**One run per cell: no interval can be computed; the numbers below are single runs.**")
    elif not study.reps:
        notes.append("No intervals were computed (--bootstrap 0): the numbers below are point estimates.")
    elif seeds * len(study.tasks) < 5:
        notes.append("**n < 5 runs per α: the intervals are wide; add seeds or tasks before concluding.**")
    notes += [f"`{m}` is missing in {len(names)} run(s) ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}); "
              f"its statistics use the others (n says how many)." for m, names in study.missing.items()]
    return notes


def _write_markdown(report: Report, exp: Path, figures: list[Path], more: list[Path]) -> None:
    """``report.md``: the notes, the headline ``figures``, the table, then the ``more`` figures."""
    out, study, skipped = report.out, report.study, report.skipped
    title = "Policy distillation" if study.kind == "distill" else "DCGAN"
    parts = [f"# {title}: label smoothing comparison", "",
             f"Experiment `{exp.name}`: {len(report.runs)} finished runs.", "", *study_notes(study), ""]
    parts += [f"![{f.stem}]({f.name})\n" for f in figures]
    parts += [f"IQM [{study.interval_name}] per task and α (`all`: pooled over tasks; `summary.csv` also "
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
    p.add_argument("--factor", action="append", default=[], metavar="KEY",
                   help="a setting the runs vary besides alpha and seed, reported per level (repeatable; a sweep's "
                        "--grid keys are declared already)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                   help="bootstrap replicates per interval (default: 2000; 0: no intervals)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    report = compare(args.experiment, args.out, args.bootstrap, args.factor)
    for name, why in report.skipped:
        print(f"skipped {name}: {why}")
    print(f"compared {len(report.runs)} runs ({report.kind}); report: {report.out / 'report.md'}")
    for note in study_notes(report.study):
        print(note.replace("**", ""))
    print((report.out / "table.md").read_text(), end="")
    return 0
