"""Small environments the tests define (the suite must work on envs it has never seen).

Importing this module registers them; ``module:EnvId`` strings reach them as ``toy_envs:RlganReach-v0``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class BucketEnv(gym.Env):
    """Two coordinates in [-1, 1]; action d should name coordinate d's third (0, 1, 2). 16 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.obs, {}

    def step(self, action):
        reward = float((np.asarray(action) == np.digitize(self.obs, [-1 / 3, 1 / 3])).sum())
        self.t += 1
        self.obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.obs, reward, False, self.t >= 16, {}


class ReachEnv(gym.Env):
    """A point on a line moves towards a target: obs (position, target), action a velocity in [-1, 1].
    Reward -|position - target| per step, 20 steps."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.state = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.state.copy(), {}

    def step(self, action):
        velocity = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.state[0] = np.clip(self.state[0] + 0.2 * velocity, -2.0, 2.0)
        self.t += 1
        return self.state.copy(), -abs(float(self.state[0] - self.state[1])), False, self.t >= 20, {}


class UnboundedReachEnv(ReachEnv):
    action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


class DictActionEnv(ReachEnv):
    action_space = gym.spaces.Dict({"velocity": gym.spaces.Box(-1.0, 1.0, (1,), np.float32)})


class BrightnessEnv(gym.Env):
    """36x36 grey frames, bright or dark; action 1 is right on bright frames. 8 steps per episode."""

    observation_space = gym.spaces.Box(0, 255, (36, 36, 1), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def _frame(self):
        self.bright = bool(self.np_random.integers(2))
        base = 170 if self.bright else 60
        return (base + self.np_random.integers(-40, 40, (36, 36, 1))).astype(np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self._frame()
        return self.obs, {}

    def step(self, action):
        reward = float(int(action) == int(self.bright))
        self.t += 1
        self.obs = self._frame()
        return self.obs, reward, False, self.t >= 8, {}


for _id, _cls in (("RlganBucket-v0", BucketEnv), ("RlganBrightness-v0", BrightnessEnv), ("RlganReach-v0", ReachEnv),
                  ("RlganUnboundedReach-v0", UnboundedReachEnv), ("RlganDictAction-v0", DictActionEnv)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)
