"""Box actions: bins, soft labels from Gaussian and squashed-Gaussian policies, the Gaussian prior,
distillation on Pendulum with a scripted teacher, teachers for envs without a recipe, and bad input.

Oracles: the bins' definition (centres map back to their bins); scipy.stats.norm CDF differences and
numerical integration of the tanh-squashed density (scipy.integrate.quad); SB3's own distributions;
the Gaussian kernel's closed form; a scripted swing-up controller's return.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401 (registers the RlganReach envs)
from scipy import integrate, stats
from scripted_teachers import reach_teacher, swing_up
from stable_baselines3 import PPO, SAC, TD3

from rlgan_ls import gaussian_prior
from rlgan_ls.cli import main
from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.actions import action_spec
from rlgan_ls.distill.teachers import SB3Teacher
from rlgan_ls.distill.teachers.continuous import gaussian_bin_probs, squashed_gaussian_bin_probs
from rlgan_ls.errors import UsageError

torch.set_num_threads(1)


def test_bins_round_trip_and_shapes():
    spec = action_spec(gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)), "x", bins=5)
    assert spec.nvec == (5, 5) and spec.continuous
    edges = spec.box.edges()
    np.testing.assert_allclose(edges[0], [-2.0, -1.2, -0.4, 0.4, 1.2, 2.0])
    idx = np.array([[0, 4], [2, 1], [4, 0]])
    actions = spec.to_env(idx)
    assert actions.dtype == np.float32 and actions.shape == (3, 2)
    assert np.array_equal(spec.from_env(actions), idx)  # a bin's centre lies in that bin
    rng = np.random.default_rng(0)
    a = rng.uniform([-2, 0], [2, 1], size=(1000, 2))
    back = spec.to_env(spec.from_env(a))
    assert (np.abs(back - a) <= (edges[:, 1] - edges[:, 0]) / 2 + 1e-6).all()  # within half a bin
    assert spec.from_env(np.array([[-9.0, 9.0]])).tolist() == [[0, 4]]  # beyond the bounds: the edge bins
    square = action_spec(gym.spaces.Box(-1, 1, (2, 3)), "x", bins=3)
    assert square.nvec == (3,) * 6 and square.to_env(np.zeros((4, 6), dtype=np.int64)).shape == (4, 2, 3)


def test_gaussian_bin_probs_are_scipy_cdf_differences():
    edges = torch.linspace(-2, 2, 8)[None].repeat(2, 1)  # (D=2, B+1=8)
    mean = torch.tensor([[0.3, -1.9], [1.5, 0.0]])
    std = torch.tensor([[0.5, 0.2], [1.0, 3.0]])
    got = gaussian_bin_probs(mean, std, edges)  # (2, 2, 7)
    for n in range(2):
        for d in range(2):
            cdf = stats.norm.cdf(edges[d, 1:-1].numpy(), loc=mean[n, d].item(), scale=std[n, d].item())
            want = np.diff(np.concatenate([[0.0], cdf, [1.0]]))  # outer bins take the clipped tails
            np.testing.assert_allclose(got[n, d].numpy(), want, atol=1e-6)


def test_squashed_gaussian_bin_probs_match_numerical_integration():
    low, high = torch.tensor([-2.0]), torch.tensor([2.0])
    edges = torch.linspace(-2, 2, 6)[None]  # (1, 6)
    mean, std = torch.tensor([[0.4]]), torch.tensor([[0.8]])
    got = squashed_gaussian_bin_probs(mean, std, edges, low, high)[0, 0].numpy()

    def density(x: float) -> float:  # of low + (tanh(u) + 1) / 2 (high - low), u ~ N(0.4, 0.8^2)
        a = x / 2.0
        return stats.norm.pdf(np.arctanh(a), 0.4, 0.8) / (1 - a * a) / 2.0

    want = [integrate.quad(density, lo, hi)[0] for lo, hi in zip(edges[0, :-1].tolist(), edges[0, 1:].tolist())]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert abs(got.sum() - 1) < 1e-6


def _pendulum_obs(n: int = 64) -> np.ndarray:
    th = np.random.default_rng(1).uniform(-np.pi, np.pi, n)
    return np.stack([np.cos(th), np.sin(th), np.random.default_rng(2).uniform(-4, 4, n)], 1).astype(np.float32)


@pytest.mark.parametrize("cls", [PPO, SAC])
def test_sb3_box_teachers_soft_and_hard_labels(cls):
    env = gym.make("Pendulum-v1")
    model = cls("MlpPolicy", env, device="cpu", seed=0)  # untrained: any policy will do
    spec = action_spec(env.action_space, "Pendulum-v1", bins=9)
    obs = _pendulum_obs()
    labels = SB3Teacher(model, spec).label(obs)
    deterministic, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(labels.actions.numpy(), spec.from_env(deterministic))  # hard target: its action's bin
    # the action comes from the same forward as the probabilities, and is exactly what predict returns
    assert np.array_equal(labels.env_actions.numpy(), deterministic.reshape(-1, 1))
    obs_t = torch.as_tensor(obs)
    with torch.no_grad():
        if cls is SAC:
            mean, log_std, _ = model.actor.get_action_dist_params(obs_t)
            mu, sigma = mean[:, 0].numpy(), log_std.exp()[:, 0].numpy()
            inner = np.arctanh(np.clip(spec.box.edges()[0, 1:-1] / 2.0, -1, 1))  # edges rescaled to [-1, 1]
        else:
            dist = model.policy.get_distribution(obs_t).distribution
            mu, sigma = dist.mean[:, 0].numpy(), dist.stddev[:, 0].numpy()
            inner = spec.box.edges()[0, 1:-1]
    cdf = stats.norm.cdf(inner[None, :], loc=mu[:, None], scale=sigma[:, None])  # (N, B - 1)
    want = np.diff(np.concatenate([np.zeros((len(obs), 1)), cdf, np.ones((len(obs), 1))], 1), axis=1)
    np.testing.assert_allclose(labels.probs.numpy(), want, atol=1e-5)


def test_deterministic_teachers_give_hard_targets_only(tmp_path):
    td3 = TD3("MlpPolicy", gym.make("Pendulum-v1"), device="cpu", seed=0)
    spec = action_spec(gym.make("Pendulum-v1").action_space, "x", bins=9)
    assert not SB3Teacher(td3, spec).soft and SB3Teacher(td3, spec).label(_pendulum_obs()).probs is None
    with pytest.raises(UsageError, match="--target soft.*td3"):
        distill(DistillConfig(env="Pendulum-v1", target="soft", logdir=str(tmp_path), progress=False), teacher=td3)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_gaussian_prior_is_the_normalised_kernel():
    k, width = 9, 1.5
    p = gaussian_prior(k, width, dtype=torch.float64)
    torch.testing.assert_close(p.sum(-1), torch.ones(k, dtype=torch.float64))
    i = 4
    kernel = np.exp(-((np.arange(k) - i) ** 2) / (2 * width**2))
    np.testing.assert_allclose(p[i].numpy(), kernel / kernel.sum(), atol=1e-12)
    assert int(p[0].argmax()) == 0 and (p[i, i:].diff() < 0).all() and torch.allclose(p, p.flip(0).flip(1))
    with pytest.raises(ValueError, match="width"):
        gaussian_prior(k, 0.0)


def test_pendulum_student_learns_a_scripted_swing_up_in_seconds(tmp_path):
    cfg = DistillConfig(env="Pendulum-v1", alpha=0.1, prior="ordinal", bins=21, eval_episodes=10, logdir=str(tmp_path),
                        progress=False, seed=0)
    m = distill(cfg, teacher=swing_up).metrics
    assert m["eval/normalized_return"] >= 0.85, m
    assert m["teacher/return_mean"] > -250 and m["random/return_mean"] < -900
    assert 0 < m["distill/action_error"] < 1.5 and m["explore/entropy"] > 0
    config = json.loads((tmp_path / "Pendulum-v1-dagger-a0.1-s0" / "config.json").read_text())
    assert config["nvec"] == [21] and config["bins"] == 21 and config["prior"] == "ordinal"


def test_teacher_for_an_env_without_a_recipe(tmp_path, capsys):
    env = "toy_envs:RlganReach-v0"
    quick = ["--hyperparams", "n_steps=256", "batch_size=64"]
    assert main(["teacher", "--env", env, "--algo", "ppo", "--steps", "2048", "--cache-dir", str(tmp_path / "c"),
                 "--no-progress", *quick]) == 0
    captured = capsys.readouterr()
    assert "Stable-Baselines3's defaults and --hyperparams n_steps=256 batch_size=64" in captured.err
    teacher_return = float(captured.out.split("(return ")[1].split(" ")[0])
    assert teacher_return > -9.0  # a random policy scores about -12 here
    argv = ["distill", "--env", env, "--teacher-algo", "ppo", "--teacher-steps", "2048", "--teacher-hyperparams",
            "n_steps=256", "batch_size=64", "--no-train-teacher", "--cache-dir", str(tmp_path / "c"), "--bins", "11",
            "--logdir", str(tmp_path / "runs"), "--rounds", "3", "--eval-episodes", "10", "--no-progress"]
    assert main(argv) == 0  # found the cached teacher: nothing was trained again
    metrics = json.loads(next((tmp_path / "runs").glob("*/metrics.json")).read_text())
    assert metrics["eval/normalized_return"] > 0.7
    assert metrics["teacher/return_mean"] == pytest.approx(teacher_return, abs=0.006)  # printed with 2 decimals


@pytest.mark.parametrize(("argv", "needle"), [
    (["--env", "toy_envs:RlganUnboundedReach-v0"], "gymnasium.wrappers.RescaleAction"),
    (["--env", "toy_envs:RlganDictAction-v0"], "Dict"),
    (["--env", "toy_envs:RlganReach-v0", "--bins", "1"], "--bins must be >= 2"),
    (["--env", "toy_envs:RlganReach-v0", "--action-low", "1", "--action-high", "-1"], "--action-low/--action-high"),
])
def test_bad_box_input_is_one_line(tmp_path, capsys, argv, needle):
    rc = main(["distill", *argv, "--teacher-algo", "ppo", "--teacher-steps", "10", "--no-train-teacher",
               "--logdir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not any(tmp_path.iterdir())


def test_unbounded_box_with_explicit_bounds_and_a_mismatched_teacher(tmp_path, capsys):
    cfg = DistillConfig(env="toy_envs:RlganUnboundedReach-v0", action_low=-1.0, action_high=1.0, bins=11, rounds=2,
                        eval_episodes=4, logdir=str(tmp_path / "runs"), progress=False)
    m = distill(cfg, teacher=reach_teacher).metrics
    assert m["eval/normalized_return"] > 0.7
    wrong = tmp_path / "pendulum.zip"
    SAC("MlpPolicy", gym.make("Pendulum-v1"), device="cpu").save(wrong)
    rc = main(["distill", "--env", "toy_envs:RlganReach-v0", "--teacher", str(wrong), "--logdir", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "does not match the env's" in err[-1] and len([e for e in err if "error" in e]) == 1
    assert not (tmp_path / "x").exists()
