"""Loading a Stable-Baselines3 zip without unpickling anything in it.

An SB3 zip holds ``policy.pth`` (and the optimizers' ``.pth``), which SB3 reads with
``torch.load(weights_only=True)``: tensors only. Its ``data`` member is JSON, except for every entry
that JSON could not hold (the policy class, the spaces, schedules, buffers, numpy arrays), which SB3
stores as a base64 cloudpickle and unpickles on load: running whatever code the file carries. Here every
such entry is rebuilt instead from what the suite knows, and passed to SB3 as ``custom_objects``, which
SB3 uses in place of the pickle:

- the policy class: one of the algorithm's own (``PPO.policy_aliases`` ...), identified by the module
  and the method names the entry lists in plain text;
- the observation and action spaces: the env's own, after checking the shape, dtype and size the
  entry lists in plain text against them;
- ``policy_kwargs``: its plain-text items, with classes resolved only among torch layers and
  optimizers, SB3's own classes and this suite's;
- schedules, buffers and the last rollout's arrays: placeholders; labelling states never uses them,
  and SB3 rebuilds what a model needs from the JSON settings.

An entry that cannot be rebuilt is refused with its name; ``--trust-teacher`` loads the file SB3's
way instead (its pickles run), for files the user trusts.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import zipfile
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["CannotRebuild", "SpaceMismatch", "allowed_class", "custom_objects"]


class CannotRebuild(ValueError):
    """An entry of the zip that only unpickling could restore."""


class SpaceMismatch(ValueError):
    """The zip's model was made for observations or actions other than the env's."""


def _zero(_: float) -> float:
    return 0.0


# Entries labelling never reads; SB3's _setup_model rebuilds the schedules and buffers it needs.
_PLACEHOLDERS: dict[str, Any] = {
    "learning_rate": 0.0, "lr_schedule": _zero, "clip_range": 0.2, "clip_range_vf": None,
    "exploration_schedule": None, "train_freq": 1, "action_noise": None, "target_entropy": 0.0,
    "rollout_buffer_class": None, "replay_buffer_class": None, "_last_obs": None, "_last_episode_starts": None,
    "_last_original_obs": None, "ep_info_buffer": None, "ep_success_buffer": None,
}
# JSON settings overridden too: a loaded teacher never needs a replay buffer of a million transitions.
_SMALLER = {"buffer_size": 1}
# Where a class named in policy_kwargs may come from, and what it must be.
_CLASS_HOMES = ("torch.nn.", "torch.optim.", "stable_baselines3.", "rlgan_ls.")
_CLASS_RE = re.compile(r"^<class '([\w.]+)'>$")
_METHOD_RE = re.compile(r"<function (\w+)\.\w+ at ")


def custom_objects(path: str | os.PathLike, algo_cls: type, observation_space: gym.Space,
                   action_space: gym.Space) -> dict[str, Any]:
    """Everything SB3 would unpickle from the zip at ``path``, rebuilt (see the module docstring);
    :class:`CannotRebuild` naming the first entry that cannot be, :class:`SpaceMismatch` when the model
    was made for other spaces."""
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("data"))
    custom: dict[str, Any] = {k: v for k, v in _SMALLER.items() if k in data}
    for key, item in data.items():
        if not (isinstance(item, dict) and ":serialized:" in item):
            continue
        if key == "policy_class":
            custom[key] = _policy_class(item, algo_cls)
        elif key == "observation_space":
            custom[key] = _same_space(item, observation_space, "observation")
        elif key == "action_space":
            custom[key] = _same_space(item, action_space, "action")
        elif key == "policy_kwargs":
            custom[key] = {k: _plain(k, v) for k, v in item.items() if not k.startswith(":")}
        elif key in _PLACEHOLDERS:
            custom[key] = _PLACEHOLDERS[key]
        else:
            raise CannotRebuild(f"its entry {key!r} ({item.get(':type:', '?')}) can only be restored by unpickling")
    return custom


def _policy_class(item: dict[str, Any], algo_cls: type) -> type:
    """The algorithm's own policy class that the entry describes (module and defining class of its methods)."""
    names = {m.group(1) for v in item.values() if isinstance(v, str) for m in [_METHOD_RE.search(v)] if m}
    for policy in set(algo_cls.policy_aliases.values()):  # type: ignore[attr-defined]
        if policy.__module__ == item.get("__module__") and policy.__name__ in names:
            return policy
    raise CannotRebuild(f"its policy class ({item.get('__module__')}: {', '.join(sorted(names)) or '?'}) is not "
                        f"one of {algo_cls.__name__}'s own")


def _numbers(text: Any) -> np.ndarray:
    """A numpy array's printed form (``[-4.8 -inf 0.4]``) back as numbers (a summarized one, ``...``,
    gives only the numbers printed)."""
    words = str(text).replace("[", " ").replace("]", " ").split()
    return np.array([float(w) for w in words if w != "..."])


def _same_space(item: dict[str, Any], space: gym.Space, what: str) -> gym.Space:
    """``space`` (the env's) if the entry describes the same space; :class:`CannotRebuild` otherwise."""
    kind = str(item.get(":type:", "")).rsplit(".", 1)[-1].rstrip("'>")
    stored = tuple(item.get("_shape") or ())
    problems = []
    if kind != type(space).__name__:
        problems.append(f"a {kind} space")
    if stored != tuple(space.shape or ()):
        problems.append(f"shape {stored}")
    if "dtype" in item and str(item["dtype"]) != str(space.dtype):
        problems.append(f"dtype {item['dtype']}")
    for attr in ("n", "start", "nvec"):
        if attr in item and hasattr(space, attr) and not np.array_equal(_numbers(item[attr]),
                                                                        np.ravel(getattr(space, attr))):
            problems.append(f"{attr} {item[attr]}")
    for attr in ("low", "high") if isinstance(space, gym.spaces.Box) else ():
        bounds, printed = np.ravel(getattr(space, attr)), _numbers(item.get(attr, ""))
        if printed.size == bounds.size and not np.allclose(printed, bounds, rtol=1e-5):  # a summarized one: skip
            problems.append(f"{attr} {item[attr]}")
    if problems:
        raise SpaceMismatch(f"its {what} space ({', '.join(problems)}) does not match the env's {space}")
    return space


def _plain(key: str, value: Any) -> Any:
    """A ``policy_kwargs`` item from its plain-text form: JSON as is, a class among the allowed ones."""
    if not isinstance(value, str) or not value.startswith("<"):
        return value
    match = _CLASS_RE.match(value)
    if match is None:
        raise CannotRebuild(f"its policy_kwargs item {key!r} ({value[:60]}) can only be restored by unpickling")
    return allowed_class(key, match.group(1))


def allowed_class(key: str, dotted: str) -> type:
    """The class at the dotted path ``dotted`` if it is torch's, SB3's or the suite's; :class:`CannotRebuild`
    naming ``key`` otherwise."""
    module, _, name = dotted.rpartition(".")
    if not dotted.startswith(_CLASS_HOMES):
        raise CannotRebuild(f"its policy_kwargs item {key!r} names {dotted}, which is not a torch, SB3 or rlgan-ls "
                            f"class")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise CannotRebuild(f"its policy_kwargs item {key!r} names {dotted}, which does not exist here") from None
    if not isinstance(cls, type):
        raise CannotRebuild(f"its policy_kwargs item {key!r} names {dotted}, which is not a class")
    return cls
