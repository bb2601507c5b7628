"""Progress for people: a live bar on a terminal, a plain line now and then in a log file, and the one-line
announcements of what a command is doing (which run directory it writes, when it finished).

- :func:`progress` gives a tqdm bar when stderr is a terminal; otherwise (a sweep cell's log, a job
  scheduler's output file) a line every tenth of the way, instead of a bar redrawn hundreds of times.
- :data:`log` is the ``rlgan_ls`` logger. The library announces run directories on it at INFO level;
  nothing is printed unless the application configures logging. The ``rlgan-ls`` command prints these
  lines (:func:`print_announcements`) and remembers the last run directory, to say how to resume.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["LineProgress", "Announcements", "log", "print_announcements", "progress"]

log = logging.getLogger("rlgan_ls")


class LineProgress:
    """tqdm's ``update``/``set_postfix``/``close`` as a plain line every ``every`` of ``total`` (on stderr)."""

    def __init__(self, total: int, desc: str, initial: int = 0, unit: str = "it", every: float = 0.1) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.step = max(1, round(total * every))
        self._next = (initial // self.step + 1) * self.step
        self._t0, self._n0, self._postfix = time.perf_counter(), initial, ""

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self._next or self.n == self.total:
            self._next = (self.n // self.step + 1) * self.step
            rate = (self.n - self._n0) / max(time.perf_counter() - self._t0, 1e-9)
            print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f} %, "
                  f"{rate:.3g} {self.unit}/s){self._postfix}", file=sys.stderr, flush=True)

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self._postfix = "".join(f", {k} {v}" for k, v in items.items())

    def close(self) -> None:
        pass

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total: int, desc: str, enabled: bool = True, initial: int = 0, unit: str = "it") -> Any:
    """A progress display: a tqdm bar on a terminal, :class:`LineProgress` otherwise, nothing when not
    ``enabled`` (both answer ``update``, ``set_postfix`` and ``close``)."""
    from tqdm import tqdm

    if enabled and not sys.stderr.isatty():
        return LineProgress(total, desc, initial, unit)
    return tqdm(total=total, initial=initial, disable=not enabled, unit=unit, dynamic_ncols=True, desc=desc,
                leave=False)


class Announcements(logging.Handler):
    """Prints the library's announcements on stdout and remembers the last run directory named."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.run_dir: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.run_dir = getattr(record, "run_dir", self.run_dir)
        print(record.getMessage(), flush=True)


def print_announcements() -> Announcements:
    """Print the ``rlgan_ls`` logger's announcements (once per process); the handler that does it."""
    for h in log.handlers:
        if isinstance(h, Announcements):
            return h
    handler = Announcements()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler
