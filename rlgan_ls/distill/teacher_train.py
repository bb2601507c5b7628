"""Training Stable-Baselines3 teachers and caching them, with the random policy's return beside them.

The cache (``$RLGAN_LS_CACHE/teachers`` or ``~/.cache/rlgan-ls/teachers``) holds one
``<env>-<algo>-s<seed>-<hash>.zip`` per teacher plus a ``.json`` sidecar with its settings and its
evaluated return. The hash covers the env id, algorithm, seed and every setting, so editing a recipe
or passing other ``--hyperparams`` trains a new teacher instead of silently reusing a stale one.
``random-<env>-<hash>.json`` holds a uniformly random policy's return on the env, measured once: the
zero of ``eval/normalized_return``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..envs import EnvRecipe, make_vec
from ..errors import UsageError
from ..runs import cache_root, read_json, sanitize, write_json
from .rollouts import eval_seed, evaluate
from .sb3 import build_model, teacher_settings

__all__ = ["RANDOM_EPISODES", "TeacherInfo", "cache_dir", "cached_teacher", "get_teacher", "random_return",
           "teacher_path", "train_teacher"]

RANDOM_EPISODES = 100
"""Episodes behind the random policy's cached return."""


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The teacher cache: ``override`` if given, else ``<cache root>/teachers``."""
    return Path(override) if override else cache_root() / "teachers"


@dataclass(frozen=True)
class TeacherInfo:
    """A cached teacher: where it is and how good it is."""

    path: Path
    """The SB3 .zip."""
    algo: str
    """ppo, a2c, dqn, sac, td3 or ddpg."""
    return_mean: float
    """Mean return of the greedy teacher over ``episodes`` evaluation episodes."""
    return_std: float
    """Standard deviation of that return."""
    episodes: int
    """Evaluation episodes behind ``return_mean``."""
    steps: int
    """Training steps it was trained for."""


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def teacher_path(recipe: EnvRecipe, algo: str | None, seed: int, steps: int | None = None,
                 root: str | os.PathLike | None = None,
                 hyperparams: Sequence[str] = ()) -> tuple[Path, str, dict[str, Any]]:
    """Cache path, algorithm and resolved settings of the teacher for these arguments."""
    algo, params, _ = teacher_settings(recipe, algo, steps, hyperparams)
    digest = _digest({"env": recipe.env_id, "kw": recipe.make_kwargs, "algo": algo, "seed": seed, "p": params})
    return cache_dir(root) / f"{sanitize(recipe.env_id)}-{algo}-s{seed}-{digest}.zip", algo, params


def train_teacher(recipe: EnvRecipe, algo: str | None = None, steps: int | None = None, seed: int = 0,
                  root: str | os.PathLike | None = None, eval_episodes: int = 20, progress: bool = True,
                  hyperparams: Sequence[str] = ()) -> TeacherInfo:
    """Train a teacher (announced in one line on stderr), evaluate it, and store both in the cache."""
    path, algo, params = teacher_path(recipe, algo, seed, steps, root, hyperparams)
    _, _, source = teacher_settings(recipe, algo, steps, hyperparams)
    import torch

    torch.set_num_threads(1)  # SB3's small MLPs train fastest on one thread
    model = build_model(recipe, algo, params, seed, source)  # builds the envs: fails fast on a missing extra
    print(f"training a {algo.upper()} teacher for {recipe.env_id}: {params['steps']} steps with {source}"
          f"{' and --hyperparams ' + ' '.join(hyperparams) if hyperparams else ''}; cached in {path.parent}",
          file=sys.stderr)
    t0 = time.perf_counter()
    with tqdm(total=params["steps"], desc=f"{algo} teacher {recipe.env_id}", unit="step", disable=not progress,
              leave=False) as bar:
        model.learn(total_timesteps=params["steps"], callback=_progress_callback(bar))
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.zip")  # parallel sweep cells may race here
    model.save(tmp)
    os.replace(tmp, path)
    returns = _returns(recipe, lambda obs: model.predict(obs, deterministic=True)[0], eval_episodes, eval_seed(seed))
    info = TeacherInfo(path, algo, float(np.mean(returns)), float(np.std(returns)), eval_episodes, params["steps"])
    write_json(path.with_suffix(".json"), {"env_id": recipe.env_id, "algo": algo, "seed": seed, "params": params,
                                           "settings": source, "train_seconds": seconds,
                                           "return_mean": info.return_mean, "return_std": info.return_std,
                                           "episodes": eval_episodes})
    return info


def _progress_callback(bar: tqdm) -> Any:
    """An SB3 callback advancing ``bar`` by the env steps of each vector step (SB3's own needs rich)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(self.training_env.num_envs)
            return True

    return _Progress()


def _returns(recipe: EnvRecipe, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int) -> np.ndarray:
    envs = make_vec(recipe, min(episodes, 10))
    try:
        return evaluate(envs, act, episodes, seed).returns
    finally:
        envs.close()


def random_return(recipe: EnvRecipe, root: str | os.PathLike | None = None, episodes: int = RANDOM_EPISODES) -> float:
    """Mean return of a uniformly random policy on ``recipe`` over ``episodes`` (measured once, cached)."""
    seed = eval_seed(0)
    key = _digest({"env": recipe.env_id, "kw": recipe.make_kwargs, "n": episodes, "seed": seed})
    path = cache_dir(root) / f"random-{sanitize(recipe.env_id)}-{key}.json"
    if path.is_file():
        return float(read_json(path)["return_mean"])
    envs = make_vec(recipe, min(episodes, 10))
    try:
        envs.action_space.seed(seed)
        returns = evaluate(envs, lambda obs: envs.action_space.sample(), episodes, seed).returns
    finally:
        envs.close()
    write_json(path, {"env_id": recipe.env_id, "policy": "uniform random", "episodes": episodes, "seed": seed,
                      "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns))})
    return float(np.mean(returns))


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
                steps: int | None = None, train_if_missing: bool = True, progress: bool = True,
                hyperparams: Sequence[str] = ()) -> TeacherInfo:
    """The cached teacher for these settings, trained first if it is not there yet."""
    path, algo, params = teacher_path(recipe, algo, seed, steps, root, hyperparams)
    cached = cached_teacher(path, algo, params["steps"])
    if cached is not None:
        return cached
    if not train_if_missing:
        raise UsageError(f"--no-train-teacher: no cached {algo} teacher for {recipe.name} at {path}; run "
                         f"'rlgan-ls teacher --env {recipe.name} --algo {algo}' first, or pass --teacher PATH")
    return train_teacher(recipe, algo, steps, seed, root, progress=progress, hyperparams=hyperparams)
