"""Rollouts through Gymnasium's vector API: collecting states for labelling, and evaluating policies.

Vector envs are built with same-step autoreset (:func:`rlgan_ls.envs.make_vec`): when a sub-env
finishes, the observation it returns is already the first of its next episode, so every collected
state is one the policy really acts in and no step is wasted on a reset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from ..seeding import Seeds

__all__ = ["EVAL_SEED_OFFSET", "Collector", "EvalResult", "Rollout", "eval_seed", "evaluate", "evaluate_members"]

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
    """``steps`` vector steps of ``N`` envs (of one member: its block of envs)."""

    obs: np.ndarray
    """(steps * N, *obs_shape): the states acted in, step-major."""
    episode_returns: list[float]
    """Returns of the episodes that ended during this rollout."""
    env_steps: int
    """steps * N."""


class Collector:
    """Steps a vector env with a policy, keeping the env's state between calls (rounds).

    The envs may belong to several members of an ensemble, in equal blocks (member m owns envs
    ``m * N .. (m + 1) * N - 1``, seeded ``seeds[m], seeds[m] + 1, ...``: what its solo run's vector env of
    N would be); :meth:`collect` returns one :class:`Rollout` per member. The observation buffer is
    allocated once per rollout, so collection costs the env steps, the policy calls and one copy per step.
    """

    def __init__(self, envs: gym.vector.VectorEnv, seeds: int | Sequence[int]) -> None:
        self.envs = envs
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.per_member = envs.num_envs // len(self.seeds)
        seeds = [s + i for s in self.seeds for i in range(self.per_member)]  # what reset(seed=s) does per block
        self.obs, _ = envs.reset(seed=seeds)  # type: ignore[arg-type]  # vector envs take one seed per env too
        self._running = np.zeros(envs.num_envs, dtype=np.float64)

    def collect(self, act: ActFn, steps: int) -> list[Rollout]:
        """``steps`` vector steps with ``act`` choosing every env's action; one rollout per member."""
        buf = np.empty((steps, *self.obs.shape), dtype=self.obs.dtype)  # (T, M * N, *obs_shape)
        finished: list[tuple[int, float]] = []  # (env, return) in the order the episodes ended
        for t in range(steps):
            buf[t] = self.obs
            actions = act(self.obs)
            self.obs, reward, terminated, truncated, _ = self.envs.step(actions)
            self._running += reward
            done = terminated | truncated
            if done.any():
                finished.extend(zip(np.flatnonzero(done).tolist(), self._running[done].tolist()))
                self._running[done] = 0.0
        n, shape = self.per_member, self.obs.shape[1:]
        return [Rollout(buf[:, m * n:(m + 1) * n].reshape(steps * n, *shape),
                        [r for env, r in finished if env // n == m], steps * n) for m in range(len(self.seeds))]


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
    return evaluate_members(envs, act, episodes, [seed])[0]


def evaluate_members(envs: gym.vector.VectorEnv, act: ActFn, episodes: int, seeds: Sequence[int]) -> list[EvalResult]:
    """:func:`evaluate` for the members of an ensemble at once: member m owns an equal block of the envs,
    seeded from ``seeds[m]``, and gets the result its own :func:`evaluate` would give."""
    per, n = envs.num_envs // len(seeds), envs.num_envs
    quota = np.tile(np.full(per, episodes // per, dtype=np.int64), len(seeds))
    quota += np.tile(np.arange(per) < episodes % per, len(seeds))
    returns: list[list[float]] = [[] for _ in range(n)]
    lengths: list[list[int]] = [[] for _ in range(n)]
    running, length = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64)
    visited: list[np.ndarray] = []
    obs, _ = envs.reset(seed=[s + i for s in seeds for i in range(per)])  # type: ignore[arg-type]
    while any(len(r) < q for r, q in zip(returns, quota)):
        active = np.array([len(r) < q for r, q in zip(returns, quota)])  # (M * N,) still counting
        visited.append(np.where(active)[0])
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
    return [_member_result(m, per, returns, lengths, visited) for m in range(len(seeds))]


def _member_result(m: int, per: int, returns: list[list[float]], lengths: list[list[int]],
                   visited: list[np.ndarray]) -> EvalResult:
    """Member ``m``'s returns, lengths and visited states, in the order its own evaluation lists them."""
    block = range(m * per, (m + 1) * per)
    states = [obs[(envs >= block.start) & (envs < block.stop)] for envs, obs in zip(visited[::2], visited[1::2])]
    return EvalResult(np.asarray([x for i in block for x in returns[i]]),
                      np.asarray([x for i in block for x in lengths[i]]), np.concatenate(states, axis=0))
