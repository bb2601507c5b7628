"""Teachers: anything that labels a batch of observations with actions and, if it can, a distribution.

- :class:`SB3Teacher` wraps a Stable-Baselines3 PPO/A2C (policy probabilities) or DQN (softmax(Q/tau)).
- :class:`CallableTeacher` wraps any Python callable ``obs (N, *obs_shape) -> probabilities (N, sum K)
  or actions (N,) / (N, D)``: integer outputs are actions (hard targets only), float outputs are
  per-dimension probabilities.

A label batch holds the greedy actions ``(N, D)`` and, for soft teachers, the tempered distribution
``(N, sum K)`` (concatenated per-dimension blocks, as the students' logits are).
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..envs import ActionSpec
from ..errors import UsageError

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = ["CallableTeacher", "Labels", "SB3Teacher", "Teacher", "as_teacher", "detect_sb3_algo", "load_sb3_teacher",
           "sb3_class"]

PICKLE_WARNING = ("warning: SB3 .zip files contain pickled Python objects and loading one can run arbitrary "
                  "code; load only teacher files you trust")


@dataclass(frozen=True)
class Labels:
    """Teacher labels for N observations."""

    actions: Tensor
    """(N, D) long: greedy action index per dimension."""
    probs: Tensor | None
    """(N, sum K) float: per-dimension distributions (tempered), or None for an action-only teacher."""


def _temper(blocks_logp: list[Tensor], tau: float) -> Tensor:
    """softmax(log p / tau) per block, concatenated: tau < 1 sharpens, tau > 1 flattens."""
    return torch.cat([torch.softmax(lp / tau, dim=-1) for lp in blocks_logp], dim=-1)  # (N, sum K)


class Teacher(ABC):
    """Base class: ``label(obs, tau)`` returns :class:`Labels`; ``soft`` tells if probs are available."""

    soft: bool = False
    kind: str = "callable"

    def __init__(self, spec: ActionSpec) -> None:
        self.spec = spec

    @abstractmethod
    def label(self, obs: np.ndarray, tau: float = 1.0) -> Labels:
        """Greedy actions ``(N, D)`` and, for soft teachers, tempered probabilities ``(N, sum K)``."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy env actions for a batch of observations (for evaluating the teacher itself)."""
        return self.spec.to_env(self.label(obs).actions.numpy())


class CallableTeacher(Teacher):
    """A teacher from any callable ``obs -> action probabilities or actions`` (see module doc)."""

    def __init__(self, fn: Callable[[np.ndarray], Any], spec: ActionSpec) -> None:
        super().__init__(spec)
        self.fn = fn
        self._soft: bool | None = None

    @property
    def soft(self) -> bool:  # type: ignore[override]
        return bool(self._soft)

    def label(self, obs: np.ndarray, tau: float = 1.0) -> Labels:
        out = torch.as_tensor(np.asarray(self.fn(obs)))
        n = obs.shape[0]
        if torch.is_floating_point(out):
            if out.shape != (n, self.spec.total):
                raise ValueError(f"teacher returned float array of shape {tuple(out.shape)}; probabilities must "
                                 f"be (N, sum K) = ({n}, {self.spec.total})")
            blocks = torch.split(out.float(), list(self.spec.nvec), dim=-1)
            if any(bool((b < 0).any()) or not torch.allclose(b.sum(-1), torch.ones(n), atol=1e-4) for b in blocks):
                raise ValueError("teacher probabilities must be non-negative and sum to 1 per action dimension")
            self._soft = True
            actions = torch.stack([b.argmax(-1) for b in blocks], dim=-1)  # (N, D)
            probs = _temper([b.clamp_min(1e-12).log() for b in blocks], tau) if tau != 1.0 else out.float()
            return Labels(actions, probs)
        self._soft = False
        idx = self.spec.from_env(out.numpy().astype(np.int64))  # (N, D)
        if idx.shape != (n, len(self.spec.nvec)) or (idx < 0).any() or (idx >= np.asarray(self.spec.nvec)).any():
            raise ValueError(f"teacher returned actions of shape {tuple(out.shape)} or outside the action space")
        return Labels(torch.from_numpy(idx), None)


class SB3Teacher(Teacher):
    """A Stable-Baselines3 model as a teacher. PPO/A2C: policy probabilities; DQN: softmax(Q / tau)."""

    soft = True

    def __init__(self, model: Any, spec: ActionSpec) -> None:
        super().__init__(spec)
        from stable_baselines3 import DQN

        self.model = model
        self.kind = "dqn" if isinstance(model, DQN) else type(model).__name__.lower()
        model.policy.set_training_mode(False)

    @torch.no_grad()
    def _log_scores(self, obs: np.ndarray) -> list[Tensor]:
        """Per-dimension log-probabilities (PPO/A2C) or Q-values (DQN), each (N, K_d)."""
        obs_t, _ = self.model.policy.obs_to_tensor(obs)
        if self.kind == "dqn":
            return [self.model.q_net(obs_t).float().cpu()]  # (N, K)
        dist = self.model.policy.get_distribution(obs_t).distribution
        cats = dist if isinstance(dist, list) else [dist]
        return [c.logits.float().cpu() for c in cats]  # normalised log-probs, (N, K_d) each

    def label(self, obs: np.ndarray, tau: float = 1.0) -> Labels:
        scores = self._log_scores(obs)
        actions = torch.stack([s.argmax(-1) for s in scores], dim=-1)  # (N, D)
        return Labels(actions, _temper(scores, tau))


def as_teacher(obj: Any, spec: ActionSpec) -> Teacher:
    """A :class:`Teacher` from a teacher, an SB3 model or a callable."""
    if isinstance(obj, Teacher):
        return obj
    if hasattr(obj, "policy") and hasattr(obj, "predict"):
        return SB3Teacher(obj, spec)
    if callable(obj):
        return CallableTeacher(obj, spec)
    raise TypeError(f"cannot use a {type(obj).__name__} as a teacher; pass an SB3 model or a callable")


def sb3_class(algo: str) -> type[BaseAlgorithm]:
    """The Stable-Baselines3 class of a teacher algorithm name (``ppo``, ``a2c``, ``dqn``)."""
    from stable_baselines3 import A2C, DQN, PPO

    classes: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN}
    return classes[algo]


def detect_sb3_algo(path: str | os.PathLike) -> str:
    """``ppo``, ``a2c`` or ``dqn`` from the JSON ``data`` member of an SB3 zip (no unpickling)."""
    try:
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("data"))
        module = data["policy_class"]["__module__"]
    except FileNotFoundError:
        raise UsageError(f"--teacher {path}: file does not exist; train one with 'rlgan-ls teacher'") from None
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--teacher {path}: not a Stable-Baselines3 .zip or corrupt ({type(e).__name__})") from None
    if ".dqn." in module:
        return "dqn"
    if "clip_range" in data:
        return "ppo"
    if "normalize_advantage" in data or ".a2c." in module or "common.policies" in module:
        return "a2c"
    raise UsageError(f"--teacher {path}: unsupported SB3 policy {module}; use a PPO, A2C or DQN teacher")


def load_sb3_teacher(path: str | os.PathLike, spec: ActionSpec, warn: bool = True,
                     device: str = "cpu") -> SB3Teacher:
    """Load a PPO/A2C/DQN ``.zip``. It is a pickle: trusted files only (a warning says so)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--teacher {path}: file does not exist; train one with 'rlgan-ls teacher'")
    algo = detect_sb3_algo(path)
    if warn:
        print(PICKLE_WARNING, file=sys.stderr)
    cls = sb3_class(algo)
    try:
        model = cls.load(path, device=device)
    except Exception as e:  # a corrupt pickle can raise anything; report it as bad input
        raise UsageError(f"--teacher {path}: cannot load the {algo.upper()} model ({type(e).__name__}: {e})") from None
    if model.action_space != _space_of(spec):
        raise UsageError(f"--teacher {path}: its action space {model.action_space} does not match the env's "
                         f"{_space_of(spec)}")
    return SB3Teacher(model, spec)


def _space_of(spec: ActionSpec) -> Any:
    import gymnasium as gym

    if spec.multi:
        return gym.spaces.MultiDiscrete(list(spec.nvec), start=list(spec.start))
    return gym.spaces.Discrete(spec.nvec[0], start=spec.start[0])
