"""The ``rlgan-ls`` command.

Each pipeline module contributes its subcommands through a ``register(subparsers)`` function that
adds parsers and sets ``func`` (called with the parsed namespace, returning an exit code). Bad input
anywhere surfaces as :class:`~rlgan_ls.errors.UsageError`: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from .errors import TrainingDiverged, UsageError
from .progress import print_announcements

# Modules that register subcommands, in --help order.
COMMAND_MODULES: tuple[str, ...] = (
    "rlgan_ls.core_demo",
    "rlgan_ls.dcgan.commands",
    "rlgan_ls.dcgan.sample_commands",
    "rlgan_ls.dcgan.score_commands",
    "rlgan_ls.distill.commands",
    "rlgan_ls.distill.sb3_commands",
    "rlgan_ls.study.sweep",
    "rlgan_ls.study.compare",
    "rlgan_ls.demo",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlgan-ls", description="Label smoothing for policy distillation and GANs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that runs close their files."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _stop_with_parent() -> None:
    """A sweep's cell (``RLGAN_LS_PARENT_PID`` set) stops itself when the sweep that started it is gone,
    however it went (``kill -9`` included): the operating system then gives the cell another parent."""
    parent = os.environ.pop("RLGAN_LS_PARENT_PID", None)  # popped: what this process starts is its own
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="rlgan-ls-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _stop_with_parent()
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passthrough", False):
        args.extra = extra  # e.g. `sweep` hands unknown flags on to the command it runs
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    announced = print_announcements()  # "run directory: ..." and "finished: ..." lines
    announced.run_dir = None
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"rlgan-ls {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"rlgan-ls {args.command}: stopped: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a path that is a file, read-only or full: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"rlgan-ls {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        what = "stopped (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        again = list(sys.argv[1:] if argv is None else argv)
        print(f"rlgan-ls {args.command}: {what}; {_how_to_continue(args.command, announced.run_dir, again)}",
              file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130


def _how_to_continue(command: str, run_dir: str | None, argv: list[str]) -> str:
    """The exact command that picks up where an interrupted one stopped."""
    from .runs import Run

    same = "rlgan-ls " + shlex.join(argv)
    if command == "gan" and run_dir and Run(run_dir).checkpoint_file.is_file():
        return f"continue with: rlgan-ls gan --resume {shlex.quote(run_dir)}"
    if command in ("sweep", "demo"):
        return f"continue with the same command (finished cells are skipped, GAN cells resume): {same}"
    if command == "gan" and run_dir:
        return f"it stopped before its first checkpoint; start again with: {same}"
    return f"start again with: {same}"


if __name__ == "__main__":
    sys.exit(main())
