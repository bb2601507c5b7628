"""GAN regimes (issue 20, study 5): one-sided smoothing where the discriminator wins and where it is too weak.

    python bench/bench_gan_regimes.py probe [--steps 1500] [--regimes default strong weak]
    python bench/bench_gan_regimes.py study [--steps 1500] [--seeds 0 1 2 3 4] [--alphas 0 0.1 0.3]

Stacked MNIST from the 5000 offline digits (`gan/stacked-mnist-5k.toml`: G and D widths 32, 32x32, batch
64, 26,000 samples per evaluation, the 2000-step classifier), no DiffAugment, one-sided smoothing, and:

- default: the recipe as it is (the non-saturating generator loss, equal learning rates);
- strong: a discriminator that wins, `--generator-loss minimax --lr-d 8e-4` (4 x the generator's 2e-4):
  D(real) -> 1 and the minimax generator's gradient -> 0 (Goodfellow et al., 2014, section 3);
- weak: PacGAN's "D = 1/4 G" (Lin et al., 2018, Table 3), `--d-width 8` beside G's 32.

probe runs alpha = 0 for one seed per regime, to check that the regime shows at this budget before the
study spends seeds on it. study runs every (regime, alpha, seed) through `rlgan-ls sweep gan` (one folder per
regime, finished cells skipped on a rerun) and prints per regime and alpha: the IQM over seeds [95 %
bootstrap interval] of each metric and P(alpha beats 0) [95 % interval] in the metric's better direction.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgan_ls import tags
from rlgan_ls.runs import Run
from rlgan_ls.study.stats import aggregate_interval, probability_of_improvement_interval
from rlgan_ls.study.sweep import SweepPlan, cell_name, run_sweep

DATASET = "stacked-mnist-5k"
REGIMES: dict[str, tuple[str, ...]] = {
    "default": (),
    "strong": ("--generator-loss", "minimax", "--lr-d", "8e-4"),
    "weak": ("--d-width", "8"),
}
METRICS = (tags.MODES_ROBUST, tags.MODES, tags.MODE_KL, tags.FD, tags.GRAD_G_MEAN, tags.D_REAL)


def _sweep(regime: str, alphas: Sequence[float], seeds: Sequence[int], args: argparse.Namespace) -> Path:
    exp = Path(args.logdir) / f"{regime}-steps{args.steps}"
    extra = ["--steps", str(args.steps), "--eval-every", str(args.eval_every), "--checkpoint-every",
             str(args.eval_every), "--augment", "", "--smoothing", "one-sided", *REGIMES[regime]]
    print(f"$ rlgan-ls sweep gan --dataset {DATASET} {shlex.join(extra)} --alpha {' '.join(f'{a:g}' for a in alphas)} "
          f"--seed {' '.join(map(str, seeds))} --workers {args.workers} --logdir {exp}", flush=True)
    start = time.perf_counter()
    for r in run_sweep(SweepPlan("gan", list(alphas), list(seeds), exp, [DATASET], extra, workers=args.workers),
                       quiet=True):
        if r.status == "failed":
            print(f"  failed {r.cell.run_name}: {r.message}")
    print(f"  ({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    return exp


def _values(exp: Path, alpha: float, seeds: Sequence[int], key: str) -> np.ndarray:
    runs = [Run(exp / cell_name(DATASET, alpha, s)) for s in seeds]
    return np.array([r.metrics[key] for r in runs if r.finished], dtype=np.float64)


def probe(args: argparse.Namespace) -> None:
    print(f"| regime | {' | '.join(f'`{m}`' for m in METRICS)} | wall |\n|---|" + "---:|" * (len(METRICS) + 1))
    for regime in args.regimes:
        exp = _sweep(regime, [0.0], [args.seeds[0]], args)
        run = Run(exp / cell_name(DATASET, 0.0, args.seeds[0]))
        cells = " | ".join(f"{run.metrics[m]:.3g}" for m in METRICS)
        print(f"| {regime} | {cells} | {run.metrics[tags.WALL_S] / 60:.1f} min |", flush=True)


def study(args: argparse.Namespace) -> None:
    folders = {regime: _sweep(regime, args.alphas, args.seeds, args) for regime in args.regimes}
    print(f"\n{DATASET}, one-sided smoothing, {args.steps} steps, seeds {args.seeds}: IQM [95 % CI] · "
          "P(α beats 0) [95 % CI] (better = more modes, lower KL and FD, larger gradient, lower D(real))\n")
    print(f"| regime | α | n | {' | '.join(f'`{m}`' for m in METRICS)} |\n|---|---:|---:|" + "---:|" * len(METRICS))
    for regime, exp in folders.items():
        for a in args.alphas:
            cells = []
            for m in METRICS:
                x, base = _values(exp, a, args.seeds, m), _values(exp, 0.0, args.seeds, m)
                iq = aggregate_interval([x])
                cell = f"{iq.point:.3g} [{iq.low:.3g}, {iq.high:.3g}]"
                if a != 0:
                    sign = -1.0 if m == tags.D_REAL else float(tags.BETTER.get(m, 1))
                    p = probability_of_improvement_interval([sign * x], [sign * base])
                    cell += f" · P {p.point:.2f} [{p.low:.2f}, {p.high:.2f}]"
                cells.append(cell)
            n = len(_values(exp, a, args.seeds, tags.MODES))
            print(f"| {regime} | {a:g} | {n} | {' | '.join(cells)} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("probe", "study"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=["strong", "weak"])
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.1, 0.3])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--logdir", default="runs/bench-gan-regimes")
    args = ap.parse_args()
    {"probe": probe, "study": study}[args.what](args)


if __name__ == "__main__":
    main()
