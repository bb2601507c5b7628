"""One cell of a sweep as a process: its command, what an earlier attempt left, and the sweep's children.

A cell runs the ordinary command (``rlgan-ls distill`` or ``rlgan-ls gan``) in a child process whose
import path does not include the working directory (``python -P``), so a stray ``tqdm.py`` in the
folder the sweep was started from is never imported. Before it starts, the cell's run directory is
looked at:

- finished (``metrics.json``): skipped;
- being written by another live process (its lock is held): left alone, reported ``busy``;
- a GAN run with a loadable checkpoint: continued from it (``--resume``);
- anything else an earlier attempt left: removed, and the cell starts over.

The sweep tracks its children: SIGINT or SIGTERM to the sweep stops them (SIGTERM, then SIGKILL after a
grace period), and a child whose sweep dies, even by ``kill -9``, stops itself (``RLGAN_LS_PARENT_PID``,
watched by :func:`rlgan_ls.cli.main`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
from ..runs import Run
from ..storage import sanitize

__all__ = ["PARENT_ENV", "Cell", "CellResult", "Children", "Launcher", "cell_command", "cell_config", "cell_name",
           "run_cell", "stop_all"]

PARENT_ENV = "RLGAN_LS_PARENT_PID"
"""Set in a cell's environment to the pid of the process that started it; the cell stops when it dies."""


def cell_name(task: str, alpha: float, seed: int, level: str = "") -> str:
    """``<task>[-<grid point>]-a<alpha>-s<seed>``."""
    return f"{sanitize(task)}{'-' + level if level else ''}-a{alpha:g}-s{seed}"


def cell_command() -> tuple[str, ...]:
    """``python -m rlgan_ls.cli`` without the working directory on the import path."""
    if sys.version_info >= (3, 11):
        return sys.executable, "-P", "-m", "rlgan_ls.cli"
    # 3.10 has no -P: with -c, sys.path[0] is "" (the working directory); drop it before importing.
    return sys.executable, "-c", "import sys; del sys.path[0]; from rlgan_ls.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class Cell:
    """One (task, alpha, seed) point of the grid and the command that runs it."""

    kind: str
    task: str
    alpha: float
    seed: int
    run_name: str
    run_dir: Path
    log_file: Path
    args: tuple[str, ...]
    """The ``rlgan-ls`` arguments that run the cell."""

    @property
    def argv(self) -> tuple[str, ...]:
        """The cell as a command line of its own."""
        return (*cell_command(), *self.args)

    @property
    def finished(self) -> bool:
        return Run(self.run_dir).finished


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    status: str
    """``done``, ``skipped`` (finished earlier), ``busy`` (another process is writing it), ``stopped``
    (the sweep was stopped first) or ``failed``."""
    returncode: int
    seconds: float
    message: str = ""


class Launcher(Protocol):
    """How a sweep starts its cells: :class:`Children` (a process per cell) or persistent workers
    (:class:`rlgan_ls.study.workers.Workers`)."""

    def run(self, args: tuple[str, ...], log_file: Path, threads: int) -> int | None: ...

    def stop(self, grace: float = 10.0) -> None: ...

    def close(self) -> None: ...


class Children:
    """The cell processes a sweep has running, so that stopping the sweep stops them."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def run(self, args: tuple[str, ...], log_file: Path, threads: int) -> int | None:
        """Run ``rlgan-ls ARGS`` as a process of its own with output to ``log_file``; its exit code, or None if
        the sweep is stopping."""
        argv = (*cell_command(), *args)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{PARENT_ENV: str(os.getpid())})
        env.setdefault("OMP_NUM_THREADS", str(threads))  # cells share the machine's cores
        with open(log_file, "a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            with self._lock:
                if self.stopping:
                    return None
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
                self._procs.add(proc)
            try:
                return proc.wait()
            finally:
                with self._lock:
                    self._procs.discard(proc)

    def stop(self, grace: float = 10.0) -> None:
        """No new cells; SIGTERM to the running ones, SIGKILL to any still alive after ``grace`` seconds."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
        stop_all(procs, grace)

    def close(self) -> None:
        """Nothing stays running between cells."""


def stop_all(procs: list[subprocess.Popen], grace: float) -> None:
    """SIGTERM to ``procs``, SIGKILL to any still alive after ``grace`` seconds."""
    for p in procs:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(p, signal.SIGKILL)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _resumable(cell: Cell) -> bool:
    """The cell's leftover run is a GAN run whose checkpoint loads."""
    if cell.kind != "gan" or not Run(cell.run_dir).checkpoint_file.is_file():
        return False
    from ..dcgan.state import load_run_checkpoint

    try:
        load_run_checkpoint(cell.run_dir)
    except UsageError:
        return False
    return True


def run_cell(cell: Cell, threads: int = 1, launcher: Launcher | None = None) -> CellResult:
    """Run one cell to completion with ``launcher`` (default: a process of its own; see the module docstring
    for what it starts from). Never raises for a failure of the cell."""
    if cell.finished:
        return CellResult(cell, "skipped", 0, 0.0, "finished earlier")
    run, args, note = Run(cell.run_dir), cell.args, ""
    if run.busy:
        return CellResult(cell, "busy", 0, 0.0, f"another process (pid {run.lock.holder()}) is writing it")
    if _resumable(cell):
        args, note = (*cell.args, "--resume", str(cell.run_dir)), " (continued from its checkpoint)"
    elif cell.run_dir.exists():
        # An earlier attempt died with nothing to continue from; its partial event files would otherwise
        # be merged into this attempt's curves. Its log is kept (appended to).
        shutil.rmtree(cell.run_dir)
    cell.log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rc = (launcher or Children()).run(args, cell.log_file, threads)
    seconds = time.perf_counter() - t0
    if rc is None:
        return CellResult(cell, "stopped", 0, 0.0, "the sweep was stopped before it started")
    if rc == 0 and cell.finished:
        return CellResult(cell, "done", 0, seconds, note.strip(" ()"))
    reason = _last_line(cell.log_file) if rc != 0 else "exited 0 but wrote no metrics.json"
    return CellResult(cell, "failed", rc or 1, seconds, reason)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line, built once for every cell of the sweep (parsing does not change it)."""
    from ..cli import build_parser

    return build_parser()


def cell_config(cell: Cell) -> Any:
    """The config the cell's command builds (parsed and validated as the cell will): a typo in a flag passed
    on to the cells fails here, in one line, instead of in every cell."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = _parser().parse_args(list(cell.args))
    except SystemExit:
        said = (err.getvalue().strip().splitlines() or ["?"])[-1].split("error: ", 1)[-1]
        raise UsageError(f"a flag passed on to the cells is wrong: {said.split(' (see ')[0]}") from None
    if cell.kind == "gan":
        from ..dcgan.commands import config_from_args

        return config_from_args(args)
    from ..distill.commands import config_from_args as distill_config

    return distill_config(args)


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"
