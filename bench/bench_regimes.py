"""When does smoothing help a distilled student? The distillation studies of issue 20, each a sweep and a report.

    python bench/bench_regimes.py noise        [--method bc|dagger] [--seeds 0 1 2 3 4] [--logdir DIR]
    python bench/bench_regimes.py flip         (after noise: its flipped cells against soft-target cells)
    python bench/bench_regimes.py demos-probe  --task CartPole-v1 --demos 8 16 32 64 [--wide 256]
    python bench/bench_regimes.py demos        --task CartPole-v1 --demos 8 9 16 [--wide 256]
    python bench/bench_regimes.py calibration

- noise: BC, label noise eps in {0, 0.2, 0.4} x alpha in {0, 0.1, 0.2, 0.3} x seeds on CartPole-v1 and
  Acrobot-v1 (Discrete) and Pendulum-v1 and MountainCarContinuous-v0 (Box, 11 bins, uniform and ordinal
  priors), every task one ensemble (``sweep --ensemble``); then ``compare``: IQM and P(alpha beats 0) per
  (eps, prior). The command lines are printed first.
- flip: flipping hard labels at eps against uniform smoothing with alpha = eps K / (K - 1), the same
  expected target: for each task and eps, the noise study's (eps, alpha = 0, uniform) runs against new
  (eps = 0, alpha = eps K / (K - 1)) runs; return, entropy and ECE, and P(flip beats soft) per task.
- demos-probe / demos: BC with a budget of labelled states; the probe finds the budgets where alpha = 0
  reaches about 50, 80 and 100 % of the teacher, the study crosses them with alpha and a wide student
  (width 256, 66k parameters for CartPole: hundreds of states are memorized either way; 1024 made each
  ensemble step ~16x slower on a CPU).
- calibration: soft targets (the teacher's own probabilities), BC: the student's ECE against the
  teacher's probability of its greedy action, from each run's ``calibration.json``, per alpha.

Finished cells are skipped on a rerun with the same --logdir. Teachers come from the cache
(``RLGAN_LS_CACHE``) and are trained first where missing.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgan_ls import tags
from rlgan_ls.runs import Run
from rlgan_ls.study.compare import compare
from rlgan_ls.study.grid import Grid
from rlgan_ls.study.stats import aggregate_interval, probability_of_improvement_interval
from rlgan_ls.study.sweep import SweepPlan, cell_name, run_sweep

ALPHAS = (0.0, 0.1, 0.2, 0.3)
NOISE = ("0", "0.2", "0.4")
DISCRETE = {"CartPole-v1": 2, "Acrobot-v1": 3}  # task -> K, actions per dimension
BOX = {"Pendulum-v1": 11, "MountainCarContinuous-v0": 11}  # 11 bins, the default
TASKS = {**DISCRETE, **BOX}
METRICS = (tags.NORMALIZED_RETURN, tags.ENTROPY, tags.ECE)


def _sweep(plan: SweepPlan) -> float:
    """Run the plan (finished cells skipped); print its command line; the wall time in seconds."""
    grid = [f"--grid {k}={','.join(v)}" for k, v in plan.grid.axes]
    print("$ rlgan-ls sweep distill --env", *plan.tasks, *map(shlex.quote, plan.extra), "--alpha",
          *(f"{a:g}" for a in plan.alphas), "--seed", *map(str, plan.seeds), *grid,
          "--ensemble" * plan.ensemble, f"--workers {plan.workers} --logdir {plan.logdir}", flush=True)
    start = time.perf_counter()
    failed = [r.cell.run_name for r in run_sweep(plan, quiet=True) if r.status == "failed"]
    if failed:
        print(f"failed cells ({len(failed)}): {', '.join(failed[:5])} ...; see {plan.logdir}/logs")
    return time.perf_counter() - start


def _metrics(runs: Sequence[Run], metric: str) -> np.ndarray:
    return np.array([r.metrics[metric] for r in runs if math.isfinite(r.metrics.get(metric, math.nan))])


def _runs(exp: Path, task: str, alpha: float, seeds: Sequence[int], label: str = "") -> list[Run]:
    runs = [Run(exp / cell_name(task, alpha, s, label)) for s in seeds]
    return [r for r in runs if r.finished]


def noise(args: argparse.Namespace) -> None:
    exp = Path(args.logdir) / ("noise" if args.method == "bc" else f"noise-{args.method}")
    common = dict(alphas=ALPHAS, seeds=args.seeds, logdir=exp, extra=["--method", args.method], workers=args.workers,
                  ensemble=True)
    eps = f"label_noise={','.join(NOISE)}"
    wall = _sweep(SweepPlan("distill", tasks=list(DISCRETE), grid=Grid.parse("distill", [eps]), **common))
    wall += _sweep(SweepPlan("distill", tasks=list(BOX), grid=Grid.parse("distill", [eps, "prior=uniform,ordinal"]),
                             **common))
    report = compare(exp, reps=2000, factors=["label_noise", "prior"])
    print(f"\n{len(report.runs)} runs, sweeps {wall / 60:.1f} min; report {report.out}\n")
    print((report.out / "table.md").read_text())


def _flip_pairs(args: argparse.Namespace) -> dict[tuple[str, str], tuple[list[Run], list[Run], float]]:
    """(task, eps) -> (flipped runs at alpha 0, soft runs at alpha = eps K / (K - 1), that alpha)."""
    pairs = {}
    for task, k in TASKS.items():
        soft = {eps: round(float(eps) * k / (k - 1), 4) for eps in NOISE[1:]}
        exp = Path(args.logdir) / "flip"
        _sweep(SweepPlan("distill", sorted(soft.values()), args.seeds, exp, [task], ["--method", "bc"], args.workers,
                         ensemble=True))
        for eps, alpha in soft.items():
            label = f"label-noise{eps}" + ("-prioruniform" if task in BOX else "")
            pairs[task, eps] = (_runs(Path(args.logdir) / "noise", task, 0.0, args.seeds, label),
                                _runs(exp, task, alpha, args.seeds), alpha)
    return pairs


def flip(args: argparse.Namespace) -> None:
    pairs = _flip_pairs(args)
    print("\n| task | ε | soft α | metric | flipped (α = 0) mean ± sd | soft (ε = 0) mean ± sd | "
          "P(flipped > soft) [95 % CI] |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for (task, eps), (flipped, soft, alpha) in pairs.items():
        for m in METRICS:
            x, y = _metrics(flipped, m), _metrics(soft, m)
            if not (x.size and y.size):
                continue
            poi = probability_of_improvement_interval([x], [y])
            print(f"| {task} | {eps} | {alpha:g} | `{m}` | {x.mean():.3f} ± {x.std():.3f} | {y.mean():.3f} ± "
                  f"{y.std():.3f} | {poi.point:.2f} [{poi.low:.2f}, {poi.high:.2f}] |")
    print("\nPooled over tasks (P averaged over tasks, runs resampled within each task):\n")
    for eps in NOISE[1:]:
        for m in METRICS:
            xs = [_metrics(pairs[t, eps][0], m) for t in TASKS]
            ys = [_metrics(pairs[t, eps][1], m) for t in TASKS]
            if all(a.size for a in xs + ys):
                poi = probability_of_improvement_interval(xs, ys)
                print(f"- ε = {eps}, `{m}`: P(flipped > soft) = {poi.point:.2f} [{poi.low:.2f}, {poi.high:.2f}]")


def _budget_plan(args: argparse.Namespace, exp: Path, alphas: Sequence[float], demos: Sequence[int],
                 wide: bool) -> SweepPlan:
    grid = [f"demos={','.join(map(str, demos))}"] + ([f"width=64,{args.wide}"] if wide else [])
    return SweepPlan("distill", alphas, args.seeds, exp, [args.task], ["--method", "bc"], args.workers,
                     ensemble=True, grid=Grid.parse("distill", grid))


def demos_probe(args: argparse.Namespace) -> None:
    exp = Path(args.logdir) / f"demos-probe-{args.task}"
    wall = _sweep(_budget_plan(args, exp, [0.0], args.demos, wide=True))
    print(f"\n{args.task}, α = 0, BC, seeds {args.seeds} ({wall / 60:.1f} min):\n")
    print("| demos | width | normalized return, mean [min, max] |\n|---:|---:|---:|")
    for d in args.demos:
        for w in (64, args.wide):
            runs = _runs(exp, args.task, 0.0, args.seeds, f"demos{d}-width{w}")
            x = _metrics(runs, tags.NORMALIZED_RETURN)
            if x.size:
                print(f"| {d} | {w} | {x.mean():.3f} [{x.min():.3f}, {x.max():.3f}] |")


def demos(args: argparse.Namespace) -> None:
    exp = Path(args.logdir) / f"demos-{args.task}"
    wall = _sweep(_budget_plan(args, exp, ALPHAS, args.demos, wide=True))
    report = compare(exp, reps=2000)
    print(f"\n{len(report.runs)} runs, sweep {wall / 60:.1f} min; report {report.out}\n")
    print((report.out / "table.md").read_text())


def _ece_vs_teacher(run: Run) -> float:
    """sum_b n_b |confidence_b - teacher probability_b| / N over the run's reliability diagram."""
    cal = json.loads(run.calibration_file.read_text())
    n, conf, target = (np.asarray(cal[k], dtype=float) for k in ("count", "confidence", "target"))
    return float((n * np.abs(conf - target)).sum() / max(n.sum(), 1))


def calibration(args: argparse.Namespace) -> None:
    exp = Path(args.logdir) / "calibration"
    wall = _sweep(SweepPlan("distill", ALPHAS, args.seeds, exp, list(TASKS), ["--method", "bc", "--target", "soft"],
                            args.workers, ensemble=True))
    report = compare(exp, reps=2000)
    print(f"\n{len(report.runs)} runs, sweep {wall / 60:.1f} min; report {report.out} (calibration.png)\n")
    print("| α | " + " | ".join(TASKS) + " | IQM, tasks pooled [95 % CI] |")
    print("|---:|" + "---:|" * (len(TASKS) + 1))
    for a in ALPHAS:
        per_task = [np.array([_ece_vs_teacher(r) for r in _runs(exp, t, a, args.seeds)]) for t in TASKS]
        pooled = aggregate_interval([x for x in per_task if x.size], "iqm")
        cells = [f"{x.mean():.3f} ± {x.std():.3f}" if x.size else "–" for x in per_task]
        print(f"| {a:g} | " + " | ".join(cells) + f" | {pooled.point:.3f} [{pooled.low:.3f}, {pooled.high:.3f}] |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=["noise", "flip", "demos-probe", "demos", "calibration"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=1, help="ensembles trained at once (each uses the CPU's threads)")
    ap.add_argument("--logdir", default="runs/bench-regimes")
    ap.add_argument("--method", default="bc", choices=["bc", "dagger"], help="noise: BC (the study) or DAgger")
    ap.add_argument("--task", default="CartPole-v1", help="demos: the task")
    ap.add_argument("--demos", type=int, nargs="+", default=[16, 32, 64, 128, 256], help="demos: the budgets")
    ap.add_argument("--wide", type=int, default=256, help="demos: the wide student's width (the default is 64)")
    args = ap.parse_args()
    {"noise": noise, "flip": flip, "demos-probe": demos_probe, "demos": demos, "calibration": calibration}[
        args.study](args)


if __name__ == "__main__":
    main()
