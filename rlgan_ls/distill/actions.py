"""Action spaces as per-dimension categorical choices: Discrete, MultiDiscrete, and bounded Box in bins.

Every action space a student can act in becomes D dimensions of ``nvec[d]`` choices, so one student
(concatenated per-dimension logits) and one loss (smoothing per dimension) serve all of them:

- ``Discrete(n, start)``: one dimension of n choices; action = index + start.
- ``MultiDiscrete(nvec, start)`` (1-D): D dimensions.
- ``Box(low, high, shape)``, bounded: flattened to D = prod(shape) dimensions, each split into B
  equal-width bins between low and high. A bin stands for its centre; a continuous action falls
  in the bin that contains it (values outside [low, high] in the edge bins). Neighbouring bins are
  neighbouring actions, which is what the ordinal and Gaussian priors smooth towards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from ..errors import UsageError

__all__ = ["DEFAULT_BINS", "ActionSpec", "BoxBins", "action_spec"]

DEFAULT_BINS = 11
"""Bins per Box dimension unless told otherwise. Measured (bench/RESULTS.md): with 11 bins every alpha and
prior kept the teacher's return on Pendulum-v1 and InvertedPendulum-v5; with 21 and 41, some cells on
InvertedPendulum-v5 lost it."""


@dataclass(frozen=True)
class BoxBins:
    """A bounded Box split into ``bins`` equal-width bins per flattened dimension."""

    low: tuple[float, ...]
    """Lower bound per flattened dimension (D,)."""
    high: tuple[float, ...]
    """Upper bound per flattened dimension (D,)."""
    shape: tuple[int, ...]
    """The Box's own shape (actions are reshaped to it)."""
    bins: int
    """Bins per dimension, B >= 2."""

    def edges(self) -> np.ndarray:
        """``(D, B + 1)`` bin edges from low to high."""
        steps = np.linspace(0.0, 1.0, self.bins + 1)  # (B + 1,)
        low, high = np.asarray(self.low)[:, None], np.asarray(self.high)[:, None]
        return low + (high - low) * steps[None, :]

    def centres(self) -> np.ndarray:
        """``(D, B)`` bin centres: the action each bin stands for."""
        e = self.edges()
        return (e[:, :-1] + e[:, 1:]) / 2

    def to_actions(self, idx: np.ndarray) -> np.ndarray:
        """Bin indices ``(N, D)`` -> float32 actions ``(N, *shape)`` (the bins' centres)."""
        centres = self.centres()  # (D, B)
        values = np.take_along_axis(centres[None], np.asarray(idx)[:, :, None], axis=2)[:, :, 0]  # (N, D)
        return values.reshape(len(values), *self.shape).astype(np.float32)

    def to_bins(self, actions: np.ndarray) -> np.ndarray:
        """Actions ``(N, *shape)`` or ``(N, D)`` -> the bins that contain them, ``(N, D)`` int64."""
        a = np.asarray(actions, dtype=np.float64).reshape(len(actions), -1)  # (N, D)
        low, high = np.asarray(self.low), np.asarray(self.high)
        scaled = (a - low) / (high - low) * self.bins  # (N, D) in [0, B] inside the bounds
        return np.clip(np.floor(scaled), 0, self.bins - 1).astype(np.int64)


@dataclass(frozen=True)
class ActionSpec:
    """An action space as per-dimension class counts (and, for a Box, its bins)."""

    nvec: tuple[int, ...]
    """Number of choices per action dimension (Discrete is one dimension)."""
    start: tuple[int, ...]
    """Gymnasium's ``start`` offset per dimension (action = index + start); 0 for a Box."""
    multi: bool
    """True for MultiDiscrete (env actions are (N, D) arrays), False for Discrete ((N,)) and Box."""
    box: BoxBins | None = None
    """The discretization of a Box action space; None for Discrete and MultiDiscrete."""

    @property
    def total(self) -> int:
        """Width of the concatenated per-dimension logits."""
        return sum(self.nvec)

    @property
    def continuous(self) -> bool:
        return self.box is not None

    def to_env(self, idx: np.ndarray) -> np.ndarray:
        """Per-dimension indices (N, D) -> actions the vector env accepts."""
        if self.box is not None:
            return self.box.to_actions(idx)
        act = idx + np.asarray(self.start, dtype=idx.dtype)  # (N, D)
        return act if self.multi else act[:, 0]

    def from_env(self, act: np.ndarray) -> np.ndarray:
        """Env actions (N,), (N, D) or (N, *box shape) -> per-dimension indices (N, D)."""
        if self.box is not None:
            return self.box.to_bins(act)
        act = np.asarray(act).reshape(len(act), -1)
        return act - np.asarray(self.start, dtype=act.dtype)


def action_spec(space: gym.Space, env_name: str, bins: int = DEFAULT_BINS, low: float | None = None,
                high: float | None = None) -> ActionSpec:
    """The :class:`ActionSpec` of ``space``; :class:`UsageError` for anything a student cannot act in.

    ``bins``, ``low`` and ``high`` apply to a Box only; ``low``/``high`` replace its bounds in every
    dimension (needed when the Box is unbounded).
    """
    if isinstance(space, gym.spaces.Box):
        return _box_spec(space, env_name, bins, low, high)
    nvec: tuple[int, ...]
    start: tuple[int, ...]
    if isinstance(space, gym.spaces.Discrete):
        nvec, start, multi = (int(space.n),), (int(space.start),), False
    elif isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        nvec = tuple(int(n) for n in space.nvec)
        start, multi = tuple(int(s) for s in space.start), True
    else:
        raise UsageError(f"--env {env_name}: action space {space} is not supported; students act in Discrete, "
                         f"MultiDiscrete (1-D) or bounded Box spaces (flatten a Dict/Tuple space with a wrapper)")
    if min(nvec) < 2:
        raise UsageError(f"--env {env_name}: action space {space} has a dimension with a single choice; "
                         f"there is nothing to smooth")
    return ActionSpec(nvec, start, multi)


def _box_spec(space: gym.spaces.Box, env_name: str, bins: int, low: float | None, high: float | None) -> ActionSpec:
    if bins < 2:
        raise UsageError(f"--bins must be >= 2, got {bins}")
    lo = np.full(space.shape, low, dtype=np.float64) if low is not None else space.low.astype(np.float64)
    hi = np.full(space.shape, high, dtype=np.float64) if high is not None else space.high.astype(np.float64)
    lo, hi = lo.reshape(-1), hi.reshape(-1)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise UsageError(f"--env {env_name}: action space {space} is unbounded; wrap the env with "
                         f"gymnasium.wrappers.RescaleAction or ClipAction, or pass --action-low and --action-high")
    if not (hi > lo).all():
        raise UsageError(f"--action-low/--action-high: every high must exceed its low, got low {lo.min():g}, "
                         f"high {hi.max():g} for {space}")
    box = BoxBins(tuple(lo.tolist()), tuple(hi.tolist()), tuple(int(s) for s in space.shape), int(bins))
    d = math.prod(box.shape)
    if d == 0:
        raise UsageError(f"--env {env_name}: action space {space} has no dimensions")
    return ActionSpec((int(bins),) * d, (0,) * d, False, box)
