"""One writer per run directory: an exclusive advisory lock on a file inside it.

The lock is ``flock`` on ``<run>/.lock``, held by the process writing the run for as long as it writes.
The operating system drops it when that process ends, however it ends (``kill -9`` included), so a
stale lock never blocks a rerun; a second writer, or a sweep about to restart the cell, finds it held
and keeps away. The file holds the writer's pid, for the message. Where ``fcntl`` does not exist
(Windows) runs are not locked.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DirLock", "LOCK_NAME"]

LOCK_NAME = ".lock"


class DirLock:
    """The lock of one directory (not taken until :meth:`acquire`)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if fcntl is None or self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def held_elsewhere(self) -> bool:
        """Another process holds the lock right now."""
        if fcntl is None or self._fd is not None or not self.path.is_file():
            return False
        probe = DirLock(self.path.parent)
        if probe.acquire():
            probe.release()
            return False
        return True

    def holder(self) -> str:
        """The pid written by the holder, or ``?``."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"
