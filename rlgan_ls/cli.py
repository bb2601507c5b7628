"""The ``rlgan-ls`` command.

Each pipeline module contributes its subcommands through a ``register(subparsers)`` function that
adds parsers and sets ``func`` (called with the parsed namespace, returning an exit code). Bad input
anywhere surfaces as :class:`~rlgan_ls.errors.UsageError`: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import UsageError

# Modules that register subcommands, in --help order.
COMMAND_MODULES: tuple[str, ...] = (
    "rlgan_ls.core_demo",
    "rlgan_ls.dcgan.commands",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passthrough", False):
        args.extra = extra  # e.g. `sweep` hands unknown flags on to the command it runs
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"rlgan-ls {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rlgan-ls {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
