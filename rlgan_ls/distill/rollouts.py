"""Rollouts through Gymnasium's vector API: collecting states for labelling, and evaluating policies.

Vector envs are built with same-step autoreset (:func:`rlgan_ls.envs.make_vec`): when a sub-env
finishes, the observation it returns is already the first of its next episode, so every collected
state is one the policy really acts in and no step is wasted on a reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from ..seeding import Seeds

__all__ = ["EVAL_SEED_OFFSET", "Collector", "EvalResult", "Rollout", "eval_seed", "evaluate"]

EVAL_SEED_OFFSET = Seeds(0).of("evaluation")
"""Evaluation episodes are seeded ``seed + EVAL_SEED_OFFSET``: away from the training envs' seeds."""


def eval_seed(seed: int) -> int:
    """The seed of the evaluation episodes of a run (or teacher) trained with ``seed``."""
    return Seeds(seed).of("evaluation")

# A step function receives the current observations (N, *obs_shape) and returns env actions for
# them, plus anything it wants recorded with those states (kept by the caller, not here).
ActFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Rollout:
    """``steps`` vector steps of ``N`` envs."""

    obs: np.ndarray
    """(steps * N, *obs_shape): the states acted in, step-major."""
    episode_returns: list[float]
    """Returns of the episodes that ended during this rollout."""
    env_steps: int
    """steps * N."""


class Collector:
    """Steps a vector env with a policy, keeping the env's state between calls (rounds).

    The observation buffer is preallocated once per rollout length, so collection costs the env
    steps, the policy calls and one array copy per step.
    """

    def __init__(self, envs: gym.vector.VectorEnv, seed: int) -> None:
        self.envs = envs
        self.num_envs = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self._running = np.zeros(self.num_envs, dtype=np.float64)

    def collect(self, act: ActFn, steps: int) -> Rollout:
        n = self.num_envs
        buf = np.empty((steps, *self.obs.shape), dtype=self.obs.dtype)  # (T, N, *obs_shape)
        finished: list[float] = []
        for t in range(steps):
            buf[t] = self.obs
            actions = act(self.obs)
            self.obs, reward, terminated, truncated, _ = self.envs.step(actions)
            self._running += reward
            done = terminated | truncated
            if done.any():
                finished.extend(self._running[done].tolist())
                self._running[done] = 0.0
        return Rollout(buf.reshape(steps * n, *self.obs.shape[1:]), finished, steps * n)


@dataclass
class EvalResult:
    """Outcome of :func:`evaluate`."""

    returns: np.ndarray
    """(episodes,) undiscounted returns."""
    lengths: np.ndarray
    """(episodes,) episode lengths."""
    obs: np.ndarray
    """(M, *obs_shape) every state the policy acted in during the counted episodes."""


def evaluate(envs: gym.vector.VectorEnv, act: ActFn, episodes: int, seed: int) -> EvalResult:
    """Run ``act`` until ``episodes`` episodes have finished and return their returns.

    Episodes are assigned to sub-envs up front (env i runs ``quota[i]`` of them), so the result is
    not biased towards short episodes as "first ``episodes`` to finish" would be; with a
    deterministic policy and a fixed seed it is reproducible.
    """
    n = envs.num_envs
    quota = np.full(n, episodes // n, dtype=np.int64)
    quota[: episodes % n] += 1
    returns: list[list[float]] = [[] for _ in range(n)]
    lengths: list[list[int]] = [[] for _ in range(n)]
    running = np.zeros(n, dtype=np.float64)
    length = np.zeros(n, dtype=np.int64)
    visited: list[np.ndarray] = []
    obs, _ = envs.reset(seed=seed)
    while any(len(r) < q for r, q in zip(returns, quota)):
        active = np.array([len(r) < q for r, q in zip(returns, quota)])  # (N,) still counting
        visited.append(obs[active])
        obs_next, reward, terminated, truncated, _ = envs.step(act(obs))
        running += reward
        length += 1
        for i in np.flatnonzero(terminated | truncated):
            if len(returns[i]) < quota[i]:
                returns[i].append(float(running[i]))
                lengths[i].append(int(length[i]))
            running[i], length[i] = 0.0, 0
        obs = obs_next
    flat = [x for r in returns for x in r]
    flat_len = [x for r in lengths for x in r]
    return EvalResult(np.asarray(flat), np.asarray(flat_len), np.concatenate(visited, axis=0))
