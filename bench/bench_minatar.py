"""Distillation on MinAtar (issue 21): teachers, the single-task table and the multi-task table.

    python bench/bench_minatar.py teachers [--games Breakout SpaceInvaders Freeway]
    python bench/bench_minatar.py single   [--games ...] [--alphas 0 0.1 0.3] [--seeds 0 1 2] [--targets hard soft]
    python bench/bench_minatar.py multi    [--games ...] [--alphas 0 0.1] [--seeds 0 1 2] [--multi-target soft]
    python bench/bench_minatar.py tables   (prints both tables from the runs already made)

- teachers: ``rlgan-ls teacher --env MinAtar/<Game>-v1`` for each game (the env recipe's PPO with the
  SmallCNN extractor), timed, with the random policy's return beside the teacher's.
- single: DAgger students (the agent recipe ``agents/MinAtar/<Game>-v1.toml``) at each alpha and seed, hard
  targets (the teacher's greedy action) and soft ones (its policy); the cells of a game and target train
  together as one ensemble (``sweep --ensemble``: stacked students, each its own run), so a cell's wall
  time is the ensemble's.
- multi: one student for all the games (``--env MinAtar/Breakout-v1 MinAtar/SpaceInvaders-v1 ...``), each
  game's cached teacher labelling its own states: the percentage of each teacher and their geometric mean.
  Soft targets by default (each teacher's action probabilities, as Rusu et al. distil), the better of the
  two targets in the single-task table.

Cells are % of the teacher as the normalized return ((student - random) / (teacher - random)), mean and
range over seeds, with the mean wall time of a cell. Finished cells are skipped on a rerun with the same
--logdir; run with OMP_NUM_THREADS=1 on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgan_ls import tags
from rlgan_ls.distill.config import task_name
from rlgan_ls.distill.tasks import task_label
from rlgan_ls.runs import Run
from rlgan_ls.study.sweep import SweepPlan, cell_name, run_sweep

GAMES = ("Breakout", "SpaceInvaders", "Freeway")


def _env(game: str) -> str:
    return f"MinAtar/{game}-v1"


def teachers(args: argparse.Namespace) -> None:
    """Train (or reuse) each game's cached teacher; its minutes, return and the random policy's return."""
    from rlgan_ls.distill.envs import resolve_env
    from rlgan_ls.distill.teachers.cache import TeacherRequest, random_return, teacher_path
    from rlgan_ls.storage import read_json

    print("| game | teacher | steps | minutes | teacher return | random return | x random |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for game in args.games:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rlgan_ls.cli", "teacher", "--env", _env(game), "--no-progress"],
                       check=True)
        recipe = resolve_env(_env(game))
        path, algo, params = teacher_path(TeacherRequest(recipe))
        meta = read_json(path.with_suffix(".json"))
        random = random_return(recipe)
        minutes, call = meta["train_seconds"] / 60, (time.perf_counter() - start) / 60
        print(f"| {game} | {algo.upper()} | {params['steps']:,} | {minutes:.1f} (this call {call:.1f}) "
              f"| {meta['return_mean']:.2f} ± {meta['return_std']:.2f} | {random:.2f} | "
              f"{meta['return_mean'] / random:.1f} |", flush=True)


def _sweep(task: str, exp: Path, args: argparse.Namespace, extra: Sequence[str] = (), ensemble: bool = False) -> None:
    print(f"$ rlgan-ls sweep distill --env {task} {' '.join(extra)} --alpha {' '.join(map(str, args.alphas))} "
          f"--seed {' '.join(map(str, args.seeds))} --workers 1{' --ensemble' * ensemble} --logdir {exp}", flush=True)
    plan = SweepPlan("distill", args.alphas, args.seeds, exp, [task], list(extra), workers=1, ensemble=ensemble)
    results = run_sweep(plan, quiet=True)
    for r in results:
        if r.status == "failed":
            print(f"  failed {r.cell.run_name}: {r.message}")


def single(args: argparse.Namespace) -> None:
    for target in args.targets:
        for game in args.games:
            _sweep(_env(game), Path(args.logdir) / f"single-{target}", args, ["--target", target], ensemble=True)
    tables(args)


MULTI = ("--rounds", "10", "--steps-per-round", "128", "--updates-per-round", "200", "--batch-size", "384",
         "--eval-episodes", "30")
"""The multi-task student: the single-task recipes' rounds, 128 states of each game per update, 30 episodes."""


def multi(args: argparse.Namespace) -> None:
    _sweep(task_name([_env(g) for g in args.games]), Path(args.logdir) / f"multi-{args.multi_target}", args,
           [*MULTI, "--target", args.multi_target])
    tables(args)


def _cells(exp: Path, task: str, alpha: float, seeds: Sequence[int]) -> list[dict[str, float]]:
    runs = [Run(exp / cell_name(task, alpha, s)) for s in seeds]
    return [r.metrics for r in runs if r.finished]


def _cell(values: Sequence[float], walls: Sequence[float]) -> str:
    if not values:
        return "–"
    v = 100 * np.asarray(values)
    return f"{v.mean():.0f} ({v.min():.0f}–{v.max():.0f}), {np.mean(walls):.0f} s"


def tables(args: argparse.Namespace) -> None:
    """Both tables from the finished runs under --logdir."""
    head = " | ".join(f"α = {a:g}" for a in args.alphas)
    print(f"\n| game | random | teacher | target | {head} |\n|" + " --- |" * (4 + len(args.alphas)))
    for game in args.games:
        for target in args.targets:
            exp = Path(args.logdir) / f"single-{target}"
            per_alpha = [_cells(exp, _env(game), a, args.seeds) for a in args.alphas]  # each read once
            rows = [_cell([m[tags.NORMALIZED_RETURN] for m in ms], [m[tags.WALL_S] for m in ms]) for ms in per_alpha]
            ms = next((ms for ms in per_alpha if ms), [])
            ref = (f"{ms[0][tags.RANDOM_RETURN]:.2f} | {ms[0][tags.TEACHER_RETURN]:.2f}" if ms else "– | –")
            print(f"| {game} | {ref} | {target} | {' | '.join(rows)} |")
    task = task_name([_env(g) for g in args.games])
    print(f"\n| multi-task student ({args.multi_target} targets) | {head} |\n|" + " --- |" * (1 + len(args.alphas)))
    columns = [_cells(Path(args.logdir) / f"multi-{args.multi_target}", task, a, args.seeds) for a in args.alphas]
    for game in args.games:
        key = tags.per_task(tags.NORMALIZED_RETURN, task_label(_env(game)))
        print(f"| {game} | " + " | ".join(_cell([m[key] for m in ms], [m[tags.WALL_S] for m in ms])
                                          for ms in columns) + " |")
    print("| geometric mean | " + " | ".join(_cell([m[tags.NORMALIZED_RETURN] for m in ms],
                                                  [m[tags.WALL_S] for m in ms]) for ms in columns) + " |")
    print(json.dumps({"seeds": list(args.seeds), "logdir": str(args.logdir)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("teachers", "single", "multi", "tables"))
    p.add_argument("--games", nargs="+", default=list(GAMES))
    p.add_argument("--alphas", nargs="+", type=float, default=None)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--targets", nargs="+", default=["hard", "soft"])
    p.add_argument("--multi-target", choices=("hard", "soft"), default="soft", help="multi: the students' targets")
    p.add_argument("--logdir", default="runs/bench-minatar")
    args = p.parse_args()
    args.alphas = args.alphas or ([0.0, 0.1] if args.what == "multi" else [0.0, 0.1, 0.3])
    {"teachers": teachers, "single": single, "multi": multi, "tables": tables}[args.what](args)


if __name__ == "__main__":
    main()
