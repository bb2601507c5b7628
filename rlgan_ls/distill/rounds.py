"""One round of data collection: the beta-mixed rollout and the teacher's labels for every state in it.

DAgger round i (Ross et al., 2011): at each step and in each env the teacher acts with probability
beta_i, the student otherwise (sampling or greedy, ``--act``); the teacher labels every visited state.
BC is the same with beta = 1: the teacher acts throughout.

A round may serve several members of an ensemble at once (:mod:`rlgan_ls.distill.ensemble`): each owns
a block of the envs, flips its own coins and has its own students' choices; the teacher labels every
member's states in one batch. Each member gets the :class:`Round` its solo run would have collected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .envs import EnvProbe
from .rollouts import Collector
from .students import greedy_actions, sample_actions
from .teachers import Labels, Teacher, executed_actions

__all__ = ["Round", "RoundCollector", "student_chooser"]


@dataclass
class Round:
    """What one round collected (for one member)."""

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


def student_chooser(student: nn.Module, nvec: tuple[int, ...], gen: torch.Generator, act: str | None,
                    device: str) -> Callable[[np.ndarray], Tensor]:
    """A solo student's choice per action dimension for a batch of states, ``(N, D)`` on the CPU: sampled
    with ``gen`` (``act`` ``sample``) or greedy."""

    def choose(obs: np.ndarray) -> Tensor:
        logits = student(torch.as_tensor(obs, device=device)).cpu()  # (N, sum K)
        return sample_actions(logits, nvec, gen) if act == "sample" else greedy_actions(logits, nvec)

    return choose


@dataclass
class RoundCollector:
    """Collects rounds in the training envs with a teacher and students (see the module docstring).

    ``choose`` maps every env's state ``(M * N, *obs_shape)`` to the students' choices ``(M * N, D)``;
    ``coins`` (numpy, one per member) decide who acts at each step.
    """

    env: EnvProbe
    teacher: Teacher
    collector: Collector
    choose: Callable[[np.ndarray], Tensor]
    coins: Sequence[np.random.Generator]
    tau: float = 1.0
    """Temperature of the teacher's soft labels."""

    def collect(self, beta: float, steps: int) -> list[Round]:
        """``steps`` vector steps in which the teacher acts with probability ``beta`` per env and step."""
        spec, teacher, labelled = self.env.spec, self.teacher, []
        members = len(self.coins)
        teacher_steps = np.zeros(members, dtype=np.int64)

        @torch.no_grad()
        def act(obs: np.ndarray) -> np.ndarray:
            n: int = obs.shape[0]
            use_teacher = np.concatenate([c.random(n // members) < beta for c in self.coins])  # (N,) who acts
            labels = teacher.label(obs, self.tau) if beta > 0 else None
            if labels is not None:
                labelled.append(labels)
            teacher_steps[:] += use_teacher.reshape(members, -1).sum(1)
            if use_teacher.all():
                return executed_actions(labels, spec)  # type: ignore[arg-type]
            actions = spec.to_env(self.choose(obs).numpy())
            if labels is not None and use_teacher.any():  # the teacher's own actions where it acts
                mask = use_teacher.reshape(n, *([1] * (actions.ndim - 1)))
                actions = np.where(mask, executed_actions(labels, spec), actions)
            return actions

        rollouts = self.collector.collect(act, steps)
        per = self.collector.per_member
        if beta > 0:
            probs = [lb.probs for lb in labelled]
            every = Labels(torch.cat([lb.actions for lb in labelled]),
                           torch.cat(probs) if probs[0] is not None else None)  # type: ignore[arg-type]
            labels = [_block(every, m, per, steps) for m in range(members)]
        else:  # the teacher never acts: label the whole rollout in one batch
            labels = [teacher.label(r.obs, self.tau) for r in rollouts]
        return [Round(r.obs, lb, r.episode_returns, r.env_steps, beta, int(k) / r.env_steps)
                for r, lb, k in zip(rollouts, labels, teacher_steps)]


def _block(labels: Labels, m: int, per: int, steps: int) -> Labels:
    """Member ``m``'s rows of labels collected step by step over every member's envs."""
    if len(labels.actions) == steps * per:  # one member: its labels are all of them
        return labels

    def rows(t: Tensor) -> Tensor:
        return t.reshape(steps, -1, *t.shape[1:])[:, m * per:(m + 1) * per].reshape(steps * per, *t.shape[1:])

    return Labels(rows(labels.actions), rows(labels.probs) if labels.probs is not None else None)
