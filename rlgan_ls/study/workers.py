"""Persistent workers: cell processes that import the suite once and then run cell after cell.

A cell run as its own process pays for importing torch, Stable-Baselines3 and gymnasium, loading its
teacher and opening its files before the first environment step: seconds, several times the run itself
for a small student. A worker pays that once. The sweep hands it one cell at a time over a pipe (one JSON
line each way: the cell's ``rlgan-ls`` arguments and its log file; the exit code); the worker runs the
cell with :func:`rlgan_ls.cli.main` in its main thread, with its stdout and stderr (file descriptors
included) sent to the cell's log, exactly as the command would. Read-only objects (teachers, datasets,
the evaluation classifier) are kept in memory between cells by the functions that load them.

Isolation stays: a cell that raises something the command does not handle, or a worker that dies (killed,
out of memory), fails that cell only; the worker is replaced and the sweep goes on. The sweep's stop
(Ctrl-C, SIGTERM) stops its workers, and a worker whose sweep died stops itself (``RLGAN_LS_PARENT_PID``).

    python -P -m rlgan_ls.study.workers     (started by the sweep, never by hand)
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from .cells import PARENT_ENV, stop_all

__all__ = ["InProcess", "Workers", "run_in_process", "serve"]


def run_in_process(args: list[str], log_file: str | os.PathLike) -> tuple[int, bool]:
    """Run ``rlgan-ls ARGS`` in this process, its output (Python's and C's) appended to ``log_file``;
    the exit code, and whether this process is still fit to run another cell."""
    import torch

    from ..cli import main

    threads = torch.get_num_threads()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "a") as log:
        log.write(f"$ rlgan-ls {' '.join(args)}   (worker {os.getpid()})\n")
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        healthy = True
        try:
            rc = main(args)
        except SystemExit as e:  # argparse rejecting a flag: exit code 2 and its one line, as a process would
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - whatever the cell raised, it is the cell's failure
            traceback.print_exc()
            rc, healthy = 1, False
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            torch.set_num_threads(threads)  # a cell may have changed it; the next one starts as this one did
    return rc, healthy


def serve(jobs: IO[str], replies: IO[str]) -> None:
    """The worker's loop: a JSON line ``{"args": [...], "log": path}`` in, ``{"rc": n, "healthy": b}`` out."""
    for line in jobs:
        job = json.loads(line)
        rc, healthy = run_in_process(job["args"], job["log"])
        healthy = healthy and rc not in (130, 143)  # an interrupted cell: the sweep is stopping
        replies.write(json.dumps({"rc": rc, "healthy": healthy}) + "\n")
        replies.flush()
        if not healthy:
            break


class InProcess:
    """Runs cells in this process, one after another (the launcher of a Ray trial: Ray's worker process is
    the persistent worker)."""

    def run(self, args: tuple[str, ...], log_file: Path, threads: int) -> int | None:
        import torch

        torch.set_num_threads(threads)
        return run_in_process(list(args), log_file)[0]

    def stop(self, grace: float = 10.0) -> None:
        """Nothing to stop: the cell runs in the caller's own process."""

    def close(self) -> None:
        """Nothing stays running."""


class _Worker:
    """One worker process and its pipe."""

    def __init__(self, threads: int) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{PARENT_ENV: str(os.getpid())})
        env.setdefault("OMP_NUM_THREADS", str(threads))
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", "rlgan_ls.study.workers"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        self.healthy = True

    def run(self, args: list[str], log_file: Path) -> int:
        """The cell's exit code; a dead worker's cell gets the signal that killed it, negated, or 1."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps({"args": args, "log": str(log_file)}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:  # the worker died with the cell
            self.healthy = False
            rc = self.proc.wait()
            with open(log_file, "a") as log:
                log.write(f"the worker running this cell died (exit {rc}); the sweep replaces it\n")
            return rc or 1
        reply = json.loads(line)
        self.healthy = bool(reply["healthy"])
        return int(reply["rc"])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass


class Workers:
    """Up to ``size`` persistent workers, started as cells need them; the sweep's launcher (as
    :class:`~rlgan_ls.study.cells.Children` is for one process per cell)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def start(self, n: int, threads: int) -> None:
        """Start ``n`` workers now (at most ``size``), so that their imports overlap the sweep's planning."""
        for _ in range(min(n, self.size) - len(self._all)):
            worker = _Worker(threads)
            with self._lock:
                self._all.add(worker)
            self._idle.put(worker)

    def run(self, args: tuple[str, ...], log_file: Path, threads: int) -> int | None:
        """Run ``rlgan-ls ARGS`` in a free worker; its exit code, or None when the sweep is stopping."""
        with self._lock:
            if self.stopping:
                return None
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            worker = _Worker(threads)
            with self._lock:
                self._all.add(worker)
        rc = worker.run(list(args), log_file)
        if worker.healthy and not self.stopping:
            self._idle.put(worker)
        else:
            self._retire(worker)
        return rc

    def _retire(self, *workers: _Worker) -> None:
        """Let ``workers`` exit (all at once) and wait for them; one that does not exit in 5 s is killed."""
        with self._lock:
            self._all.difference_update(workers)
        for w in workers:
            if w.proc.stdin is not None:
                w.proc.stdin.close()  # a healthy worker reads EOF and exits
        for w in workers:
            try:
                w.proc.wait(5)
            except subprocess.TimeoutExpired:
                w.stop(signal.SIGKILL)
                w.proc.wait()  # reaped, not left a zombie

    def stop(self, grace: float = 10.0) -> None:
        """No new cells; SIGTERM to every worker, SIGKILL to any still alive after ``grace`` seconds."""
        with self._lock:
            self.stopping = True
            workers = list(self._all)
        stop_all([w.proc for w in workers], grace)

    def close(self) -> None:
        """Let the idle workers exit (the end of a sweep)."""
        with self._lock:
            workers = list(self._all)
        self._retire(*workers)


def _main() -> None:
    import rlgan_ls.dcgan.train  # noqa: F401 - the imports every cell would pay for, paid once
    import rlgan_ls.distill.trainer  # noqa: F401

    from ..cli import _stop_with_parent
    from ..progress import print_announcements

    _stop_with_parent()
    print_announcements()
    replies = os.fdopen(os.dup(1), "w")  # the pipe to the sweep; fd 1 itself goes to each cell's log
    serve(sys.stdin, replies)
    # Every cell has closed its files and the last reply is flushed: leave without the interpreter's teardown
    # of torch and the envs (about a second per worker at the end of every sweep).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _main()
