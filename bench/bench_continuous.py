"""Continuous actions (issue 11): distilling Box-action teachers into binned students.

    python bench/bench_continuous.py acceptance [--env Pendulum-v1] [--seeds 0 1 2]
        DAgger, alpha = 0.1, ordinal prior, the env recipe's cached teacher (trained first if missing,
        by the same code as `rlgan-ls teacher`), one run after another: eval/normalized_return and
        the in-process wall time of each cell (teacher cached). Goal: >= 0.95 for 3 of 3 seeds on
        Pendulum-v1, <= 30 s a cell on 2 CPU cores.
    python bench/bench_continuous.py table [--envs Pendulum-v1 InvertedPendulum-v5] [--workers 2]
        alpha {0, 0.1, 0.3} x prior {uniform, ordinal, gaussian} x bins {11, 21, 41} x seeds {0, 1, 2},
        through `rlgan-ls sweep distill` (one process a cell, --workers at once): mean and standard
        deviation over seeds of eval/normalized_return, distill/action_error and explore/entropy.

Run directories go to --logdir (default: a temporary directory); rerunning the table with the same
--logdir skips finished cells.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from rlgan_ls import tags
from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.config import agent_recipe_name
from rlgan_ls.recipes import find_recipe
from rlgan_ls.runs import Run
from rlgan_ls.study.sweep import SweepPlan, cell_name, run_sweep

PRIORS = ("uniform", "ordinal", "gaussian")
COLUMNS = (tags.NORMALIZED_RETURN, tags.ACTION_ERROR, tags.ENTROPY)


def acceptance(env: str, seeds: list[int], logdir: str) -> None:
    torch.set_num_threads(1)
    source = "its agent recipe" if find_recipe("agents", agent_recipe_name(env)) else "no agent recipe"
    print(f"{env}: DAgger, alpha 0.1, ordinal prior, cached teacher ({source}); {platform.machine()}, torch "
          f"{torch.__version__}, 1 thread")
    print(f"{'seed':>4} {'normalized':>10} {'return':>9} {'teacher':>8} {'random':>8} {'action err':>10} "
          f"{'entropy':>8} {'wall s':>7}")
    for seed in seeds:
        cfg = DistillConfig.from_recipe(env, alpha=0.1, prior="ordinal", seed=seed, logdir=logdir,
                                        run_name=f"acceptance-s{seed}", progress=False)
        m = distill(cfg).metrics
        print(f"{seed:>4} {m[tags.NORMALIZED_RETURN]:>10.3f} {m[tags.RETURN_MEAN]:>9.1f} "
              f"{m[tags.TEACHER_RETURN]:>8.1f} {m[tags.RANDOM_RETURN]:>8.1f} {m[tags.ACTION_ERROR]:>10.3f} "
              f"{m[tags.ENTROPY]:>8.3f} {m[tags.WALL_S]:>7.1f}")


def table(envs: list[str], alphas: list[float], bins: list[int], seeds: list[int], workers: int, root: Path) -> None:
    for env in envs:
        print(f"\n{env} (mean ± std over seeds {seeds}): {', '.join(COLUMNS)}")
        print(f"{'bins':>4} {'prior':>8} " + " ".join(f"{'α=' + format(a, 'g'):>26}" for a in alphas))
        for b in bins:
            for prior in PRIORS:
                exp = root / agent_recipe_name(env) / f"{prior}-b{b}"
                run_sweep(SweepPlan("distill", alphas, seeds, exp, [env], ["--prior", prior, "--bins", str(b)],
                                    workers), quiet=True)
                cells = []
                for a in alphas:
                    done = [Run(exp / cell_name(env, a, s)) for s in seeds]
                    runs = [r.metrics for r in done if r.finished]
                    stats = [(statistics.fmean(r[c] for r in runs), statistics.pstdev(r[c] for r in runs))
                             for c in COLUMNS] if runs else []
                    cells.append(" / ".join(f"{m:.2f}±{s:.2f}" for m, s in stats) or "failed")
                print(f"{b:>4} {prior:>8} " + " ".join(f"{c:>26}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("acceptance", "table"))
    ap.add_argument("--env", default="Pendulum-v1", help="acceptance: the env")
    ap.add_argument("--envs", nargs="+", default=["Pendulum-v1", "InvertedPendulum-v5"], help="table: the envs")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--bins", type=int, nargs="+", default=[11, 21, 41])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2, help="table: cells at once")
    ap.add_argument("--logdir", default=None, help="where run dirs go (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir or tmp
        if args.what == "acceptance":
            acceptance(args.env, args.seeds, logdir)
        else:
            table(args.envs, args.alphas, args.bins, args.seeds, args.workers, Path(logdir))


if __name__ == "__main__":
    main()
