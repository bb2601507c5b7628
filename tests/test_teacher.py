"""Teacher targets against SB3's own APIs and closed forms; callable teachers; the teacher cache.

SB3 models here are constructed, never trained (random weights are as good as any for checking
that we read their distributions correctly).
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO

from rlgan_ls.distill.actions import action_spec
from rlgan_ls.distill.envs import resolve_env
from rlgan_ls.distill.teachers import CallableTeacher, SB3Teacher, load_sb3_teacher
from rlgan_ls.distill.teachers.cache import TeacherRequest, get_teacher, sha256_of, teacher_path
from rlgan_ls.distill.teachers.sb3 import detect_sb3_algo
from rlgan_ls.errors import UsageError

torch.set_num_threads(1)
CARTPOLE = action_spec(gym.spaces.Discrete(2), "CartPole-v1")


def _obs(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.5, size=(n, 4)).astype(np.float32)


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_policy_teacher_probs_match_sb3_log_likelihoods(cls):
    model = cls("MlpPolicy", "CartPole-v1", device="cpu", seed=1)
    obs = _obs()
    labels = SB3Teacher(model, CARTPOLE).label(obs)
    obs_t = torch.as_tensor(obs)
    with torch.no_grad():  # oracle: SB3's evaluate_actions gives log pi(a|s) for each action
        cols = [model.policy.evaluate_actions(obs_t, torch.full((len(obs),), a))[1].exp() for a in (0, 1)]
    torch.testing.assert_close(labels.probs, torch.stack(cols, -1), atol=1e-6, rtol=1e-5)
    greedy, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(labels.actions[:, 0].numpy(), greedy)


def test_tau_tempers_policy_probs():
    model = PPO("MlpPolicy", "CartPole-v1", device="cpu", seed=2)
    teacher = SB3Teacher(model, CARTPOLE)
    obs = _obs()
    p = teacher.label(obs, tau=1.0).probs
    for tau in (0.5, 3.0):
        want = p ** (1 / tau) / (p ** (1 / tau)).sum(-1, keepdim=True)  # closed form of softmax(log p / tau)
        torch.testing.assert_close(teacher.label(obs, tau=tau).probs, want, atol=1e-6, rtol=1e-5)


def test_dqn_teacher_is_softmax_q_over_tau():
    model = DQN("MlpPolicy", "CartPole-v1", device="cpu", seed=3, learning_starts=0)
    obs = _obs()
    with torch.no_grad():
        q = model.q_net(torch.as_tensor(obs))  # (N, 2)
    labels = SB3Teacher(model, CARTPOLE).label(obs, tau=0.7)
    torch.testing.assert_close(labels.probs, torch.softmax(q / 0.7, -1))
    greedy, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(labels.actions[:, 0].numpy(), greedy)


def test_multidiscrete_policy_teacher_blocks():
    space = gym.spaces.MultiDiscrete([3, 2])
    env = gym.make("CartPole-v1")
    env.action_space = space  # only the spaces matter for building the policy
    model = PPO("MlpPolicy", env, device="cpu", seed=4)
    obs = _obs(32)
    labels = SB3Teacher(model, action_spec(space, "x")).label(obs)
    assert labels.probs.shape == (32, 5) and labels.actions.shape == (32, 2)
    torch.testing.assert_close(labels.probs[:, :3].sum(-1), torch.ones(32))
    torch.testing.assert_close(labels.probs[:, 3:].sum(-1), torch.ones(32))
    greedy, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(labels.actions.numpy(), greedy)


def test_saved_zip_loads_to_same_labels_and_algo(tmp_path, capsys):
    obs = _obs()
    env = gym.make("CartPole-v1")
    spaces = (env.observation_space, env.action_space)
    for cls, name in ((PPO, "ppo"), (A2C, "a2c"), (DQN, "dqn")):
        model = cls("MlpPolicy", "CartPole-v1", device="cpu", seed=5)
        path = tmp_path / f"{name}.zip"
        model.save(path)
        assert detect_sb3_algo(path) == name
        loaded = load_sb3_teacher(path, CARTPOLE, spaces)  # nothing unpickled: rebuilt from what we know
        torch.testing.assert_close(loaded.label(obs).probs, SB3Teacher(model, CARTPOLE).label(obs).probs)
        trusted = load_sb3_teacher(path, CARTPOLE, spaces, trust=True)  # SB3's own way gives the same teacher
        torch.testing.assert_close(trusted.label(obs).probs, loaded.label(obs).probs)
    assert capsys.readouterr().err.count("--trust-teacher") == 3  # the pickle warning, each trusted load only


def test_callable_teacher_actions_and_probs():
    start1 = action_spec(gym.spaces.Discrete(3, start=1), "x")
    hard = CallableTeacher(lambda o: np.array([1, 3, 2]), start1).label(np.zeros((3, 1)))
    assert hard.actions[:, 0].tolist() == [0, 2, 1] and hard.probs is None  # env actions minus start
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    soft_teacher = CallableTeacher(lambda o: probs, CARTPOLE)
    soft = soft_teacher.label(np.zeros((2, 4)))
    assert soft_teacher.soft and soft.actions[:, 0].tolist() == [1, 0]
    torch.testing.assert_close(soft.probs, torch.tensor(probs, dtype=torch.float32))
    with pytest.raises(ValueError, match="sum to 1"):
        CallableTeacher(lambda o: np.array([[0.5, 0.6]]), CARTPOLE).label(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="outside the action space"):
        CallableTeacher(lambda o: np.array([2]), CARTPOLE).label(np.zeros((1, 4)))


def test_cache_is_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    recipe = resolve_env("CartPole-v1")
    req = TeacherRequest(recipe, root=tmp_path)
    path, algo, params = teacher_path(req)
    assert algo == "ppo" and params["n_steps"] == 32 and params["steps"] == 100_000  # the zoo's settings
    assert teacher_path(TeacherRequest(recipe, steps=5000, root=tmp_path))[0] != path  # other steps: another teacher
    assert teacher_path(TeacherRequest(recipe, seed=1, root=tmp_path))[0] != path  # other seed: another teacher
    assert teacher_path(TeacherRequest(recipe, "dqn", root=tmp_path))[0] != path

    calls = []

    def fake_train(req_, **kw):
        calls.append(req_.settings()[0])
        PPO("MlpPolicy", "CartPole-v1", device="cpu").save(path)
        path.with_suffix(".json").write_text(json.dumps({"return_mean": 12.5, "return_std": 1.0, "episodes": 20,
                                                         "sha256": sha256_of(path)}))
        from rlgan_ls.distill.teachers.cache import TeacherInfo

        return TeacherInfo(path, "ppo", 12.5, 1.0, 20, 100_000)

    monkeypatch.setattr("rlgan_ls.distill.teachers.cache.train_teacher", fake_train)
    first = get_teacher(req)
    second = get_teacher(req)
    assert calls == ["ppo"] and first == second and second.return_mean == 12.5


def test_env_without_a_recipe_needs_an_algorithm_and_a_budget(tmp_path):
    with pytest.raises(UsageError, match="--algo/--teacher-algo.*--teacher PATH"):
        get_teacher(TeacherRequest(resolve_env("CartPole-v0"), root=tmp_path))  # an env with no recipe
    with pytest.raises(UsageError, match="--steps/--teacher-steps.*Stable-Baselines3's defaults"):
        get_teacher(TeacherRequest(resolve_env("CartPole-v0"), "ppo", root=tmp_path))


def test_teacher_command_reuses_cache_and_copies(tmp_path, capsys):
    from rlgan_ls.cli import main

    recipe = resolve_env("CartPole-v1")
    path, _, _ = teacher_path(TeacherRequest(recipe, root=tmp_path))
    PPO("MlpPolicy", "CartPole-v1", device="cpu").save(path)
    path.with_suffix(".json").write_text(json.dumps({"return_mean": 321.0, "return_std": 4.0, "episodes": 20,
                                                     "sha256": sha256_of(path)}))
    out = tmp_path / "copy" / "teacher.zip"
    assert main(["teacher", "--env", "CartPole-v1", "--cache-dir", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cached PPO teacher" in printed and "321.00" in printed
    assert out.read_bytes() == path.read_bytes()
    assert main(["teacher", "--env", "CartPole-v0", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--algo" in err[0]
