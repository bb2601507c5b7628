"""Multi-task students (Rusu et al., 2016, "Policy Distillation"): one network, one policy head per task.

The tasks' observations must agree in every axis but the first (MinAtar's planes are ``(C, 10, 10)`` with
C from 4 to 10); each task's states are zero-padded along that axis to the largest, so a missing channel
reads as an empty plane, and the shared trunk sees one shape. The last layer gives every task's logits
side by side: task t's head is its own block of rows of that layer (a separate linear output layer per
task, as in Rusu et al.), so no task's actions borrow another's logits. Heads per task, rather than one
head over a common action set, because the games' action sets differ (MinAtar's ``-v1`` ids keep each
game's minimal set) and the same index means another move in another game.

:class:`TaskHead` is one task's view of the student: its states in, its logits out. Everything that acts
with a single-task student (rounds, evaluation, videos) acts with a ``TaskHead`` unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UsageError
from ..runs import Run
from ..storage import sanitize
from .config import TASK_SEPARATOR
from .envs import EnvProbe, resolve_env
from .students import DistilledRun, StudentSpec, auto_arch

__all__ = ["TaskHead", "multitask_spec", "pad_states", "padded_shape", "task_head", "task_label"]


def task_label(env: str) -> str:
    """A task's name inside tags and file names (``MinAtar/Breakout-v1`` -> ``MinAtar-Breakout-v1``)."""
    return sanitize(env)


def padded_shape(envs: list[EnvProbe]) -> tuple[int, ...]:
    """The one observation shape of the tasks' students: the largest first axis, the rest shared;
    :class:`UsageError` naming the envs when their shapes or kinds cannot share a trunk."""
    shapes = [e.obs_shape for e in envs]
    names = ", ".join(f"{e.recipe.name} {e.obs_shape} {e.obs_dtype}" for e in envs)
    if len({s[1:] for s in shapes}) > 1 or len({len(s) for s in shapes}) > 1 or len({e.obs_dtype for e in envs}) > 1:
        raise UsageError(f"--env: a multi-task student pads observations along their first axis only, so the envs "
                         f"must agree in dtype and in every other axis; got {names}")
    return (max(s[0] for s in shapes), *shapes[0][1:])


def pad_states(obs: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``(B, c, ...)`` -> ``(B, shape[0], ...)``: zeros after the ``c`` channels the task has."""
    missing = shape[0] - obs.shape[1]
    if missing == 0:
        return obs
    return torch.cat([obs, obs.new_zeros(obs.shape[0], missing, *obs.shape[2:])], dim=1)


def multitask_spec(envs: list[EnvProbe], arch: str, width: int, depth: int, channels: int | None) -> StudentSpec:
    """The student of the tasks ``envs``: ``arch`` (``auto`` as for one task, on the padded shape) over the
    padded observations, every task's head in its last layer."""
    shape = padded_shape(envs)
    arch = arch if arch != "auto" else auto_arch(envs[0].obs_kind, shape)
    heads = tuple(e.spec.nvec for e in envs)
    return StudentSpec(arch, shape, tuple(k for h in heads for k in h), width, depth, channels or 32,  # type: ignore[arg-type]
                       heads, tuple(e.obs_shape for e in envs))


class TaskHead(nn.Module):
    """Task ``index``'s view of a multi-task ``student``: its states ``(B, *its shape)`` -> its logits
    ``(B, sum K_t)``."""

    def __init__(self, student: nn.Module, spec: StudentSpec, index: int) -> None:
        super().__init__()
        self.student, self.shape = student, spec.obs_shape
        sizes = [sum(h) for h in spec.heads]
        self.start, self.stop = sum(sizes[:index]), sum(sizes[:index + 1])

    def forward(self, obs: Tensor) -> Tensor:
        logits = self.student(pad_states(obs, self.shape))  # (B, sum over tasks of sum K)
        return logits[:, self.start:self.stop]


def head_spec(spec: StudentSpec, index: int) -> StudentSpec:
    """What task ``index``'s head is, seen as a single-task student (its shape and actions)."""
    return StudentSpec(spec.arch, spec.head_shapes[index], spec.heads[index], spec.width, spec.depth, spec.channels)


def task_head(run: Run, student: nn.Module, spec: StudentSpec, config: dict[str, Any],
              task: str | None) -> DistilledRun:
    """The head of ``task`` of a finished multi-task run, as a single-task run of that env."""
    tasks = str(config["env"]).split(TASK_SEPARATOR)
    if task not in tasks:
        given = f"--env {task} is not one of them" if task else "pass --env TASK"
        raise UsageError(f"RUN_DIR {run.path} is a multi-task run over {', '.join(tasks)}: {given}")
    i = tasks.index(task)
    head = TaskHead(student, spec, i).eval()
    return DistilledRun(run, head, head_spec(spec, i), {**config, "env": task}, resolve_env(task), task)


def geometric_mean(values: list[float]) -> float:
    """Geometric mean of normalized returns, each floored at 0 (a task at or below random makes it 0)."""
    floored = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
    return float(np.exp(np.mean(np.log(floored)))) if (floored > 0).all() else 0.0
