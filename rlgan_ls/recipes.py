"""TOML recipes -> typed, validated config dataclasses.

Config flows one way: dataclass defaults, then a recipe file, then command-line flags (each layer
overrides the one before; ``None`` means "not given"). The merged values are type-checked against
the dataclass fields here, at the boundary, and the dataclass's ``__post_init__`` checks the ranges.
Code after that trusts the config.

Recipe folders ``agents/``, ``gan/`` and ``envs/`` live at the repository root. In a source checkout
or editable install they are found next to the package; a wheel installs them under
``<prefix>/share/rlgan-ls/``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import UsageError

__all__ = ["add_config_flags", "build_config", "field_docs", "find_recipe", "flags_layer", "list_recipes",
           "load_toml", "recipe_dirs", "recipe_layer", "resumable", "resumable_fields"]

C = TypeVar("C")
RECIPE_FOLDERS = ("agents", "gan", "envs")


def recipe_dirs(folder: str) -> list[Path]:
    """Where recipes of one kind may live, first match wins."""
    if folder not in RECIPE_FOLDERS:
        raise ValueError(f"folder must be one of {RECIPE_FOLDERS}, got {folder!r}")
    candidates = [Path(__file__).resolve().parent.parent / folder,
                  Path(sys.prefix) / "share" / "rlgan-ls" / folder]
    return [p for p in candidates if p.is_dir()]


def list_recipes(folder: str) -> list[str]:
    names: set[str] = set()
    for d in recipe_dirs(folder):
        names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def find_recipe(folder: str, name: str) -> Path | None:
    """The recipe file ``<folder>/<name>.toml``, or None. ``name`` may also be a path to a file."""
    as_path = Path(name)
    if as_path.suffix == ".toml":
        if not as_path.is_file():
            raise UsageError(f"recipe file {name} does not exist")
        return as_path
    for d in recipe_dirs(folder):
        candidate = d / f"{name}.toml"
        if candidate.is_file():
            return candidate
    return None


def recipe_layer(folder: str, explicit: str | None, default: str) -> tuple[dict[str, Any] | None, str]:
    """A pipeline's recipe as a config layer: ``--recipe NAME|FILE`` if given, else ``<folder>/<default>.toml``.

    An explicit recipe must exist; the default one is optional (no tuned values: defaults and flags
    only). Returns the layer (None without a recipe) and where it came from, for error messages.
    """
    path = find_recipe(folder, explicit or default)
    if path is None and explicit is not None:
        raise UsageError(f"--recipe {explicit}: no {folder}/{explicit}.toml; pass a recipe name or a .toml path")
    return (load_toml(path), f"recipe {path}") if path is not None else (None, "flags")


def load_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"recipe file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"recipe file {path} is not valid TOML: {e}") from None


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a field's type hint, converting int->float and lists->tuples."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(name, value, option)
            except UsageError as e:
                errors.append(str(e))
        raise UsageError(errors[0] if errors else f"{name}: unexpected value {value!r}")
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise UsageError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{name} must be a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        coerced = [_coerce(name, v, item) for v in value]
        return tuple(coerced) if origin is tuple else coerced
    if hint is Any:
        return value
    if hint is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise UsageError(f"{name} must be a table, got {value!r}")
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise UsageError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise UsageError(f"{name} must be a string, got {value!r}")
        return value
    return value


def build_config(cls: type[C], *layers: Mapping[str, Any] | None, source: str = "config") -> C:
    """Merge ``layers`` (later wins, ``None`` values skipped) into the dataclass ``cls``.

    Unknown keys are an error naming the key and the valid ones (a typo in a recipe must not be
    silently ignored). ``source`` names where bad keys came from, for the message.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in layer.items():
            norm = key.replace("-", "_")
            if norm not in fields:
                valid = ", ".join(sorted(fields))
                raise UsageError(f"{source}: unknown setting {key!r}; valid settings are: {valid}")
            if value is not None:
                merged[norm] = _coerce(norm, value, hints[norm])
    return cls(**merged)


def resumable(default: Any) -> Any:
    """A config field that may change when a run is resumed (budgets, cadences, hardware)."""
    return dataclasses.field(default=default, metadata={"resumable": True})


def resumable_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields of ``cls`` declared with :func:`resumable`."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("resumable"))


# ------------------------------------------------------------------ dataclass fields -> CLI flags

def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal after each field) of a dataclass, by field name."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = nxt.value.value
    return docs


def _arg_type(hint: Any) -> tuple[Any, list[str] | None, str | None]:
    """argparse ``type``, ``choices`` and ``nargs`` for a field's type hint (``X | None`` counts as ``X``;
    a tuple or list of X takes one or more values)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) in (tuple, list):
        item, choices, _ = _arg_type(typing.get_args(hint)[0])
        return item, choices, "+"
    if typing.get_origin(hint) is typing.Literal:
        return str, [str(c) for c in typing.get_args(hint)], None
    if hint in (int, float, str, bool):
        return hint, None, None
    return str, None, None


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per dataclass field, its docstring as help.

    Every default is None ("not given"), so a flag overrides a recipe only when the user passes it
    (see :func:`flags_layer`); the help text shows the dataclass default.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{docs.get(f.name, '')} (default: {f.default})".replace("%", "%%")
        typ, choices, nargs = _arg_type(hints[f.name])
        if typ is bool and nargs is None:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
            continue
        parser.add_argument(flag, dest=f.name, type=typ, choices=choices, default=None, nargs=nargs,
                            metavar=None if choices else f.name.upper(), help=help_text)


def flags_layer(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags the user actually gave, as a config layer for :func:`build_config`."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}
