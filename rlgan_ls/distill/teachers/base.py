"""Teachers: anything that labels a batch of observations with actions and, if it can, a distribution.

- :class:`SB3Teacher` wraps a Stable-Baselines3 model. Discrete actions: PPO/A2C policy probabilities,
  DQN softmax(Q/tau). Box actions: the bin of its deterministic action, and the mass of each bin under
  its Gaussian (PPO/A2C) or tanh-squashed Gaussian (SAC) policy; TD3 and DDPG are deterministic, so
  they give hard targets only.
- :class:`CallableTeacher` wraps any Python callable ``obs (N, *obs_shape) -> ...``. For Discrete and
  MultiDiscrete spaces integer outputs are actions (hard targets only) and float outputs per-dimension
  probabilities ``(N, sum K)``; for a Box, float ``(N, *shape)`` outputs are continuous actions, and
  ``(N, sum K)`` outputs bin probabilities.

A label batch holds the greedy actions ``(N, D)`` and, for soft teachers, the tempered distribution
``(N, sum K)`` (concatenated per-dimension blocks, as the students' logits are); for a Box, also the
teacher's own continuous actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ...errors import UsageError
from ..actions import ActionSpec
from .continuous import gaussian_bin_probs, squashed_gaussian_bin_probs

__all__ = ["CallableTeacher", "Labels", "SB3Teacher", "Teacher", "as_teacher", "executed_actions"]


@dataclass(frozen=True)
class Labels:
    """Teacher labels for N observations."""

    actions: Tensor
    """(N, D) long: greedy action index per dimension."""
    probs: Tensor | None
    """(N, sum K) float: per-dimension distributions (tempered), or None for an action-only teacher."""
    env_actions: Tensor | None = None
    """(N, D) float: a Box teacher's own continuous actions (flattened), for ``distill/action_error``."""


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
        """Greedy env actions for a batch of observations (for evaluating the teacher itself); a Box
        teacher acts with its own continuous actions, not their bins."""
        return executed_actions(self.label(obs), self.spec)


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
        if self.spec.box is not None and out.shape != (n, self.spec.total):
            return self._continuous(out, n)
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
            return Labels(actions, probs, _bin_centres(self.spec, actions))
        self._soft = False
        idx = self.spec.from_env(out.numpy().astype(np.int64))  # (N, D)
        if idx.shape != (n, len(self.spec.nvec)) or (idx < 0).any() or (idx >= np.asarray(self.spec.nvec)).any():
            raise ValueError(f"teacher returned actions of shape {tuple(out.shape)} or outside the action space")
        return Labels(torch.from_numpy(idx), None)

    def _continuous(self, out: Tensor, n: int) -> Labels:
        """Continuous actions ``(N, *shape)`` from a callable teacher of a Box env."""
        assert self.spec.box is not None
        if not torch.is_floating_point(out) or out.numel() != n * len(self.spec.nvec):
            raise ValueError(f"teacher returned {out.dtype} array of shape {tuple(out.shape)}; for this Box action "
                             f"space return float actions (N, *{self.spec.box.shape}) or bin probabilities "
                             f"(N, {self.spec.total})")
        self._soft = False
        actions = out.reshape(n, -1).float()  # (N, D)
        return Labels(torch.from_numpy(self.spec.from_env(actions.numpy())), None, actions)


def executed_actions(labels: Labels, spec: ActionSpec) -> np.ndarray:
    """The env actions a teacher's labels stand for: its own continuous actions for a Box, else its choices."""
    if labels.env_actions is not None and spec.box is not None:
        return labels.env_actions.numpy().reshape(len(labels.actions), *spec.box.shape)
    return spec.to_env(labels.actions.numpy())


def _bin_centres(spec: ActionSpec, idx: Tensor) -> Tensor | None:
    """The actions ``(N, D)`` that bins ``idx`` stand for (None for discrete spaces)."""
    if spec.box is None:
        return None
    return torch.from_numpy(spec.box.to_actions(idx.numpy()).reshape(len(idx), -1))


class SB3Teacher(Teacher):
    """A Stable-Baselines3 model as a teacher (see the module docstring for what each kind gives)."""

    def __init__(self, model: Any, spec: ActionSpec) -> None:
        super().__init__(spec)
        self.model = model
        self.kind = type(model).__name__.lower()  # ppo, a2c, dqn, sac, td3, ddpg
        self.soft = not (spec.box is not None and self.kind in ("td3", "ddpg"))  # deterministic actors
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
        if self.spec.box is not None:
            return self._label_box(obs, tau)
        scores = self._log_scores(obs)
        actions = torch.stack([s.argmax(-1) for s in scores], dim=-1)  # (N, D)
        return Labels(actions, _temper(scores, tau))

    @torch.no_grad()
    def _label_box(self, obs: np.ndarray, tau: float) -> Labels:
        """The bin of the deterministic action, and (unless deterministic) each bin's mass."""
        box = self.spec.box
        assert box is not None
        if not self.soft:
            actions, _ = self.model.predict(obs, deterministic=True)  # (N, *shape), in the env's units
            env_actions = torch.as_tensor(np.asarray(actions, dtype=np.float32).reshape(len(obs), -1))  # (N, D)
            return Labels(torch.from_numpy(box.to_bins(env_actions.numpy())), None, env_actions)
        dist = self._distribution(obs)
        env_actions = torch.as_tensor(self._deterministic(dist).astype(np.float32).reshape(len(obs), -1))  # (N, D)
        bins = torch.from_numpy(box.to_bins(env_actions.numpy()))  # (N, D)
        normal = dist.distribution  # the policy's Gaussian before any squashing
        mean, std = normal.mean.reshape(len(obs), -1).cpu(), normal.stddev.reshape(len(obs), -1).cpu()  # (N, D) each
        edges = torch.from_numpy(box.edges())  # (D, B + 1)
        if self.model.policy.squash_output:
            space = self.model.action_space
            low, high = (torch.as_tensor(b, dtype=torch.float64).reshape(-1) for b in (space.low, space.high))
            probs = squashed_gaussian_bin_probs(mean, std, edges, low, high)  # (N, D, B)
        else:
            probs = gaussian_bin_probs(mean, std, edges)
        blocks = list(probs.clamp_min(1e-12).log().unbind(1))  # D tensors (N, B)
        return Labels(bins, _temper(blocks, tau), env_actions)

    def _distribution(self, obs: np.ndarray) -> Any:
        """The policy's action distribution (SB3's) at ``obs``: one forward for both the labels and the action."""
        obs_t, _ = self.model.policy.obs_to_tensor(obs)
        if self.kind == "sac":
            actor = self.model.actor
            mean, log_std, extra = actor.get_action_dist_params(obs_t)
            return actor.action_dist.proba_distribution(mean, log_std, **extra)
        return self.model.policy.get_distribution(obs_t)

    def _deterministic(self, dist: Any) -> np.ndarray:
        """What ``model.predict(obs, deterministic=True)`` returns, from the forward already made: the
        distribution's mode, then SB3's own post-processing (a squashed action unscaled, another clipped)."""
        policy, space = self.model.policy, self.model.action_space
        actions = dist.mode().cpu().numpy().reshape((-1, *space.shape))
        if policy.squash_output:
            return policy.unscale_action(actions)
        return np.clip(actions, space.low, space.high)


def as_teacher(obj: Any, spec: ActionSpec, action_space: gym.Space | None = None) -> Teacher:
    """A :class:`Teacher` from a teacher, an SB3 model or a callable; an SB3 model must act in
    ``action_space`` (the env's) when it is given."""
    if isinstance(obj, Teacher):
        return obj
    if hasattr(obj, "policy") and hasattr(obj, "predict"):
        if action_space is not None and obj.action_space != action_space:
            raise UsageError(f"teacher: its action space {obj.action_space} does not match the env's {action_space}")
        return SB3Teacher(obj, spec)
    if callable(obj):
        return CallableTeacher(obj, spec)
    raise TypeError(f"cannot use a {type(obj).__name__} as a teacher; pass an SB3 model or a callable")


