"""Training Stable-Baselines3 teachers with an env recipe's tuned settings, and caching them.

The cache (``$RLGAN_LS_CACHE/teachers`` or ``~/.cache/rlgan-ls/teachers``) holds one
``<env>-<algo>-s<seed>-<hash>.zip`` per teacher plus a ``.json`` sidecar with its settings and its
evaluated return. The hash covers the env id, algorithm, seed and every hyperparameter, so editing
a recipe trains a new teacher instead of silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..envs import EnvRecipe, make_vec, probe_env
from ..errors import UsageError
from ..runs import cache_root, read_json, sanitize, write_json
from .rollouts import eval_seed, evaluate
from .teachers import SB3Teacher, load_sb3_teacher, sb3_class

__all__ = ["TeacherInfo", "cache_dir", "cached_teacher", "get_teacher", "teacher_path", "train_teacher"]


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The teacher cache: ``override`` if given, else ``<cache root>/teachers``."""
    return Path(override) if override else cache_root() / "teachers"


@dataclass(frozen=True)
class TeacherInfo:
    """A cached teacher: where it is and how good it is."""

    path: Path
    """The SB3 .zip."""
    algo: str
    """ppo, a2c or dqn."""
    return_mean: float
    """Mean return of the greedy teacher over ``episodes`` evaluation episodes."""
    return_std: float
    """Standard deviation of that return."""
    episodes: int
    """Evaluation episodes behind ``return_mean``."""
    steps: int
    """Training steps it was trained for."""


def _resolve_algo(recipe: EnvRecipe, algo: str | None) -> str:
    if not recipe.teachers:
        raise UsageError(f"--env {recipe.name}: no env recipe with teacher settings; pass --teacher PATH to a "
                         f"trusted SB3 .zip or add envs/{sanitize(recipe.name)}.toml")
    return algo or recipe.algo or sorted(recipe.teachers)[0]


def teacher_path(recipe: EnvRecipe, algo: str | None, seed: int, steps: int | None = None,
                 root: str | os.PathLike | None = None) -> tuple[Path, str, dict[str, Any]]:
    """Cache path, algorithm and resolved hyperparameters of the teacher for these settings."""
    algo = _resolve_algo(recipe, algo)
    params = recipe.teacher_params(algo)
    if steps is not None:
        if steps < 1:
            raise UsageError(f"--steps must be >= 1, got {steps}")
        params["steps"] = steps
    key = json.dumps({"env": recipe.env_id, "kw": recipe.make_kwargs, "algo": algo, "seed": seed, "p": params},
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_dir(root) / f"{sanitize(recipe.env_id)}-{algo}-s{seed}-{digest}.zip", algo, params


def _schedule(value: Any) -> Any:
    """The zoo's ``lin_X`` strings -> a schedule decaying linearly from X to 0."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def _build_model(recipe: EnvRecipe, algo: str, params: dict[str, Any], seed: int) -> Any:
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env

    kw = dict(params)
    n_envs, net_arch = kw.pop("n_envs", 1), kw.pop("net_arch", None)
    kw.pop("steps")
    kw = {k: _schedule(v) for k, v in kw.items()}
    policy_kwargs = {"net_arch": list(net_arch)} if net_arch else None
    venv = make_vec_env(lambda: gym.make(recipe.env_id, **recipe.make_kwargs), n_envs=n_envs, seed=seed)
    try:
        return sb3_class(algo)("MlpPolicy", venv, seed=seed, policy_kwargs=policy_kwargs, device="cpu", verbose=0, **kw)
    except TypeError as e:
        raise UsageError(f"env recipe for {recipe.name}: bad [{algo}] setting ({e})") from None


def train_teacher(recipe: EnvRecipe, algo: str | None = None, steps: int | None = None, seed: int = 0,
                  root: str | os.PathLike | None = None, eval_episodes: int = 20, progress: bool = True) -> TeacherInfo:
    """Train a teacher with the recipe's settings, evaluate it, and store both in the cache."""
    path, algo, params = teacher_path(recipe, algo, seed, steps, root)
    spec = probe_env(recipe).spec  # builds the env once: fails fast (missing box2d etc.) before anything trains
    import torch

    torch.set_num_threads(1)  # SB3's small MLPs train fastest on one thread
    model = _build_model(recipe, algo, params, seed)
    print(f"training a {algo.upper()} teacher for {recipe.env_id}: {params['steps']} steps with the settings of "
          f"envs/{recipe.name}.toml; it is cached in {path.parent} for later runs", file=sys.stderr)
    t0 = time.perf_counter()
    with tqdm(total=params["steps"], desc=f"{algo} teacher {recipe.env_id}", unit="step", disable=not progress,
              leave=False) as bar:
        model.learn(total_timesteps=params["steps"], callback=_progress_callback(bar))
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.zip")  # parallel sweep cells may race here
    model.save(tmp)
    os.replace(tmp, path)
    teacher = load_sb3_teacher(path, spec, warn=False)
    returns = _evaluate_teacher(teacher, recipe, eval_episodes, seed=eval_seed(seed))
    info = TeacherInfo(path, algo, float(np.mean(returns)), float(np.std(returns)), eval_episodes, params["steps"])
    write_json(path.with_suffix(".json"), {"env_id": recipe.env_id, "algo": algo, "seed": seed, "params": params,
                                           "train_seconds": seconds, "return_mean": info.return_mean,
                                           "return_std": info.return_std, "episodes": eval_episodes})
    return info


def _progress_callback(bar: tqdm) -> Any:
    """An SB3 callback advancing ``bar`` by the env steps of each vector step (SB3's own needs rich)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(self.training_env.num_envs)
            return True

    return _Progress()


def _evaluate_teacher(teacher: SB3Teacher, recipe: EnvRecipe, episodes: int, seed: int) -> np.ndarray:
    envs = make_vec(recipe, min(episodes, 10))
    try:
        return evaluate(envs, teacher.act, episodes, seed).returns
    finally:
        envs.close()


def cached_teacher(path: Path, algo: str, steps: int) -> TeacherInfo | None:
    """The teacher cached at ``path`` (see :func:`teacher_path`) with its sidecar, or None.

    A sidecar without the expected fields counts as missing, so the teacher is trained again.
    """
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    meta = read_json(meta_path)
    try:
        return TeacherInfo(path, algo, float(meta["return_mean"]), float(meta["return_std"]), int(meta["episodes"]),
                           steps)
    except (KeyError, TypeError, ValueError):
        return None


def get_teacher(recipe: EnvRecipe, algo: str | None = None, seed: int = 0, root: str | os.PathLike | None = None,
                steps: int | None = None, train_if_missing: bool = True, progress: bool = True) -> TeacherInfo:
    """The cached teacher for these settings, trained first if it is not there yet."""
    path, algo, params = teacher_path(recipe, algo, seed, steps, root)
    cached = cached_teacher(path, algo, params["steps"])
    if cached is not None:
        return cached
    if not train_if_missing:
        raise UsageError(f"--no-train-teacher: no cached {algo} teacher for {recipe.name} at {path}; run "
                         f"'rlgan-ls teacher --env {recipe.name} --algo {algo}' first, or pass --teacher PATH")
    return train_teacher(recipe, algo, steps, seed, root, progress=progress)
