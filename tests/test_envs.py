"""Building envs from ids, module:EnvId strings and recipes; action-space handling; shipped recipes."""

from __future__ import annotations

import inspect
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

from rlgan_ls.distill.actions import action_spec
from rlgan_ls.distill.envs import TEACHER_ALGOS, check_observation_space, make_vec, resolve_env
from rlgan_ls.errors import UsageError
from rlgan_ls.recipes import find_recipe, list_recipes, load_toml

SHIPPED = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3", "Pendulum-v1", "MountainCarContinuous-v0",
           "LunarLanderContinuous-v3", "InvertedPendulum-v5")
OURS = {"n_envs", "steps", "net_arch", "noise_type", "noise_std"}  # read by rlgan-ls, not passed to SB3 as such


def test_shipped_recipes_are_valid_sb3_settings():
    from rlgan_ls.distill.teachers.sb3 import sb3_class

    assert set(SHIPPED) <= set(list_recipes("envs"))
    for name in list_recipes("envs"):
        data = load_toml(find_recipe("envs", name))
        assert data["env_id"] == name and data["algo"] in data
        for algo in TEACHER_ALGOS:
            if algo not in data:
                continue
            accepted = set(inspect.signature(sb3_class(algo).__init__).parameters)
            unknown = set(data[algo]) - accepted - OURS
            assert not unknown, f"{name} [{algo}]: {unknown} are not {algo.upper()} arguments"


def test_recipe_and_plain_id_resolve():
    r = resolve_env("CartPole-v1")
    assert r.env_id == "CartPole-v1" and r.algo == "ppo" and r.teachers["ppo"]["batch_size"] == 256
    plain = resolve_env("CartPole-v0")  # no recipe: still a valid env id
    assert plain.env_id == "CartPole-v0" and plain.teachers == {}


def test_module_colon_env_id(tmp_path, monkeypatch):
    (tmp_path / "rlgan_test_envpkg.py").write_text(textwrap.dedent("""
        import gymnasium as gym
        from gymnasium.envs.classic_control.cartpole import CartPoleEnv
        if "RlganThirdParty-v0" not in gym.registry:
            gym.register("RlganThirdParty-v0", entry_point=CartPoleEnv, max_episode_steps=50)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rlgan_test_envpkg", raising=False)
    r = resolve_env("rlgan_test_envpkg:RlganThirdParty-v0")
    assert r.env_id == "RlganThirdParty-v0"
    envs = make_vec(r, 2)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 4)
    envs.close()


def test_unknown_env_suggests_close_ids():
    with pytest.raises(UsageError, match="did you mean CartPole-v1"):
        resolve_env("CartPole-v2")
    with pytest.raises(UsageError, match="unknown environment"):
        resolve_env("TotallyUnknown-v9")


def test_action_spaces():
    d = action_spec(gym.spaces.Discrete(4, start=-2), "x")
    assert d.nvec == (4,) and not d.multi
    idx = np.array([[0], [3]])
    assert d.to_env(idx).tolist() == [-2, 1] and np.array_equal(d.from_env(d.to_env(idx)), idx)
    md = action_spec(gym.spaces.MultiDiscrete([3, 5]), "x")
    assert md.nvec == (3, 5) and md.total == 8 and md.to_env(np.array([[2, 4]])).tolist() == [[2, 4]]
    for bad in (gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), gym.spaces.MultiBinary(3), gym.spaces.Discrete(1),
                gym.spaces.MultiDiscrete([[2, 2], [2, 2]]), gym.spaces.Box(-np.inf, np.inf, (2,))):
        with pytest.raises(UsageError, match="--env x"):
            action_spec(bad, "x")


def test_observation_kinds():
    assert check_observation_space(gym.spaces.Box(-1, 1, (4,)), "x") == "vector"
    assert check_observation_space(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), "x") == "image"
    with pytest.raises(UsageError, match="observation space"):
        check_observation_space(gym.spaces.Discrete(3), "x")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_autoresets_in_the_same_step(mode):
    envs = make_vec(resolve_env("CartPole-v1"), 2, mode)
    envs.reset(seed=0)
    for _ in range(200):  # always pushing right ends an episode within a few dozen steps
        obs, _, term, trunc, info = envs.step(np.ones(2, dtype=np.int64))
        if (term | trunc).any():
            i = int(np.flatnonzero(term | trunc)[0])
            # the returned obs is the next episode's first state (|x| <= 0.05), the final one is in info
            assert np.abs(obs[i]).max() <= 0.05 and np.abs(info["final_obs"][i]).max() > 0.05
            break
    else:
        pytest.fail("no episode ended")
    envs.close()
