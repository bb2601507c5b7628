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

import dataclasses
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

__all__ = ["build_config", "find_recipe", "list_recipes", "load_toml", "recipe_dirs"]

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
