"""Give me the teacher for this config: one passed in, ``--teacher PATH``, or the env's cached one.

This module decides which; it calls down to the cache (:mod:`.cache`: look up, or train and store),
to SB3 loading (:mod:`.sb3`) and to the label-giving wrappers (:mod:`.base`), and none of them calls
back. Everything that can fail on bad input fails here, before a run directory is created. Training
a teacher is an explicit step: it happens only when no teacher is given and none is cached, it is
announced on stderr, and ``--no-train-teacher`` turns it into an error instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from ...errors import UsageError
from ..actions import ActionSpec
from ..envs import EnvProbe, EnvRecipe
from .base import SB3Teacher, Teacher, as_teacher
from .cache import TeacherRequest, get_teacher
from .sb3 import load_model

if TYPE_CHECKING:
    from ..config import DistillConfig

__all__ = ["ResolvedTeacher", "load_sb3_teacher", "resolve_teacher"]


@dataclass(frozen=True)
class ResolvedTeacher:
    """The teacher that labels states, and where it came from."""

    teacher: Teacher
    """Labels states."""
    source: str
    """Path of the teacher file, or ``python`` for a teacher passed in."""
    algo: str | None
    """``ppo``, ``a2c``, ``dqn``, ... for an SB3 teacher; None for a callable."""
    steps: int | None
    """Training steps of a cached teacher; None when unknown."""
    return_mean: float | None
    """The cached teacher's mean return, if known (else measured after training the student)."""


def load_sb3_teacher(path: str | os.PathLike, spec: ActionSpec, spaces: tuple[gym.Space, gym.Space],
                     trust: bool = False, device: str = "cpu",
                     hint: str = "it was trained for another env") -> SB3Teacher:
    """An SB3 ``.zip`` for an env with ``spaces`` (observations, actions) as a teacher, loaded without
    unpickling anything unless ``trust`` (see :func:`~rlgan_ls.distill.teachers.sb3.load_model`)."""
    return SB3Teacher(load_model(path, spaces, trust, device, hint), spec)


def preprocessing_hint(recipe: EnvRecipe) -> str:
    """What a teacher whose spaces are not the env's should be told: how the env preprocesses observations."""
    if not recipe.wrapper:
        return "it was trained for another env"
    how = f"envs/{recipe.name}.toml" if recipe.algo or recipe.teachers else f"every {recipe.env_id} env"
    settings = ", ".join(f"{k} = {v}" for k, v in recipe.wrapper_kwargs.items()) or "its defaults"
    return (f"{recipe.name}'s observations come from the {recipe.wrapper} wrapper ({settings}; set by {how}); use "
            f"a teacher trained with that preprocessing, or an env recipe (--env) whose wrapper_kwargs match the "
            f"teacher's (e.g. frame_stack)")


def resolve_teacher(cfg: DistillConfig, env: EnvProbe, teacher: Any = None) -> ResolvedTeacher:
    """``teacher`` (Python API) if given, else ``cfg.teacher``, else the env recipe's cached teacher.

    The cached teacher is trained first when missing and ``cfg.train_teacher`` is true (minutes).
    """
    assert not isinstance(cfg.teacher, tuple), "a multi-task config: resolve each task's teacher (task_config)"
    if teacher is not None:
        t = as_teacher(teacher, env.spec, env.action_space)
        resolved = ResolvedTeacher(t, "python", t.kind if isinstance(t, SB3Teacher) else None, None, None)
    elif cfg.teacher is not None:
        t = load_sb3_teacher(cfg.teacher, env.spec, env.spaces, cfg.trust_teacher, hint=preprocessing_hint(env.recipe))
        resolved = ResolvedTeacher(t, str(cfg.teacher), t.kind, None, None)
    else:
        req = TeacherRequest(env.recipe, cfg.teacher_algo, cfg.teacher_seed or 0, cfg.teacher_steps,
                             cfg.teacher_hyperparams or (), cfg.cache_dir)
        info = get_teacher(req, train_if_missing=cfg.train_teacher, progress=cfg.progress)
        t = load_sb3_teacher(info.path, env.spec, env.spaces)
        resolved = ResolvedTeacher(t, str(info.path), info.algo, info.steps, info.return_mean)
    _check_teacher(resolved, cfg, env)
    return resolved


def _check_teacher(resolved: ResolvedTeacher, cfg: DistillConfig, env: EnvProbe) -> None:
    """The teacher sees the env's observations, and gives probabilities when soft targets are asked for."""
    t = resolved.teacher
    if isinstance(t, SB3Teacher) and tuple(t.model.observation_space.shape) != env.obs_shape:
        raise UsageError(f"--teacher {resolved.source}: it takes observations of shape "
                         f"{t.model.observation_space.shape} but {cfg.env} gives {env.obs_shape}; "
                         f"{preprocessing_hint(env.recipe)}")
    if cfg.target == "soft":
        t.label(env.first_obs)  # one label tells whether a callable gives probabilities
        if not t.soft:
            raise UsageError(f"--target soft needs a teacher with an action distribution; this {t.kind} teacher "
                             f"gives actions only (use --target hard)")
