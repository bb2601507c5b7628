"""``sweep --grid KEY=V1,V2,...``: factors beside alpha and seed (label noise, a demonstration budget, a
discriminator's width ...), each a setting of the pipeline's config.

Every (task, grid point, alpha, seed) is a cell, named ``<task>-<key><value>-...-a<alpha>-s<seed>`` and
run with ``--key value`` for each grid key. The values are checked as the flag itself checks them (its
type and choices here; its range when the sweep builds every grid point's config); a key the sweep sets
itself, a key given twice or also passed on as a flag, an empty value list: one line, before any cell.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Sequence
from dataclasses import dataclass

from .. import tags
from ..errors import UsageError
from ..flags import arg_type
from ..storage import sanitize

__all__ = ["Grid"]

_SET_BY_THE_SWEEP = {"alpha", "seed", "logdir", "run_name", "progress", *tags.TASK_KEY.values()}


def _config_class(kind: str) -> type:
    if kind == "distill":
        from ..distill.config import DistillConfig

        return DistillConfig
    from ..dcgan.config import GANConfig

    return GANConfig


@dataclass(frozen=True)
class Grid:
    """The grid's axes: (config field, its values as given), in the order of the ``--grid`` flags."""

    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, kind: str, items: Sequence[str], passed_on: Sequence[str] = ()) -> Grid:
        """``--grid`` items of a ``kind`` sweep; :class:`UsageError` naming the item and the problem."""
        config = _config_class(kind)
        hints = typing.get_type_hints(config)
        fields = {f.name for f in dataclasses.fields(config)}
        axes: list[tuple[str, tuple[str, ...]]] = []
        for item in items:
            key, sep, text = item.partition("=")
            field = key.strip().replace("-", "_")
            values = tuple(v.strip() for v in text.split(",")) if sep else ()
            if not sep or not field or not all(values):
                raise UsageError(f"--grid {item}: expected KEY=V1,V2,... with at least one value")
            if field not in fields:
                raise UsageError(f"--grid {item}: {kind} has no setting {key!r}")
            if field in _SET_BY_THE_SWEEP:
                raise UsageError(f"--grid {item}: the sweep sets {key} itself; use its own flags for it")
            if any(field == f for f, _ in axes) or _flag(field) in passed_on:
                raise UsageError(f"--grid {item}: {key} is given twice (another --grid, or {_flag(field)} passed on)")
            if len(set(values)) != len(values):
                raise UsageError(f"--grid {item}: a value is listed twice")
            for v in values:
                _check_value(item, field, v, hints[field])
            axes.append((field, values))
        return cls(tuple(axes))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.axes)

    def points(self) -> list[tuple[str, ...]]:
        """Every combination of the axes' values (one empty point without a grid)."""
        return list(itertools.product(*(values for _, values in self.axes)))

    def label(self, point: tuple[str, ...]) -> str:
        """The grid point's part of a cell's name: ``label-noise0.2-demos500``."""
        return "-".join(f"{_flag(f)[2:]}{sanitize(v)}" for (f, _), v in zip(self.axes, point))

    def args(self, point: tuple[str, ...]) -> tuple[str, ...]:
        """The flags that set the grid point."""
        out: list[str] = []
        for (f, _), v in zip(self.axes, point):
            if v.lower() in ("true", "false"):
                out.append(_flag(f) if v.lower() == "true" else f"--no-{_flag(f)[2:]}")
            else:
                out += [_flag(f), v]
        return tuple(out)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _check_value(item: str, field: str, value: str, hint: object) -> None:
    """``value`` converts as the flag ``--field`` would convert it."""
    typ, choices, _ = arg_type(hint)
    if typ is bool:
        if value.lower() not in ("true", "false"):
            raise UsageError(f"--grid {item}: {field} takes true or false, got {value!r}")
        return
    try:
        converted = typ(value)
    except ValueError:
        raise UsageError(f"--grid {item}: {field} takes {'a whole number' if typ is int else 'a number'}, got "
                         f"{value!r}") from None
    if choices is not None and str(converted) not in choices:
        raise UsageError(f"--grid {item}: {field} must be one of {', '.join(choices)}, got {value!r}")
