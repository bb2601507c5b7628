"""``sweep --ensemble``: a distillation sweep's cells trained together, in ensembles of one task and shape.

Cells of one task whose settings agree in everything but alpha, seed, prior, loss and label noise
(:data:`rlgan_ls.distill.ensemble.MEMBER_SETTINGS`) form one group; cells that differ in a shape
(another architecture, other bins, another budget) go to a group of their own, said in one line. The sweep
splits each group into one ensemble per worker (:func:`rlgan_ls.study.sweep._units`). An
ensemble is one job for a worker (or one process with ``--isolate``): ``rlgan-ls ensemble SPEC.json``,
whose spec lists each member's ``rlgan-ls distill`` arguments and whose output goes to the log of its first
member (the others' logs point there). Every member still writes its own run directory, and the usual
rules apply member by member: finished ones are skipped, busy ones left alone, leftovers removed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence

from ..runs import Run
from ..storage import write_json
from .cells import Cell, CellResult, Launcher, cell_config

__all__ = ["group_cells", "run_group"]


def group_cells(cells: Sequence[Cell]) -> list[list[Cell]]:
    """The cells as ensembles: one per (task, shape), in the order the cells come."""
    from ..distill.ensemble import shape_key

    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.task, shape_key(cell_config(cell))), []).append(cell)  # type: ignore[arg-type]
    return list(groups.values())


def run_group(cells: Sequence[Cell], threads: int, launcher: Launcher) -> list[CellResult]:
    """Train the group's unfinished cells as one ensemble; one result per cell, in order."""
    results: dict[str, CellResult] = {}
    todo = []
    for cell in cells:
        run = Run(cell.run_dir)
        if cell.finished:
            results[cell.run_name] = CellResult(cell, "skipped", 0, 0.0, "finished earlier")
        elif run.busy:
            results[cell.run_name] = CellResult(cell, "busy", 0, 0.0,
                                                f"another process (pid {run.lock.holder()}) is writing it")
        else:
            if cell.run_dir.exists():
                shutil.rmtree(cell.run_dir)  # a distillation run has nothing to continue from
            todo.append(cell)
    if todo:
        results.update(_train(todo, threads, launcher))
    return [results[c.run_name] for c in cells]


def _train(cells: list[Cell], threads: int, launcher: Launcher) -> dict[str, CellResult]:
    log = cells[0].log_file
    log.parent.mkdir(parents=True, exist_ok=True)
    spec = log.with_suffix(".ensemble.json")
    write_json(spec, {"members": [list(c.args) for c in cells]})
    for c in cells[1:]:
        with open(c.log_file, "a") as f:
            f.write(f"trained in an ensemble of {len(cells)} with {cells[0].run_name}: see {log}\n")
    t0 = time.perf_counter()
    rc = launcher.run(("ensemble", str(spec)), log, threads)
    seconds = time.perf_counter() - t0
    out: dict[str, CellResult] = {}
    for c in cells:
        if rc is None:
            out[c.run_name] = CellResult(c, "stopped", 0, 0.0, "the sweep was stopped before it started")
        elif c.finished:
            out[c.run_name] = CellResult(c, "done", 0, seconds, f"in an ensemble of {len(cells)}")
        else:
            out[c.run_name] = CellResult(c, "failed", rc or 1, seconds, f"the ensemble's log says why: {log}")
    return out
