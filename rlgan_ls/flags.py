"""Config dataclasses as command-line flags: one ``--field-name`` per field, its docstring as ``--help``.

Every flag's default is None ("not given"), so a flag overrides a recipe only when the user passes it
(:func:`flags_layer`). The help text shows the built-in default and says that a recipe may replace it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import re
import types
import typing
from typing import Any

__all__ = ["add_config_flags", "arg_type", "field_docs", "flags_layer", "help_text"]


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal after each field) of a dataclass, by field name (read once
    per class: parsing the source is most of the time it takes to build the command line)."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = nxt.value.value
    return docs


def arg_type(hint: Any) -> tuple[Any, list[str] | None, str | None]:
    """argparse ``type``, ``choices`` and ``nargs`` for a field's type hint (``X | None`` counts as ``X``;
    a tuple or list of X takes one or more values, and so does ``X | tuple[X, ...]``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        several = [a for a in args if typing.get_origin(a) in (tuple, list)]
        hint = several[0] if several else args[0] if len(args) == 1 else hint
    if typing.get_origin(hint) in (tuple, list):
        item, choices, _ = arg_type(typing.get_args(hint)[0])
        return item, choices, "+"
    if typing.get_origin(hint) is typing.Literal:
        return str, [str(c) for c in typing.get_args(hint)], None
    if hint in (int, float, str, bool):
        return hint, None, None
    return str, None, None


def help_text(doc: str, default: Any) -> str:
    """A field's docstring as one help line: reST markup removed, the default appended unless the
    docstring already says what it is (``default: ...`` or ``default ...``)."""
    text = " ".join(re.sub(r"``([^`]*)``", r"\1", doc).split())
    if re.search(r"\bdefault[: ]", text):
        return text.replace("%", "%%")
    if isinstance(default, bool) or default is None or default == () or default == "":
        shown = {True: "on", False: "off", None: "none", (): "none", "": "none"}[default]
    else:
        shown = str(default)
    return f"{text} (default: {shown})".replace("%", "%%")


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per dataclass field of ``cls`` (all but ``skip``), its docstring as help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = help_text(docs.get(f.name, ""), f.default)
        typ, choices, nargs = arg_type(hints[f.name])
        if typ is bool and nargs is None:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
            continue
        parser.add_argument(flag, dest=f.name, type=typ, choices=choices, default=None, nargs=nargs,
                            metavar=None if choices else f.name.upper(), help=help_)


def flags_layer(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags the user actually gave, as a config layer for :func:`rlgan_ls.recipes.build_config`."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}
