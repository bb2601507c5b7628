"""Observation preprocessing for image envs: what students and Stable-Baselines3 expect, applied per env.

- ``minatar``: MinAtar's released gymnasium envs declare ``Box(0, 1, (10, 10, C), bool)``, channels last.
  SB3 treats only uint8 boxes in [0, 255] as images, and would guess the layout from the smallest axis,
  which fails when C = 10 (Seaquest). :class:`MinAtarPlanes` gives the same planes as uint8 0/255,
  channels first ``(C, 10, 10)``, so plane c of the env is ``obs[c] / 255`` exactly; ``render()`` gives
  uint8 RGB frames scaled up for a readable video. Sticky actions stay as the env defines them (MinAtar's
  own ``sticky_action_prob``, 0.1). A time limit (``max_steps``) caps episodes, which MinAtar leaves
  unbounded: a good Breakout player would never lose the ball.
- ``atari``: rl-baselines3-zoo's preprocessing of ``<Game>NoFrameskip-v4`` (SB3's ``AtariWrapper``: no-op
  starts, frame skip 4 with max-pooling, 84x84 grey frames, FIRE on reset, episodic lives, clipped
  rewards), then 4 stacked frames, channels first ``(4, 84, 84)``: the observation space a zoo agent's zip
  records (the zoo stacks with ``VecFrameStack``, zero-filled at an episode's start, and SB3 moves the
  channels first), so the zip is used as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["FAMILY_WRAPPERS", "MinAtarPlanes", "WRAPPERS", "atari_frames", "minatar_planes", "wrapper_for"]

RENDER_SCALE = 16
"""Pixels per MinAtar cell in rendered frames (10x10 cells -> 160x160 RGB)."""


class MinAtarPlanes(gym.ObservationWrapper):
    """A MinAtar env's boolean planes ``(H, W, C)`` as uint8 0/255, channels first ``(C, H, W)``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        h, w, c = env.observation_space.shape  # type: ignore[misc]
        self.observation_space = gym.spaces.Box(0, 255, (c, h, w), np.uint8)
        self.metadata = {**env.metadata, "render_fps": 15}

    def observation(self, observation: np.ndarray) -> np.ndarray:  # (H, W, C) bool -> (C, H, W) uint8
        return np.ascontiguousarray(np.moveaxis(observation, -1, 0)).astype(np.uint8) * np.uint8(255)

    def render(self) -> Any:
        frame = self.env.render()
        if self.render_mode != "rgb_array" or frame is None:
            return frame
        rgb = np.clip(np.asarray(frame, dtype=np.float64) * 255 + 0.5, 0, 255).astype(np.uint8)  # (H, W, 3)
        return np.repeat(np.repeat(rgb, RENDER_SCALE, axis=0), RENDER_SCALE, axis=1)


def minatar_planes(env: gym.Env, max_steps: int = 2500) -> gym.Env:
    """:class:`MinAtarPlanes`, under a time limit of ``max_steps`` when the env has none."""
    env = MinAtarPlanes(env)
    if env.spec is None or env.spec.max_episode_steps is None:
        env = gym.wrappers.TimeLimit(env, max_steps)
    return env


def atari_frames(env: gym.Env, frame_stack: int = 4, **atari: Any) -> gym.Env:
    """rl-baselines3-zoo's Atari preprocessing (``atari``: arguments of SB3's ``AtariWrapper``) and
    ``frame_stack`` frames, zero-filled at an episode's start, channels first."""
    from stable_baselines3.common.atari_wrappers import AtariWrapper

    try:
        import cv2  # noqa: F401  (AtariWrapper resizes frames with OpenCV)
    except ImportError:
        raise gym.error.DependencyNotInstalled("OpenCV is not installed (opencv-python-headless)") from None
    env = AtariWrapper(env, **atari)  # (84, 84, 1) uint8
    env = gym.wrappers.FrameStackObservation(env, frame_stack, padding_type="zero")  # (k, 84, 84, 1)
    shape = env.observation_space.shape
    assert shape is not None
    return gym.wrappers.ReshapeObservation(env, shape[:-1])  # (k, 84, 84)


WRAPPERS: dict[str, Callable[..., gym.Env]] = {"minatar": minatar_planes, "atari": atari_frames}
"""Preprocessing an env recipe may name (``wrapper = "..."``, with ``wrapper_kwargs``)."""

FAMILY_WRAPPERS: tuple[tuple[str, str], ...] = (("MinAtar/", "minatar"), ("NoFrameskip-v4", "atari"))
"""Id prefix or suffix -> the wrapper every env of that family gets, recipe or not."""


def wrapper_for(env_id: str) -> str:
    """The wrapper the family of ``env_id`` needs ("" for none)."""
    for pattern, name in FAMILY_WRAPPERS:
        if env_id.startswith(pattern) or env_id.endswith(pattern):
            return name
    return ""
