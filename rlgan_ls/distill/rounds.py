"""One round of data collection: the beta-mixed rollout and the teacher's labels for every state in it.

DAgger round i (Ross et al., 2011): at each step and in each env the teacher acts with probability
beta_i, the student otherwise (sampling or greedy, ``--act``); the teacher labels every visited state.
BC is the same with beta = 1: the teacher acts throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .envs import EnvProbe
from .rollouts import Collector
from .students import greedy_actions, sample_actions
from .teachers import Labels, Teacher, executed_actions

__all__ = ["Round", "RoundCollector"]


@dataclass
class Round:
    """What one round collected."""

    obs: np.ndarray
    """(M, *obs_shape): every state acted in, step-major."""
    labels: Labels
    """The teacher's labels of those states."""
    episode_returns: list[float]
    """Returns of the episodes that ended during the round."""
    env_steps: int
    """M: vector steps times envs."""
    beta: float
    """Probability that the teacher acted at a step."""
    teacher_share: float
    """Fraction of steps where the teacher's action was executed."""


@dataclass
class RoundCollector:
    """Collects rounds in the training envs with a teacher and a student (see the module docstring).

    ``gen`` draws the student's sampled actions, ``coin`` (numpy) who acts at each step.
    """

    env: EnvProbe
    teacher: Teacher
    collector: Collector
    student: nn.Module
    gen: torch.Generator
    coin: np.random.Generator
    tau: float = 1.0
    """Temperature of the teacher's soft labels."""
    act: str | None = "sample"
    """How the student acts: ``sample`` or ``greedy``."""
    device: str = "cpu"

    def collect(self, beta: float, steps: int) -> Round:
        """``steps`` vector steps in which the teacher acts with probability ``beta`` per env and step."""
        spec, teacher, labelled = self.env.spec, self.teacher, []
        teacher_steps = 0

        @torch.no_grad()
        def act(obs: np.ndarray) -> np.ndarray:
            nonlocal teacher_steps
            n: int = obs.shape[0]
            use_teacher = self.coin.random(n) < beta  # (N,) which envs follow the teacher this step
            labels = teacher.label(obs, self.tau) if beta > 0 else None
            if labels is not None:
                labelled.append(labels)
            teacher_steps += int(use_teacher.sum())
            if use_teacher.all():
                return executed_actions(labels, spec)  # type: ignore[arg-type]
            actions = spec.to_env(self._student_choices(obs).numpy())
            if labels is not None and use_teacher.any():  # the teacher's own actions where it acts
                mask = use_teacher.reshape(n, *([1] * (actions.ndim - 1)))
                actions = np.where(mask, executed_actions(labels, spec), actions)
            return actions

        rollout = self.collector.collect(act, steps)
        if beta > 0:
            probs = [lb.probs for lb in labelled]
            labels = Labels(torch.cat([lb.actions for lb in labelled]),
                            torch.cat(probs) if probs[0] is not None else None)  # type: ignore[arg-type]
        else:  # the teacher never acts: label the whole rollout in one batch
            labels = teacher.label(rollout.obs, self.tau)
        return Round(rollout.obs, labels, rollout.episode_returns, rollout.env_steps, beta,
                     teacher_steps / rollout.env_steps)

    def _student_choices(self, obs: np.ndarray) -> torch.Tensor:
        """The student's choice per action dimension, (N, D) on the CPU."""
        logits = self.student(torch.as_tensor(obs, device=self.device)).cpu()  # (N, sum K)
        nvec = self.env.spec.nvec
        return sample_actions(logits, nvec, self.gen) if self.act == "sample" else greedy_actions(logits, nvec)
