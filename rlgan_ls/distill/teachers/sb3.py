"""Stable-Baselines3 models: their settings, building one to train, and loading saved ones.

Settings come from an env recipe's ``[algo]`` table (rl-baselines3-zoo's hyperparameters) or, for an
env without one, Stable-Baselines3's own defaults; ``--hyperparams key=value`` overrides either, as in
rl-zoo. Which algorithm a zip holds is read from its JSON member; the model is loaded without
unpickling anything (:mod:`.zipload`) unless the user trusts the file. This module knows SB3 and the
envs, nothing of teachers.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from ...errors import UsageError
from ..envs import EnvRecipe, make_env

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = ["PICKLE_WARNING", "build_model", "detect_sb3_algo", "load_model", "parse_hyperparams", "sb3_class",
           "schedule", "teacher_settings"]

PICKLE_WARNING = ("warning: --trust-teacher: unpickling the teacher's zip, which can run any code it carries; "
                  "do this only for files you trust")


def sb3_class(algo: str) -> type[BaseAlgorithm]:
    """The Stable-Baselines3 class of a teacher algorithm name (``ppo``, ``a2c``, ``dqn``, ``sac``, ...)."""
    import stable_baselines3 as sb3

    classes: dict[str, type[BaseAlgorithm]] = {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN, "sac": sb3.SAC,
                                               "td3": sb3.TD3, "ddpg": sb3.DDPG}
    return classes[algo]


def detect_sb3_algo(path: str | os.PathLike) -> str:
    """The algorithm of an SB3 zip, from its JSON ``data`` member (no unpickling)."""
    try:
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("data"))
        module = data["policy_class"]["__module__"]
    except FileNotFoundError:
        raise UsageError(f"--teacher {path}: file does not exist; train one with 'rlgan-ls teacher'") from None
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--teacher {path}: not a Stable-Baselines3 .zip or corrupt ({type(e).__name__})") from None
    if ".dqn." in module:
        return "dqn"
    if ".sac." in module:
        return "sac"
    if ".td3." in module:  # DDPG is TD3 without policy delay and target smoothing
        return "ddpg" if data.get("policy_delay") == 1 and data.get("target_noise_clip") == 0.0 else "td3"
    if "clip_range" in data:
        return "ppo"
    if "normalize_advantage" in data or ".a2c." in module or "common.policies" in module:
        return "a2c"
    raise UsageError(f"--teacher {path}: unsupported SB3 policy {module}; use a PPO, A2C, DQN, SAC, TD3 or DDPG "
                     f"teacher")


_LOADED: dict[tuple, Any] = {}
"""Models loaded in this process, by file (path, size, modification time) and how they were loaded: a
teacher is read-only, so a persistent sweep worker loads each one once for all its cells."""


def load_model(path: str | os.PathLike, spaces: tuple[gym.Space, gym.Space], trust: bool = False,
               device: str = "cpu", hint: str = "it was trained for another env") -> Any:
    """Load an SB3 ``.zip`` for an env with ``spaces`` (observations, actions) without unpickling anything
    (:mod:`.zipload`); ``trust`` loads it SB3's way instead, running its pickles (a warning says so). The
    same unchanged file asked for again in this process is the same model object. ``hint`` ends the message
    when the zip's spaces are not the env's."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--teacher {path}: file does not exist; train one with 'rlgan-ls teacher'")
    if trust:
        print(PICKLE_WARNING, file=sys.stderr)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, trust, device, repr(spaces))
    if key not in _LOADED:
        if len(_LOADED) >= 8:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = _load(path, spaces, trust, device, hint)
    return _LOADED[key]


def _load(path: Path, spaces: tuple[gym.Space, gym.Space], trust: bool, device: str, hint: str) -> Any:
    from .zipload import CannotRebuild, SpaceMismatch, custom_objects

    algo = detect_sb3_algo(path)
    cls = sb3_class(algo)
    custom = None
    if not trust:
        try:
            custom = custom_objects(path, cls, *spaces)
        except SpaceMismatch as e:
            raise UsageError(f"--teacher {path}: {e}; {hint}") from None
        except CannotRebuild as e:
            raise UsageError(f"--teacher {path}: {e}; pass --trust-teacher to unpickle it (only for a file you "
                             f"trust: a pickle can run any code)") from None
        except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"--teacher {path}: not a Stable-Baselines3 .zip or corrupt ({type(e).__name__})") \
                from None
    try:
        model = cls.load(path, device=device, custom_objects=custom)
    except Exception as e:  # a corrupt file can raise anything; report it as bad input
        raise UsageError(f"--teacher {path}: cannot load the {algo.upper()} model ({type(e).__name__}: {e})") from None
    if model.action_space != spaces[1]:
        raise UsageError(f"--teacher {path}: its action space {model.action_space} does not match the env's "
                         f"{spaces[1]}")
    return model


# ------------------------------------------------------------------------------- settings and training

def parse_hyperparams(items: Sequence[str]) -> dict[str, Any]:
    """rl-zoo's ``--hyperparams`` convention: ``key=value``, the value a Python literal (``3e-4``,
    ``[64, 64]``, ``{'log_std_init': -2}``, ``True``) or else a string (``lin_0.001``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--hyperparams: expected key=value, got {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = text.strip()
    return out


def teacher_settings(recipe: EnvRecipe, algo: str | None, steps: int | None,
                     hyperparams: Sequence[str] = ()) -> tuple[str, dict[str, Any], str]:
    """Algorithm, settings (SB3 keyword arguments plus ``steps``, ``n_envs`` ...) and where they come from."""
    if algo is None:
        if not recipe.teachers:
            raise UsageError(f"--algo/--teacher-algo: {recipe.name} has no env recipe to choose the teacher's "
                             f"algorithm; pass ppo or a2c (any actions), dqn (discrete) or sac, td3, ddpg (Box), "
                             f"or distill from --teacher PATH")
        algo = recipe.algo or sorted(recipe.teachers)[0]
    if algo in recipe.teachers:
        params, source = recipe.teacher_params(algo), f"envs/{recipe.name}.toml"
    else:
        params, source = {"n_envs": 1}, "Stable-Baselines3's defaults"
    params.update(check_hyperparams(algo, hyperparams))
    if hyperparams:
        source += " and --hyperparams " + " ".join(hyperparams)
    if steps is not None:
        if steps < 1:
            raise UsageError(f"--steps must be >= 1, got {steps}")
        params["steps"] = steps
    if not isinstance(params.get("steps"), int) or isinstance(params["steps"], bool) or params["steps"] < 1:
        raise UsageError(f"--steps/--teacher-steps: {recipe.name} has no [{algo}] settings in an env recipe, so the "
                         f"teacher is trained with {source}; give its budget, e.g. --steps 100000")
    return algo, params, source


_OWN_KEYS = {"steps", "n_envs", "net_arch", "noise_type", "noise_std", "policy"}  # read by rlgan-ls, not SB3
_SET_BY_US = {"env", "seed", "device", "verbose", "_init_setup_model"}
_SCHEDULED = {"learning_rate", "clip_range", "clip_range_vf"}  # a number or lin_<number>


def check_hyperparams(algo: str, items: Sequence[str]) -> dict[str, Any]:
    """``--hyperparams`` parsed and checked against the SB3 class's own arguments: an unknown key, or a value
    of the wrong kind, is a :class:`UsageError` naming the item and why."""
    import inspect

    params = inspect.signature(sb3_class(algo).__init__).parameters
    parsed = parse_hyperparams(items)
    for item, (key, value) in zip(items, parsed.items()):
        if key in _SET_BY_US or (key not in params and key not in _OWN_KEYS):
            valid = sorted((set(params) - _SET_BY_US - {"self"}) | _OWN_KEYS)
            why = "is set by rlgan-ls" if key in _SET_BY_US else f"is not a setting of {algo.upper()}"
            raise UsageError(f"--hyperparams {item}: {key!r} {why}; valid keys: {', '.join(valid)}")
        default = params[key].default if key in params else None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _SCHEDULED and not (number or value is None or _is_schedule(value)):
            raise UsageError(f"--hyperparams {item}: {key} takes a number or lin_<number> (a linear schedule)")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"--hyperparams {item}: {key} takes True or False")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and key not in _SCHEDULED \
                and not number:
            raise UsageError(f"--hyperparams {item}: {key} takes a number")
        if isinstance(default, int) and not isinstance(default, bool) and number and not float(value).is_integer():
            raise UsageError(f"--hyperparams {item}: {key} takes a whole number")
    return parsed


def _is_schedule(value: Any) -> bool:
    try:
        return isinstance(value, str) and value.startswith("lin_") and float(value[4:]) >= 0
    except ValueError:
        return False


def schedule(value: Any) -> Any:
    """The zoo's ``lin_X`` strings -> a schedule decaying linearly from X to 0."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def _action_noise(kind: str, std: float, space: gym.Space) -> Any:
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    classes = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
    if kind not in classes or not isinstance(space, gym.spaces.Box):
        raise UsageError(f"noise_type {kind!r}: choose normal or ornstein-uhlenbeck (Box action spaces only)")
    d = int(np.prod(space.shape))
    return classes[kind](mean=np.zeros(d), sigma=float(std) * np.ones(d))


def default_policy(observation_space: gym.Space) -> str:
    """SB3's policy for ``observation_space`` when a recipe names none: ``CnnPolicy`` (NatureCNN) for images
    NatureCNN fits (uint8, at least 36x36), ``MlpPolicy`` otherwise."""
    from stable_baselines3.common.preprocessing import is_image_space

    shape = observation_space.shape or ()
    return "CnnPolicy" if is_image_space(observation_space) and sorted(shape)[1] >= 36 else "MlpPolicy"


def _policy_kwargs(params: dict[str, Any], source: str) -> dict[str, Any]:
    """``policy_kwargs`` with ``net_arch`` folded in and classes named by their dotted path (a recipe's
    ``features_extractor_class = "rlgan_ls...SmallCNN"``) resolved among torch's, SB3's and the suite's."""
    from .zipload import CannotRebuild, allowed_class

    policy_kwargs = dict(params.get("policy_kwargs") or {})
    if params.get("net_arch") is not None:
        policy_kwargs["net_arch"] = list(params["net_arch"])
    for key, value in policy_kwargs.items():
        if isinstance(value, str) and key.endswith("_class"):
            try:
                policy_kwargs[key] = allowed_class(key, value)
            except CannotRebuild as e:
                raise UsageError(f"{source}: policy_kwargs {key} = {value!r}: {e}") from None
    return policy_kwargs


def build_model(recipe: EnvRecipe, algo: str, params: dict[str, Any], seed: int, source: str) -> Any:
    """An untrained SB3 model of ``algo`` on ``recipe`` with ``params`` (from :func:`teacher_settings`)."""
    from stable_baselines3.common.env_util import make_vec_env

    kw = {k: v for k, v in params.items() if k not in _OWN_KEYS and k != "policy_kwargs"}
    policy_kwargs = _policy_kwargs(params, source)
    venv = make_vec_env(lambda: make_env(recipe), n_envs=params.get("n_envs", 1), seed=seed)
    if params.get("noise_type"):
        kw["action_noise"] = _action_noise(params["noise_type"], params.get("noise_std", 0.1), venv.action_space)
    policy = params.get("policy") or default_policy(venv.observation_space)
    try:
        return sb3_class(algo)(policy, venv, seed=seed, policy_kwargs=policy_kwargs or None, device="cpu",
                               verbose=0, **{k: schedule(v) for k, v in kw.items()})
    except TypeError as e:
        raise UsageError(f"{source}: a setting of the {algo.upper()} teacher is not an argument of it ({e})") from None
    except AssertionError as e:  # SB3 asserts the action spaces an algorithm supports
        raise UsageError(f"--algo {algo}: cannot act in {recipe.name}'s action space {venv.action_space} ({e})") \
            from None
