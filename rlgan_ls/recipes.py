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
from typing import Any, ClassVar, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import UsageError

__all__ = ["RunConfig", "build_config", "find_recipe", "list_recipes", "load_toml", "recipe_dirs", "recipe_layer",
           "recipe_summary", "resumable", "resumable_fields"]

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


def recipe_summary(folder: str) -> str:
    """Every recipe of ``folder`` with the settings it changes, for ``--help``: where a default can come from."""
    lines = []
    for name in list_recipes(folder):
        path = find_recipe(folder, name)
        assert path is not None  # listed, so it exists
        settings = ", ".join(f"{k}={v!r}" for k, v in load_toml(path).items() if not isinstance(v, dict))
        lines.append(f"  {name}: {settings or '(no settings)'}")
    return "\n".join(lines)


R = TypeVar("R", bound="RunConfig")


class RunConfig:
    """What both pipelines' config dataclasses share (``DistillConfig``, ``GANConfig``).

    - :meth:`from_recipe`: defaults, then the task's recipe (``agents/<env>.toml``, ``gan/<dataset>.toml``)
      or an explicit one, then keyword overrides: the same layers the CLI applies, so a run started from
      Python and one started from the command line get the same config.
    - :meth:`record`: the config as ``config.json`` stores it; a field that does not apply to the run
      (:meth:`inapplicable`) is stored as None, not as a value the run never used.
    - :meth:`hparams`: what TensorBoard's HParams tab lists for the run.
    """

    RECIPES: ClassVar[str]
    """The recipe folder of the pipeline."""
    TASK: ClassVar[str]
    """The field that names the run's task (env or dataset)."""
    HPARAMS: ClassVar[tuple[str, ...]]
    """Fields shown in the HParams tab."""

    @classmethod
    def recipe_name(cls, task: str) -> str:
        """The default recipe of ``task`` (its name in the recipe folder)."""
        return task

    @classmethod
    def from_recipe(cls: type[R], task: str | None = None, recipe: str | None = None, **overrides: Any) -> R:
        """The config for ``task``: its recipe (or ``recipe``, a name or .toml path), then ``overrides``."""
        task = task or overrides.pop(cls.TASK, None) or getattr(cls, cls.TASK)
        overrides.pop(cls.TASK, None)
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise UsageError(f"{cls.__name__}.from_recipe: unknown setting(s) {', '.join(unknown)}")
        layer, source = recipe_layer(cls.RECIPES, recipe, cls.recipe_name(task))
        return build_config(cls, layer, {cls.TASK: task, **overrides}, source=source)

    def inapplicable(self) -> tuple[str, ...]:
        """Fields that do not apply to this run (stored as None)."""
        return ()

    def record(self) -> dict[str, Any]:
        """The config as ``config.json`` and checkpoints store it."""
        skip = set(self.inapplicable())
        return {f.name: (None if f.name in skip else getattr(self, f.name))
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def hparams(self) -> dict[str, Any]:
        """The HParams tab's row for this run (an empty setting reads ``none``)."""
        return {k: (getattr(self, k) if getattr(self, k) not in ("", None) else "none") for k in self.HPARAMS}
