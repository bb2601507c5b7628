"""``rlgan-ls sweep``: run one pipeline over a grid of tasks, smoothing strengths and seeds.

A task is an environment (``distill``: ``--env A B ...``) or a dataset (``gan``: ``--dataset X Y ...``).
Every (task, alpha, seed) cell is its own process running the ordinary command (``rlgan-ls distill`` or
``rlgan-ls gan``) with ``--logdir <experiment> --run-name <task>-a<alpha>-s<seed>``, so each cell is one
run directory under the experiment folder and TensorBoard overlays them by itself. A cell whose run
directory holds ``metrics.json`` has finished and is skipped when the sweep is run again; a failed
cell is reported and the others go on. Cell output goes to ``<experiment>/logs/<run-name>.log``.

Two backends run the same cells: a local process pool (default) and Ray Tune (``--backend ray``,
for a Ray cluster; ``pip install 'rlgan-ls[ray]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import tags
from ..errors import UsageError
from ..runs import Experiment, Run
from ..smoothing import check_alpha
from ..storage import sanitize

__all__ = ["Cell", "CellResult", "SweepPlan", "cell_name", "run_sweep"]

KINDS = tags.KINDS
TASK_FLAG: dict[str, str] = {kind: f"--{key}" for kind, key in tags.TASK_KEY.items()}
"""The flag that names a cell's task, per pipeline."""
# Flags the sweep sets itself for every cell; passing them through would make cells collide.
_RESERVED = ("--alpha", "--seed", "--logdir", "--run-name", "--resume", *TASK_FLAG.values())


@dataclass(frozen=True)
class Cell:
    """One (task, alpha, seed) point of the grid and the command that runs it."""

    task: str
    alpha: float
    seed: int
    run_name: str
    run_dir: Path
    log_file: Path
    argv: tuple[str, ...]

    @property
    def finished(self) -> bool:
        return Run(self.run_dir).finished


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    status: str  # "done", "skipped" (finished earlier) or "failed"
    returncode: int
    seconds: float
    message: str = ""


def cell_name(task: str, alpha: float, seed: int) -> str:
    return f"{sanitize(task)}-a{alpha:g}-s{seed}"


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
        return [self._cell(exp, t, float(a), int(s)) for t in tasks for a in self.alphas for s in self.seeds]

    def _cell(self, exp: Experiment, task: str, alpha: float, seed: int) -> Cell:
        name = cell_name(task, alpha, seed)
        argv = (sys.executable, "-m", "rlgan_ls.cli", self.kind, TASK_FLAG[self.kind], task, *self.extra, "--alpha",
                repr(alpha), "--seed", str(seed), "--logdir", str(exp.path), "--run-name", name, "--no-progress")
        return Cell(task, alpha, seed, name, exp.path / name, exp.log_file(name), argv)


def _cell_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads))  # cells share the machine's cores
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cell(cell: Cell, threads: int = 1) -> CellResult:
    """Run one cell to completion (or skip it if it finished before). Never raises for a failure."""
    if cell.finished:
        return CellResult(cell, "skipped", 0, 0.0, "finished earlier")
    if cell.run_dir.exists():
        # An earlier attempt died before writing metrics.json; its partial event files would
        # otherwise be merged into this attempt's curves. Its log is kept (appended to).
        shutil.rmtree(cell.run_dir)
    cell.log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(cell.log_file, "a") as log:
        log.write(f"$ {' '.join(cell.argv)}\n")
        log.flush()
        rc = subprocess.call(cell.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=_cell_env(threads))
    seconds = time.perf_counter() - t0
    if rc == 0 and cell.finished:
        return CellResult(cell, "done", 0, seconds)
    last = _last_line(cell.log_file)
    reason = last if rc != 0 else "exited 0 but wrote no metrics.json"
    return CellResult(cell, "failed", rc or 1, seconds, reason)


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_local(cells: Sequence[Cell], workers: int, on_result=None) -> list[CellResult]:
    """Run cells in a pool of ``workers`` processes (threads only wait on the subprocesses)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    results: list[CellResult] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda c: run_cell(c, threads), cells):
            results.append(result)
            if on_result:
                on_result(result)
    return results


def run_ray(cells: Sequence[Cell], workers: int, address: str | None, on_result=None) -> list[CellResult]:
    """Run the same cells as Ray Tune trials, at most ``workers`` at a time."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UsageError("--backend ray needs Ray Tune: pip install 'rlgan-ls[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // workers)
    by_name = {c.run_name: c for c in cells}

    def trainable(config: dict) -> dict:
        r = run_cell(by_name[config["cell"]], cpus)
        return {"returncode": r.returncode, "status": r.status, "seconds": r.seconds, "message": r.message}

    storage = (Experiment(cells[0].run_dir.parent).logs_dir / "ray").resolve()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": cpus}),
        param_space={"cell": tune.grid_search([c.run_name for c in cells])},
        tune_config=tune.TuneConfig(max_concurrent_trials=workers),
        run_config=tune.RunConfig(storage_path=str(storage), name="sweep", verbose=0),
    )
    grid = tuner.fit()
    results = []
    for res in grid:  # type: ignore[attr-defined]  # ResultGrid iterates via __getitem__; Ray declares no __iter__
        cell = by_name[res.config["cell"]]
        m = res.metrics or {}
        if res.error is not None or "status" not in m:
            r = CellResult(cell, "failed", 1, 0.0, f"Ray trial error: {res.error}")
        else:
            r = CellResult(cell, m["status"], int(m["returncode"]), float(m["seconds"]), m["message"])
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
    cells = plan.cells()
    exp = Experiment(cells[0].run_dir.parent)
    exp.path.mkdir(parents=True, exist_ok=True)
    exp.write_plan({"kind": plan.kind, "tasks": sorted({c.task for c in cells}), "alphas": list(plan.alphas),
                    "seeds": list(plan.seeds), "extra_args": list(plan.extra), "cells": [c.run_name for c in cells]})

    def report(r: CellResult) -> None:
        if not quiet:
            extra_msg = f": {r.message}" if r.status == "failed" else ""
            print(f"[{r.status:>7}] {r.cell.run_name} ({r.seconds:.1f}s){extra_msg}", flush=True)

    if not quiet:
        todo = sum(not c.finished for c in cells)
        print(f"sweep {plan.kind}: {len(cells)} cells ({todo} to run) with {plan.workers} worker(s), backend "
              f"{plan.backend}, logdir {exp.path}", flush=True)
    if plan.backend == "ray":
        return run_ray(cells, plan.workers, plan.ray_address, report)
    return run_local(cells, plan.workers, report)


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
    results = run_sweep(SweepPlan(args.kind, args.alpha, args.seed, args.logdir, tasks, args.extra, args.workers,
                                  args.backend, args.ray_address))
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    print(f"sweep finished: {done} ran, {skipped} skipped (finished earlier), {len(failed)} failed")
    for r in failed:
        print(f"  failed {r.cell.run_name} (exit {r.returncode}): {r.message}; log: {r.cell.log_file}")
    return 1 if failed else 0
