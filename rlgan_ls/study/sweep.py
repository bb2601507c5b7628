"""``rlgan-ls sweep``: run one pipeline over a grid of tasks, smoothing strengths and seeds.

A task is an environment (``distill``: ``--env A B ...``) or a dataset (``gan``: ``--dataset X Y ...``).
Every (task, alpha, seed) cell is its own process running the ordinary command (``rlgan-ls distill`` or
``rlgan-ls gan``) with ``--logdir <experiment> --run-name <task>-a<alpha>-s<seed>``, so each cell is one
run directory under the experiment folder and TensorBoard overlays them by itself. Running the sweep
again skips finished cells, continues GAN cells from their checkpoints and leaves alone cells another
process is writing (:mod:`.cells`); a failed cell is reported and the others go on. Cell output goes to
``<experiment>/logs/<run-name>.log``.

Two backends run the same cells: a local process pool (default) and Ray Tune (``--backend ray``,
for a Ray cluster; ``pip install 'rlgan-ls[ray]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import tags
from ..errors import UsageError
from ..experiments import Experiment
from ..smoothing import check_alpha
from ..storage import writable_folder
from .cells import Cell, CellResult, Children, Launcher, cell_config, cell_name, run_cell
from .ensembles import group_cells, run_group
from .grid import Grid
from .workers import InProcess, Workers

__all__ = ["Cell", "CellResult", "SweepPlan", "cell_name", "run_sweep"]

KINDS = tags.KINDS
TASK_FLAG: dict[str, str] = {kind: f"--{key}" for kind, key in tags.TASK_KEY.items()}
"""The flag that names a cell's task, per pipeline."""
# Flags the sweep sets itself for every cell; passing them through would make cells collide.
_RESERVED = ("--alpha", "--seed", "--logdir", "--run-name", "--resume", *TASK_FLAG.values())


def default_task(kind: str) -> str:
    """The task a pipeline runs when none is named (its config's default env or dataset)."""
    if kind == "distill":
        from ..distill.config import DistillConfig

        return DistillConfig.env
    from ..dcgan.config import GANConfig

    return GANConfig.dataset


@dataclass(frozen=True)
class SweepPlan:
    """A grid of cells: every (task, alpha, seed), each running the ``kind`` pipeline with ``extra`` flags."""

    kind: str
    """``distill`` or ``gan``."""
    alphas: Sequence[float]
    """Smoothing strengths."""
    seeds: Sequence[int] = (0,)
    """Seeds."""
    logdir: str | os.PathLike = "runs/sweep"
    """The experiment folder; one run directory per cell inside."""
    tasks: Sequence[str] = ()
    """Envs (distill) or datasets (gan); default: the pipeline's default task."""
    extra: Sequence[str] = ()
    """Flags every cell passes on to the pipeline's command."""
    workers: int = 1
    """Cells run at once."""
    backend: str = "local"
    """``local`` (a process pool) or ``ray`` (Ray Tune)."""
    isolate: bool = False
    """One process per cell (the slower, older way) instead of persistent workers."""
    ensemble: bool = False
    """Distillation: train the cells of a task that share every shape together, as one stacked student."""
    grid: Grid = Grid()
    """Factors beside alpha and seed (``--grid KEY=V1,V2``)."""
    ray_address: str | None = None
    """A Ray cluster's address (default: start a local Ray)."""

    def cells(self) -> list[Cell]:
        """The grid's cells in (task, alpha, seed) order, with their commands; :class:`UsageError` on a bad grid."""
        kind, extra = self.kind, list(self.extra)
        if kind not in KINDS:
            raise UsageError(f"sweep kind must be one of {', '.join(KINDS)}, got {kind!r}")
        for flag in extra:
            if flag.split("=", 1)[0] in _RESERVED:
                raise UsageError(f"sweep: {flag.split('=', 1)[0]} is set per cell by the sweep; use the sweep's own "
                                 f"--alpha/--seed/--logdir and {TASK_FLAG[kind]}")
        if not self.alphas or not self.seeds:
            raise UsageError("sweep: give at least one --alpha and one --seed")
        for a in self.alphas:
            check_alpha(a, "--alpha", UsageError)
        tasks = list(self.tasks) or [default_task(kind)]
        if len(set(self.alphas)) != len(self.alphas) or len(set(self.seeds)) != len(self.seeds) \
                or len(set(tasks)) != len(tasks):
            raise UsageError(f"sweep: --alpha, --seed and {TASK_FLAG[kind]} values must be distinct")
        exp = Experiment(Path(self.logdir).resolve())
        cells = [self._cell(exp, t, point, float(a), int(s)) for t in tasks for point in self.grid.points()
                 for a in self.alphas for s in self.seeds]
        taken: dict[str, float] = {}
        for c in cells:
            if taken.setdefault(c.run_name, c.alpha) != c.alpha:
                raise UsageError(f"sweep: --alpha {taken[c.run_name]!r} and {c.alpha!r} would both be run "
                                 f"{c.run_name}; use alphas that differ in their first 6 significant digits")
        return cells

    def _cell(self, exp: Experiment, task: str, point: tuple[str, ...], alpha: float, seed: int) -> Cell:
        name = cell_name(task, alpha, seed, self.grid.label(point))
        args = (self.kind, TASK_FLAG[self.kind], task, *self.extra, *self.grid.args(point), "--alpha", repr(alpha),
                "--seed", str(seed), "--logdir", str(exp.path), "--run-name", name, "--no-progress")
        return Cell(self.kind, task, alpha, seed, name, exp.path / name, exp.log_file(name), args)


def run_local(cells: Sequence[Cell], plan: SweepPlan, on_result=None) -> list[CellResult]:
    """Run cells ``plan.workers`` at a time: in persistent workers, or (``plan.isolate``) a process each, one
    cell or (``plan.ensemble``) one ensemble at a time; threads here only wait. Stopping the sweep (Ctrl-C,
    SIGTERM) stops its running cells before the interruption goes on."""
    threads = max(1, (os.cpu_count() or 1) // plan.workers)
    results: list[CellResult] = []
    launcher: Launcher = Children() if plan.isolate else Workers(plan.workers)
    if isinstance(launcher, Workers):  # their imports overlap the grouping below
        launcher.start(sum(not c.finished for c in cells), threads)
    pool = ThreadPoolExecutor(max_workers=plan.workers)
    try:
        units = _units(cells, plan)
        for unit in pool.map(lambda u: _run_unit(u, threads, launcher, plan.ensemble), units):
            for result in unit:
                results.append(result)
                if on_result:
                    on_result(result)
    except BaseException:
        launcher.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        launcher.close()
    return results


def _units(cells: Sequence[Cell], plan: SweepPlan) -> list[list[Cell]]:
    """What runs as one job: a cell, or an ensemble of cells. A task's ensemble is split into ``plan.workers``
    ensembles of (nearly) equal size, one per worker, so that every worker has a share of every task
    however much the tasks' costs differ (one task's ensemble alone would keep the others waiting)."""
    if not plan.ensemble:
        return [[c] for c in cells]
    groups = group_cells(cells)
    per_task = {c.task for c in cells}
    if len(groups) > len(per_task):
        print(f"--ensemble: the cells differ in their shape (network, bins, budget ...), so they form "
              f"{len(groups)} ensembles (one per task and shape) instead of {len(per_task)}", flush=True)
    return [chunk for g in groups for chunk in _split(g, plan.workers)]


def _split(group: list[Cell], parts: int) -> list[list[Cell]]:
    """``group`` in ``min(parts, len(group))`` consecutive chunks whose sizes differ by at most one."""
    parts = min(parts, len(group))
    size, more = divmod(len(group), parts)
    bounds = [i * size + min(i, more) for i in range(parts + 1)]
    return [group[a:b] for a, b in zip(bounds, bounds[1:])]


def _run_unit(unit: list[Cell], threads: int, launcher: Launcher, ensemble: bool) -> list[CellResult]:
    return run_group(unit, threads, launcher) if ensemble else [run_cell(unit[0], threads, launcher)]


def run_ray(cells: Sequence[Cell], plan: SweepPlan, on_result=None) -> list[CellResult]:
    """Run the same cells as Ray Tune trials, at most ``plan.workers`` at a time: in Ray's own long-lived
    worker processes (actors reused between trials), or a process each with ``plan.isolate``."""
    workers, address = plan.workers, plan.ray_address
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UsageError("--backend ray needs Ray Tune: pip install 'rlgan-ls[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // workers)
    units = _units(cells, plan)

    def trainable(config: dict) -> dict:
        done = _run_unit(units[config["unit"]], cpus, Children() if plan.isolate else InProcess(), plan.ensemble)
        return {"results": [[r.status, r.returncode, r.seconds, r.message] for r in done]}

    # Ray's trial folders (with their own event files) stay out of the experiment, where TensorBoard and
    # compare would take them for runs; the run directories are the record.
    storage = tempfile.mkdtemp(prefix="rlgan-ls-ray-")
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": cpus}),
        param_space={"unit": tune.grid_search(list(range(len(units))))},
        tune_config=tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(storage), name="sweep", verbose=0),
    )
    try:
        grid = tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    results = []
    for res in grid:  # type: ignore[attr-defined]  # ResultGrid iterates via __getitem__; Ray declares no __iter__
        unit, m = units[res.config["unit"]], res.metrics or {}
        for i, cell in enumerate(unit):
            if res.error is not None or "results" not in m:
                r = CellResult(cell, "failed", 1, 0.0, f"Ray trial error: {res.error}")
            else:
                status, rc, seconds, message = m["results"][i]
                r = CellResult(cell, status, int(rc), float(seconds), message)
            results.append(r)
            if on_result:
                on_result(r)
    order = {c.run_name: i for i, c in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell.run_name])


def run_sweep(plan: SweepPlan, quiet: bool = False) -> list[CellResult]:
    """Run the grid; returns one result per cell in (task, alpha, seed) order."""
    if plan.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {plan.workers}")
    if plan.backend not in ("local", "ray"):
        raise UsageError(f"--backend must be local or ray, got {plan.backend!r}")
    if plan.ensemble and plan.kind != "distill":
        raise UsageError("--ensemble trains distillation students together; GAN cells run one at a time (drop it)")
    writable_folder(plan.logdir, "--logdir", create=False)  # made once the plan is known to be good
    cells = plan.cells()
    for c in cells[::len(plan.alphas) * len(plan.seeds)]:  # one cell per (task, grid point): its config builds
        cell_config(c)
    exp = Experiment(cells[0].run_dir.parent)
    exp.write_plan({"kind": plan.kind, "tasks": sorted({c.task for c in cells}), "alphas": list(plan.alphas),
                    "seeds": list(plan.seeds), "grid": {k: list(v) for k, v in plan.grid.axes},
                    "extra_args": list(plan.extra), "cells": [c.run_name for c in cells]})

    def report(r: CellResult) -> None:
        if not quiet:
            extra_msg = f": {r.message}" if r.message and r.status in ("failed", "busy", "done") else ""
            print(f"[{r.status:>7}] {r.cell.run_name} ({r.seconds:.1f}s){extra_msg}", flush=True)

    if not quiet:
        todo = sum(not c.finished for c in cells)
        how = "a process per cell" if plan.isolate else "persistent workers"
        print(f"sweep {plan.kind}: {len(cells)} cells ({todo} to run), {plan.workers} at a time in {how}, backend "
              f"{plan.backend}, logdir {exp.path}", flush=True)
    if plan.backend == "ray":
        return run_ray(cells, plan, report)
    return run_local(cells, plan, report)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", allow_abbrev=False,
        help="run distill or gan over a grid of tasks, alphas and seeds (extra flags pass through)",
        description="Run every (task, alpha, seed) cell as its own process; other flags pass through to the "
                    "underlying command. Example: rlgan-ls sweep distill --env CartPole-v1 Acrobot-v1 "
                    "--alpha 0 0.1 0.3 --seed 0 1 2 --workers 2 --logdir runs/classic-ls")
    p.add_argument("kind", choices=KINDS, help="which pipeline to sweep")
    p.add_argument("--env", nargs="+", default=None, help="distill: the environments (default: CartPole-v1)")
    p.add_argument("--dataset", nargs="+", default=None, help="gan: the datasets (default: digits)")
    p.add_argument("--alpha", type=float, nargs="+", required=True, help="smoothing strengths")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    p.add_argument("--workers", type=int, default=1, help="cells run at once (default: 1)")
    p.add_argument("--logdir", required=True, help="experiment folder; one run directory per cell inside")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                   help="a factor beside alpha and seed: any setting of the pipeline (repeatable), e.g. "
                        "--grid label-noise=0,0.2,0.4; each grid point is part of the cell's name")
    p.add_argument("--isolate", action="store_true",
                   help="run every cell as a process of its own (slower: each pays the imports and set-up) instead "
                        "of in persistent workers that import once")
    p.add_argument("--ensemble", action="store_true",
                   help="distill: train the cells of a task that share every shape together, as stacked students, one "
                        "ensemble per worker (each cell still its own run directory)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray Tune")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.set_defaults(func=_main, passthrough=True)


def _main(args: argparse.Namespace) -> int:
    wrong = {"distill": args.dataset, "gan": args.env}[args.kind]
    if wrong:
        raise UsageError(f"sweep {args.kind} names its tasks with {TASK_FLAG[args.kind]}, not "
                         f"{'--dataset' if args.kind == 'distill' else '--env'}")
    tasks = (args.env if args.kind == "distill" else args.dataset) or ()
    grid = Grid.parse(args.kind, args.grid or [], args.extra)
    results = run_sweep(SweepPlan(args.kind, args.alpha, args.seed, args.logdir, tasks, args.extra, args.workers,
                                  args.backend, args.isolate, args.ensemble, grid, args.ray_address))
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    busy = [r for r in results if r.status == "busy"]
    print(f"sweep finished: {done} ran, {skipped} skipped (finished earlier), {len(failed)} failed"
          + (f", {len(busy)} being written by another process (rerun the sweep once it is done)" if busy else ""))
    for r in failed:
        print(f"  failed {r.cell.run_name} (exit {r.returncode}): {r.message}; log: {r.cell.log_file}")
    return 1 if failed else 0
