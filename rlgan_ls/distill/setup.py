"""Resolving a :class:`DistillConfig` into live objects: env recipe, action spec, teacher, student.

Everything that can fail on bad input fails here, before a run directory is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..envs import ActionSpec, EnvRecipe, action_spec, check_observation_space, make_vec, resolve_env
from ..errors import UsageError
from .config import DistillConfig
from .students import StudentSpec, build_student
from .teacher_train import get_teacher
from .teachers import SB3Teacher, Teacher, as_teacher, load_sb3_teacher

__all__ = ["Resolved", "make_student", "resolve", "seed_everything"]


@dataclass
class Resolved:
    """What a config resolves to, checked once."""

    recipe: EnvRecipe
    """The environment (from ``--env``)."""
    spec: ActionSpec
    """Its Discrete/MultiDiscrete action space."""
    obs_shape: tuple[int, ...]
    """Shape of one observation."""
    obs_dtype: np.dtype
    """Observation dtype (uint8 frames are stored as uint8)."""
    obs_kind: Literal["vector", "image"]
    """Decides the student's architecture under ``--arch auto``."""
    teacher: Teacher
    """The teacher that labels states."""
    teacher_source: str
    """Path of the teacher file, or ``python`` for a teacher passed in."""
    teacher_return: float | None
    """The teacher's cached mean return, if known (else measured after training)."""


def _probe(recipe: EnvRecipe) -> tuple[ActionSpec, tuple[int, ...], np.dtype, Literal["vector", "image"], np.ndarray]:
    """Action spec, observation shape, dtype and kind, and a first batch of one observation."""
    envs = make_vec(recipe, 1)
    try:
        space = envs.single_observation_space
        spec = action_spec(envs.single_action_space, recipe.name)
        kind = check_observation_space(space, recipe.name)
        shape = space.shape
        assert shape is not None  # check_observation_space accepts only a Box, which always has a shape
        obs, _ = envs.reset(seed=0)
        return spec, tuple(shape), np.dtype(space.dtype), kind, obs
    finally:
        envs.close()


def resolve(cfg: DistillConfig, teacher: Any = None) -> Resolved:
    """Env, action spec and teacher for ``cfg``; ``teacher`` (Python API) overrides ``cfg.teacher``."""
    recipe = resolve_env(cfg.env)
    spec, obs_shape, obs_dtype, kind, first_obs = _probe(recipe)
    teacher_return: float | None = None
    if teacher is not None:
        t, source = as_teacher(teacher, spec), "python"
    elif cfg.teacher is not None:
        t, source = load_sb3_teacher(cfg.teacher, spec, device="cpu"), str(cfg.teacher)
    else:
        info = get_teacher(recipe, cfg.teacher_algo, cfg.teacher_seed, cfg.cache_dir, steps=cfg.teacher_steps,
                           progress=cfg.progress)
        t, source, teacher_return = load_sb3_teacher(info.path, spec, warn=False), str(info.path), info.return_mean
    if isinstance(t, SB3Teacher) and tuple(t.model.observation_space.shape) != obs_shape:
        raise UsageError(f"--teacher {source}: it takes observations of shape {t.model.observation_space.shape} "
                         f"but {cfg.env} gives {obs_shape}")
    if cfg.target == "soft" and not isinstance(t, SB3Teacher) and not _labels_softly(t, first_obs):
        raise UsageError("--target soft needs a teacher that returns action probabilities; this one returns "
                         "actions (use --target hard)")
    return Resolved(recipe, spec, obs_shape, obs_dtype, kind, t, source, teacher_return)


def _labels_softly(teacher: Teacher, obs: np.ndarray) -> bool:
    """Ask a callable teacher for one label to learn whether it gives probabilities."""
    teacher.label(obs)
    return teacher.soft


def make_student(cfg: DistillConfig, res: Resolved) -> tuple[nn.Module, StudentSpec]:
    arch = cfg.arch if cfg.arch != "auto" else ("cnn" if res.obs_kind == "image" else "mlp")
    spec = StudentSpec(arch, res.obs_shape, res.spec.nvec, cfg.width, cfg.depth, cfg.channels)
    return build_student(spec).to(cfg.device), spec


def seed_everything(seed: int, threads: int) -> torch.Generator:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
