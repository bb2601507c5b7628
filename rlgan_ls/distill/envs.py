"""Building Gymnasium environments from ids, ``module:EnvId`` strings or env recipes.

An env recipe (``envs/<name>.toml``) names a Gymnasium id, keyword arguments for ``gymnasium.make``
and, per teacher algorithm, the Stable-Baselines3 hyperparameters that train a good teacher (taken
from rl-baselines3-zoo). Everything the distillation pipeline needs about an environment (its id,
action dimensions, observation kind) is resolved here once, at the boundary, so a bad ``--env``
fails with one line before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from ..errors import UsageError
from ..recipes import build_config, find_recipe, list_recipes, load_toml
from .actions import DEFAULT_BINS, ActionSpec, action_spec
from .wrappers import WRAPPERS, wrapper_for

__all__ = [
    "EnvProbe",
    "EnvRecipe",
    "TEACHER_ALGOS",
    "check_observation_space",
    "make_env",
    "make_vec",
    "probe_env",
    "resolve_env",
]

TeacherAlgo = Literal["ppo", "a2c", "dqn", "sac", "td3", "ddpg"]
TEACHER_ALGOS: tuple[TeacherAlgo, ...] = ("ppo", "a2c", "dqn", "sac", "td3", "ddpg")
VectorMode = Literal["sync", "async"]


@dataclass(frozen=True)
class EnvRecipe:
    """A resolved environment: what ``--env`` named, turned into something we can build.

    An env recipe ``envs/<name>.toml`` sets the fields below except ``name``; it goes through
    :func:`rlgan_ls.recipes.build_config` like every other recipe (unknown keys and wrong types are
    refused there, ranges here). An env without a recipe is ``EnvRecipe(name, env_id)``.
    """

    name: str = ""
    """What the user passed to ``--env`` (a recipe name, a Gymnasium id or ``module:EnvId``)."""
    env_id: str = ""
    """The Gymnasium id (``module:EnvId`` in a recipe; :func:`resolve_env` imports the module and strips it)."""
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``gymnasium.make``."""
    algo: TeacherAlgo | None = None
    """Default teacher algorithm; one of the tables below. None when there is no recipe."""
    requires: str = ""
    """Pip extra the env needs (e.g. ``box2d``), named in the error when it is missing."""
    wrapper: str = ""
    """Observation preprocessing (:mod:`rlgan_ls.distill.wrappers`: ``minatar``, ``atari``); default: what
    the env's family needs (every ``MinAtar/`` id gets ``minatar``, every ``NoFrameskip-v4`` id ``atari``)."""
    wrapper_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the wrapper (e.g. ``frame_stack``, ``max_steps``)."""
    ppo: dict[str, Any] | None = None
    """[ppo] table: SB3 PPO keyword arguments plus ``steps`` (the budget), ``n_envs``, and optionally
    ``net_arch``, ``policy_kwargs`` and, for off-policy algorithms, ``noise_type``/``noise_std``."""
    a2c: dict[str, Any] | None = None
    """[a2c] table, as [ppo]."""
    dqn: dict[str, Any] | None = None
    """[dqn] table, as [ppo]."""
    sac: dict[str, Any] | None = None
    """[sac] table, as [ppo]."""
    td3: dict[str, Any] | None = None
    """[td3] table, as [ppo]."""
    ddpg: dict[str, Any] | None = None
    """[ddpg] table, as [ppo]."""

    def __post_init__(self) -> None:
        if not self.env_id:
            raise UsageError(f'env recipe {self.name}: missing env_id = "..."')
        if self.wrapper and self.wrapper not in WRAPPERS:
            raise UsageError(f"env recipe {self.name}: wrapper = {self.wrapper!r}; choose one of {', '.join(WRAPPERS)}")
        if self.algo is not None and self.algo not in self.teachers:
            raise UsageError(f"env recipe {self.name}: algo = {self.algo!r} but there is no [{self.algo}] table")
        for a, params in self.teachers.items():
            steps = params.get("steps")
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                raise UsageError(f"env recipe {self.name}: [{a}] needs steps = <positive integer>")

    @property
    def teachers(self) -> dict[str, dict[str, Any]]:
        """Teacher settings per algorithm, for the tables the recipe has."""
        return {a: t for a in TEACHER_ALGOS if (t := getattr(self, a)) is not None}

    def teacher_params(self, algo: str) -> dict[str, Any]:
        if algo not in self.teachers:
            have = ", ".join(sorted(self.teachers)) or "none"
            raise UsageError(f"--algo: the env recipe for {self.name} has no {algo} teacher settings "
                             f"(available: {have}); add a [{algo}] table to envs/{self.name}.toml")
        return dict(self.teachers[algo])


def _import_module_prefix(env: str) -> str:
    """Import ``module`` for a ``module:EnvId`` string (it registers the env) and return ``EnvId``."""
    if ":" not in env:
        return env
    module, env_id = env.split(":", 1)
    try:
        importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        if Path(f"{top}.py").is_file() or Path(top, "__init__.py").is_file():
            raise UsageError(f"--env {env}: module {module!r} is in the current folder, which rlgan-ls does not import "
                             f"from; install it (pip install -e .) or run with PYTHONPATH=.") from None
        raise UsageError(f"--env {env}: cannot import module {module!r} ({e}); install it or fix the name") from None
    return env_id


# Env families whose ids exist only once their package registers them (gymnasium 1.x loads no plugins):
# id prefix or suffix -> (module, how to install it).
_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("ALE/", "ale_py", "pip install 'rlgan-ls[atari]'"),
    ("NoFrameskip-v4", "ale_py", "pip install 'rlgan-ls[atari]'"),
    ("MinAtar/", "minatar", "pip install 'rlgan-ls[minatar]'"),
)


def _register_family(name: str, env_id: str) -> None:
    """Register the package an env id belongs to (Atari, MinAtar); a missing one says how to install it."""
    for pattern, module, install in _FAMILIES:
        if not (env_id.startswith(pattern) or env_id.endswith(pattern)) or env_id in gym.registry:
            continue
        try:
            package = importlib.import_module(module)
        except ImportError:
            raise UsageError(f"--env {name}: needs the {module} package: {install}") from None
        if module == "ale_py":
            gym.register_envs(package)
        else:
            importlib.import_module(f"{module}.gym").register_envs()


def _check_registered(name: str, env_id: str) -> None:
    if env_id in gym.registry:
        return
    try:
        gym.spec(env_id)  # also resolves unversioned ids to the latest version
        return
    except gym.error.Error:
        pass
    known = list(gym.registry) + list_recipes("envs")
    close = difflib.get_close_matches(env_id, known, n=3)
    hint = (f"; did you mean {', '.join(close)}?" if close
            else "; pass a Gymnasium id, module:EnvId or an envs/ recipe name")
    raise UsageError(f"--env {name}: unknown environment{hint}")


def resolve_env(name: str) -> EnvRecipe:
    """Resolve ``--env``: an env recipe name (or ``.toml`` path) first, then a Gymnasium id."""
    if not isinstance(name, str) or not name:
        raise UsageError("--env must name a Gymnasium id, module:EnvId or an envs/ recipe")
    path = find_recipe("envs", name)
    recipe = (build_config(EnvRecipe, load_toml(path), {"name": name}, source=f"env recipe {path}") if path
              else EnvRecipe(name, name))
    recipe = dataclasses.replace(recipe, env_id=_import_module_prefix(recipe.env_id))
    if not recipe.wrapper:  # the family's preprocessing, and the extra it needs (named like the wrapper)
        family = wrapper_for(recipe.env_id)
        recipe = dataclasses.replace(recipe, wrapper=family, requires=recipe.requires or family)
    _register_family(name, recipe.env_id)
    _check_registered(name, recipe.env_id)
    return recipe


def check_observation_space(space: gym.Space, env_name: str) -> Literal["vector", "image"]:
    """``vector`` for a Box the MLP flattens, ``image`` for an (H, W, C) or (C, H, W) uint8 Box."""
    if not isinstance(space, gym.spaces.Box):
        raise UsageError(f"--env {env_name}: observation space {space} is not supported; students take Box "
                         f"observations (wrap the env with gymnasium.wrappers.FlattenObservation)")
    if space.dtype == np.uint8 and len(space.shape) == 3:
        return "image"
    return "vector"


@contextlib.contextmanager
def _building(recipe: EnvRecipe) -> Iterator[None]:
    """Gymnasium's errors while building ``recipe`` as one-line :class:`UsageError`s."""
    try:
        yield
    except gym.error.DependencyNotInstalled as e:
        extra = f" (pip install 'rlgan-ls[{recipe.requires}]')" if recipe.requires else ""
        raise UsageError(f"--env {recipe.name}: missing dependency{extra}: {e}") from None
    except gym.error.Error as e:
        raise UsageError(f"--env {recipe.name}: {e}") from None


def make_env(recipe: EnvRecipe, **kwargs: Any) -> gym.Env:
    """One environment of ``recipe`` (for libraries that build their own vector envs, e.g. SB3, and for
    rendering); ``kwargs`` (e.g. ``render_mode``) go to ``gymnasium.make`` beside the recipe's."""
    with _building(recipe):
        return _preprocess(recipe)(gym.make(recipe.env_id, **(recipe.make_kwargs | kwargs)))


def _preprocess(recipe: EnvRecipe) -> Any:
    """The recipe's observation preprocessing as a function ``env -> env`` (the identity without one)."""
    if not recipe.wrapper:
        return lambda env: env
    return functools.partial(WRAPPERS[recipe.wrapper], **recipe.wrapper_kwargs)


def make_vec(recipe: EnvRecipe, num_envs: int, mode: VectorMode = "sync") -> gym.vector.VectorEnv:
    """A vector env of ``recipe`` with same-step autoreset (a done env's returned obs is already the
    next episode's first obs, so every step yields a state worth labelling)."""
    vector_kwargs = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    with _building(recipe):
        return gym.make_vec(recipe.env_id, num_envs=num_envs, vectorization_mode=mode, vector_kwargs=vector_kwargs,
                            wrappers=[_preprocess(recipe)] if recipe.wrapper else None, **recipe.make_kwargs)


@dataclass(frozen=True)
class EnvProbe:
    """What one built environment says about itself: the facts every pipeline reads once."""

    recipe: EnvRecipe
    """The environment."""
    observation_space: gym.Space
    """Its own observation space."""
    action_space: gym.Space
    """Its own action space (a teacher must act in exactly this one)."""
    spec: ActionSpec
    """The action space as per-dimension choices (a Box in bins)."""
    obs_shape: tuple[int, ...]
    """Shape of one observation."""
    obs_dtype: np.dtype
    """Observation dtype (uint8 frames are stored as uint8)."""
    obs_kind: Literal["vector", "image"]
    """Decides the student's architecture under ``--arch auto``."""
    first_obs: np.ndarray
    """``(1, *obs_shape)``: the first observation after ``reset(seed=0)``."""

    @property
    def spaces(self) -> tuple[gym.Space, gym.Space]:
        """(observations, actions)."""
        return self.observation_space, self.action_space


def probe_env(recipe: EnvRecipe, bins: int = DEFAULT_BINS, action_low: float | None = None,
              action_high: float | None = None) -> EnvProbe:
    """Build ``recipe`` once and read its action and observation spaces; :class:`UsageError` if unsupported.

    ``bins``, ``action_low`` and ``action_high`` discretize a Box action space (see :func:`action_spec`).
    """
    envs = make_vec(recipe, 1)
    try:
        space = envs.single_observation_space
        spec = action_spec(envs.single_action_space, recipe.name, bins, action_low, action_high)
        kind = check_observation_space(space, recipe.name)
        shape = space.shape
        assert shape is not None  # check_observation_space accepts only a Box, which always has a shape
        obs, _ = envs.reset(seed=0)
        return EnvProbe(recipe, space, envs.single_action_space, spec, tuple(shape), np.dtype(space.dtype), kind, obs)
    finally:
        envs.close()
