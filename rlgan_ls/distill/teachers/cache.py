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

from ...errors import UsageError
from ...progress import progress as progress_display
from ...storage import cache_root, read_json, sanitize, writable_folder, write_json
from ..envs import EnvRecipe, make_vec
from ..rollouts import eval_seed, evaluate
from .sb3 import build_model, teacher_settings

__all__ = ["RANDOM_EPISODES", "TeacherInfo", "TeacherRequest", "cache_dir", "cached_teacher", "get_teacher",
           "random_return", "sha256_of", "teacher_path", "train_teacher"]

RANDOM_EPISODES = 100
"""Episodes behind the random policy's cached return."""


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The teacher cache: ``override`` if given, else ``<cache root>/teachers``; a folder it can write to
    (made when a teacher is first stored in it)."""
    if override:
        return writable_folder(override, "--cache-dir", create=False)
    return writable_folder(cache_root() / "teachers", "the teacher cache ($RLGAN_LS_CACHE)", create=False)


@dataclass(frozen=True)
class TeacherRequest:
    """Which cached teacher: the env, the algorithm, the seed, the budget and the settings' overrides."""

    recipe: EnvRecipe
    """The env (with its recipe's teacher settings, if it has a recipe)."""
    algo: str | None = None
    """ppo, a2c, dqn, sac, td3 or ddpg (default: the recipe's)."""
    seed: int = 0
    """Training seed."""
    steps: int | None = None
    """Training steps (default: the recipe's; required without a recipe)."""
    hyperparams: Sequence[str] = ()
    """rl-zoo style ``key=value`` overrides of the SB3 settings."""
    root: str | os.PathLike | None = None
    """The cache folder (default: ``<cache root>/teachers``)."""

    def settings(self) -> tuple[str, dict[str, Any], str]:
        """Algorithm, SB3 settings (with ``steps``) and where they come from."""
        return teacher_settings(self.recipe, self.algo, self.steps, self.hyperparams)

    def command(self) -> str:
        """The ``rlgan-ls teacher`` command that trains this teacher."""
        algo, _, _ = self.settings()
        parts = ["rlgan-ls teacher", f"--env {self.recipe.name}", f"--algo {algo}"]
        if self.steps is not None:
            parts.append(f"--steps {self.steps}")
        if self.seed:
            parts.append(f"--seed {self.seed}")
        if self.hyperparams:
            parts.append("--hyperparams " + " ".join(f"'{h}'" for h in self.hyperparams))
        if self.root is not None:
            parts.append(f"--cache-dir {self.root}")
        return " ".join(parts)


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


def _env_key(recipe: EnvRecipe) -> dict[str, Any]:
    """What identifies the env a teacher acts in: its id, ``gymnasium.make`` arguments and preprocessing (an
    env without preprocessing keeps the key it had before preprocessing existed, and so its cached files)."""
    key: dict[str, Any] = {"env": recipe.env_id, "kw": recipe.make_kwargs}
    if recipe.wrapper:
        key["wrapper"] = [recipe.wrapper, recipe.wrapper_kwargs]
    return key


def teacher_path(req: TeacherRequest) -> tuple[Path, str, dict[str, Any]]:
    """Cache path, algorithm and resolved settings of the requested teacher."""
    recipe = req.recipe
    algo, params, _ = req.settings()
    digest = _digest({**_env_key(recipe), "algo": algo, "seed": req.seed, "p": params})
    return cache_dir(req.root) / f"{sanitize(recipe.env_id)}-{algo}-s{req.seed}-{digest}.zip", algo, params


def train_teacher(req: TeacherRequest, eval_episodes: int = 20, progress: bool = True) -> TeacherInfo:
    """Train a teacher (announced in one line on stderr), evaluate it, and store both in the cache."""
    path, algo, params = teacher_path(req)
    _, _, source = req.settings()
    recipe, seed = req.recipe, req.seed
    import torch

    torch.set_num_threads(1)  # SB3's small MLPs train fastest on one thread
    model = build_model(recipe, algo, params, seed, source)  # builds the envs: fails fast on a missing extra
    print(f"training a {algo.upper()} teacher for {recipe.env_id}: {params['steps']} steps with {source}; cached in "
          f"{path.parent}", file=sys.stderr)
    t0 = time.perf_counter()
    with progress_display(params["steps"], f"{algo} teacher {recipe.env_id}", progress, unit="step") as bar:
        model.learn(total_timesteps=params["steps"], callback=_progress_callback(bar))
    seconds = time.perf_counter() - t0
    returns = _returns(recipe, lambda obs: model.predict(obs, deterministic=True)[0], eval_episodes, eval_seed(seed))
    info = TeacherInfo(path, algo, float(np.mean(returns)), float(np.std(returns)), eval_episodes, params["steps"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.zip")  # parallel sweep cells may race here
    model.save(tmp)
    digest = sha256_of(tmp)
    os.replace(tmp, path)
    write_json(path.with_suffix(".json"), {"env_id": recipe.env_id, "algo": algo, "seed": seed, "params": params,
                                           "settings": source, "train_seconds": seconds, "sha256": digest,
                                           "return_mean": info.return_mean, "return_std": info.return_std,
                                           "episodes": eval_episodes})
    return info


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _progress_callback(bar: Any) -> Any:
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
    key = _digest({**_env_key(recipe), "n": episodes, "seed": seed})
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

    A sidecar without the expected fields (an older cache's: no SHA-256) counts as missing, so the teacher
    is trained again. A zip whose SHA-256 is not the one its sidecar recorded is refused: something other
    than ``rlgan-ls teacher`` wrote it.
    """
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    meta = read_json(meta_path)
    try:
        info = TeacherInfo(path, algo, float(meta["return_mean"]), float(meta["return_std"]), int(meta["episodes"]),
                           steps)
        recorded = str(meta["sha256"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if sha256_of(path) != recorded:
        raise UsageError(f"teacher cache: {path} is not the file rlgan-ls trained (its SHA-256 differs from the one in "
                         f"{meta_path.name}); delete both files, or retrain with 'rlgan-ls teacher ... --force'")
    return info


def get_teacher(req: TeacherRequest, train_if_missing: bool = True, progress: bool = True) -> TeacherInfo:
    """The requested cached teacher, trained first if it is not there yet (unless ``train_if_missing`` is false)."""
    path, algo, params = teacher_path(req)
    cached = cached_teacher(path, algo, params["steps"])
    if cached is not None:
        return cached
    if not train_if_missing:
        raise UsageError(f"--no-train-teacher: no cached {algo} teacher for {req.recipe.name} at {path}; run "
                         f"'{req.command()}' first, or pass --teacher PATH")
    return train_teacher(req, progress=progress)
