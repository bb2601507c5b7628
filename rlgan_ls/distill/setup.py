"""Resolving a :class:`DistillConfig` into live objects: the teacher, the student, the random sources.

Everything that can fail on bad input fails here, before a run directory is created. Training a
teacher is an explicit step: it happens only when no teacher is given and none is cached, it is
announced on stderr, and ``--no-train-teacher`` turns it into an error instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..envs import EnvProbe
from ..errors import UsageError
from .config import DistillConfig
from .sb3 import load_sb3_teacher
from .students import StudentSpec, build_student
from .teacher_train import get_teacher
from .teachers import SB3Teacher, Teacher, as_teacher

__all__ = ["ResolvedTeacher", "make_student", "resolve_teacher", "seed_everything"]


@dataclass(frozen=True)
class ResolvedTeacher:
    """The teacher that labels states, and where it came from."""

    teacher: Teacher
    """Labels states."""
    source: str
    """Path of the teacher file, or ``python`` for a teacher passed in."""
    algo: str | None
    """``ppo``, ``a2c`` or ``dqn`` for an SB3 teacher; None for a callable."""
    steps: int | None
    """Training steps of a cached teacher; None when unknown."""
    return_mean: float | None
    """The cached teacher's mean return, if known (else measured after training the student)."""


def resolve_teacher(cfg: DistillConfig, env: EnvProbe, teacher: Any = None) -> ResolvedTeacher:
    """``teacher`` (Python API) if given, else ``cfg.teacher``, else the env recipe's cached teacher.

    The cached teacher is trained first when missing and ``cfg.train_teacher`` is true (minutes).
    """
    if teacher is not None:
        t = as_teacher(teacher, env.spec, env.action_space)
        resolved = ResolvedTeacher(t, "python", t.kind if isinstance(t, SB3Teacher) else None, None, None)
    elif cfg.teacher is not None:
        t = load_sb3_teacher(cfg.teacher, env.spec, env.action_space, device="cpu")
        resolved = ResolvedTeacher(t, str(cfg.teacher), t.kind, None, None)
    else:
        info = get_teacher(env.recipe, cfg.teacher_algo, cfg.teacher_seed, cfg.cache_dir, steps=cfg.teacher_steps,
                           train_if_missing=cfg.train_teacher, progress=cfg.progress,
                           hyperparams=cfg.teacher_hyperparams)
        t = load_sb3_teacher(info.path, env.spec, env.action_space, warn=False)
        resolved = ResolvedTeacher(t, str(info.path), info.algo, info.steps, info.return_mean)
    _check_teacher(resolved, cfg, env)
    return resolved


def _check_teacher(resolved: ResolvedTeacher, cfg: DistillConfig, env: EnvProbe) -> None:
    """The teacher sees the env's observations, and gives probabilities when soft targets are asked for."""
    t = resolved.teacher
    if isinstance(t, SB3Teacher) and tuple(t.model.observation_space.shape) != env.obs_shape:
        raise UsageError(f"--teacher {resolved.source}: it takes observations of shape "
                         f"{t.model.observation_space.shape} but {cfg.env} gives {env.obs_shape}")
    if cfg.target == "soft":
        t.label(env.first_obs)  # one label tells whether a callable gives probabilities
        if not t.soft:
            raise UsageError(f"--target soft needs a teacher with an action distribution; this {t.kind} teacher "
                             f"gives actions only (use --target hard)")


def make_student(cfg: DistillConfig, env: EnvProbe) -> tuple[nn.Module, StudentSpec]:
    """The student network for ``env`` (``--arch auto``: a CNN for uint8 frames, an MLP otherwise)."""
    arch = cfg.arch if cfg.arch != "auto" else ("cnn" if env.obs_kind == "image" else "mlp")
    spec = StudentSpec(arch, env.obs_shape, env.spec.nvec, cfg.width, cfg.depth, cfg.channels)
    return build_student(spec).to(cfg.device), spec


def seed_everything(seed: int, threads: int) -> tuple[torch.Generator, np.random.Generator]:
    """Seed torch's global RNG (the student's weights); return the run's torch and numpy generators.

    The torch generator draws minibatches and sampled actions, the numpy one DAgger's teacher/student coin.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed), np.random.default_rng(seed)
