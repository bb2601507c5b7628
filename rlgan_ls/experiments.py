"""An experiment folder: the runs of one study, side by side.

A sweep's ``--logdir`` holds one run directory per cell (:class:`~rlgan_ls.runs.Run`), ``sweep.json`` (the
plan the sweep recorded: kind, tasks, alphas, seeds, pass-through flags, cell names) and ``logs/`` (each
cell's output). ``compare`` reads any folder of runs; a sweep's plan tells it which runs to expect.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .storage import read_json, write_json

__all__ = ["Experiment"]

_SWEEP = "sweep.json"
_LOGS = "logs"


@dataclass(frozen=True)
class Experiment:
    """A folder of runs: a study. A sweep records its plan in ``sweep.json`` and its cells' output in ``logs/``."""

    path: Path

    @property
    def plan_file(self) -> Path:
        return self.path / _SWEEP

    def plan(self) -> dict[str, Any] | None:
        """What the sweep that made this folder recorded, or None for a folder of runs made by hand."""
        return read_json(self.plan_file) if self.plan_file.is_file() else None

    def write_plan(self, plan: Mapping[str, Any]) -> None:
        """Record a sweep's plan. A folder that holds an earlier sweep's plan keeps it: ``sweeps`` lists every
        plan, and the top-level fields are their union (cells, tasks, alphas, seeds, grid values)."""
        old = self.plan() if self.plan_file.is_file() else None
        if not isinstance(old, dict):
            write_json(self.plan_file, {**plan, "sweeps": [dict(plan)]})
            return
        if old.get("kind") != plan.get("kind"):
            raise UsageError(f"--logdir {self.path} holds a {old.get('kind')} sweep; give the {plan.get('kind')} "
                             f"sweep a folder of its own")
        sweeps = list(old.get("sweeps", [old]))
        merged = {**plan, "sweeps": sweeps if dict(plan) in sweeps else [*sweeps, dict(plan)]}
        for key in ("cells", "tasks", "alphas", "seeds"):
            merged[key] = list(dict.fromkeys([*old.get(key, []), *plan.get(key, [])]))
        grid = dict(old.get("grid") or {})
        for key, values in (plan.get("grid") or {}).items():
            grid[key] = list(dict.fromkeys([*grid.get(key, []), *values]))
        merged["grid"] = grid
        write_json(self.plan_file, merged)

    @property
    def logs_dir(self) -> Path:
        """Where a sweep keeps its cells' output."""
        return self.path / _LOGS

    def log_file(self, run_name: str) -> Path:
        return self.logs_dir / f"{run_name}.log"

    def run_dirs(self) -> Iterator[Path]:
        """Sub-folders that may be runs (the logs folder aside), by name."""
        for p in sorted(self.path.iterdir()):
            if p.is_dir() and p.name != _LOGS:
                yield p
