"""Distillation end to end on tiny budgets with scripted teachers (no SB3 training here).

Oracles: an independent plain-Gymnasium rollout of the teacher; the closed-form optimum of the
smoothed loss; the schedule's formula; a teacher re-labelling the stored states; an env that
records the actions actually executed.
"""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401 (registers RlganBucket-v0)
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from helpers import tiny_distill
from scripted_teachers import bucket_teacher, lean_teacher, soft_lean_teacher

from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.objective import DistillLoss
from rlgan_ls.smoothing import ordinal_prior

torch.set_num_threads(1)


def plain_gym_return(policy, episodes: int, seed: int) -> float:
    """Teacher return from a bare single-env Gymnasium loop (independent of our rollout code)."""
    env = gym.make("CartPole-v1")
    total = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        ret, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(policy(obs[None])[0]))
            ret += r
            done = term or trunc
        total.append(ret)
    return float(np.mean(total))


def test_student_learns_scripted_teacher(tmp_path):
    teacher_return = plain_gym_return(lean_teacher, 3, seed=123)
    assert teacher_return == 500.0  # the scripted teacher solves CartPole, so imitation is measurable
    result = distill(tiny_distill(tmp_path, alpha=0.1, method="dagger"), teacher=lean_teacher)
    m = result.metrics
    assert m["eval/return_mean"] >= 0.9 * teacher_return
    # a good CartPole policy lives near the teacher's decision boundary, where argmaxes flip easily;
    # away from it (margin > 0.05 rad) the student must agree with the teacher
    obs = result.dataset.obs[: result.dataset.size]
    margin = (obs[:, 2] + 0.5 * obs[:, 3]).abs()
    with torch.no_grad():
        pred = result.student(obs[margin > 0.05]).argmax(-1).numpy()
    assert (pred == lean_teacher(obs[margin > 0.05].numpy())).mean() >= 0.97
    assert m["distill/agreement"] >= 0.75
    assert m["eval/return_vs_teacher"] == pytest.approx(m["eval/return_mean"] / m["teacher/return_mean"])


def test_bc_learns_soft_teacher(tmp_path):
    result = distill(tiny_distill(tmp_path, method="bc", alpha=0.0, target="soft", tau=2.0), teacher=soft_lean_teacher)
    assert result.metrics["distill/agreement"] >= 0.85
    assert result.dataset.probs is not None
    stored = result.dataset.probs[: result.dataset.size]
    obs = result.dataset.obs[: result.dataset.size].numpy()
    expected = torch.softmax(torch.log(torch.as_tensor(soft_lean_teacher(obs)).float().clamp_min(1e-12)) / 2.0, -1)
    torch.testing.assert_close(stored, expected, atol=1e-5, rtol=1e-4)  # tempered with tau = 2


def test_entropy_rises_with_alpha(tmp_path):
    entropies = [distill(tiny_distill(tmp_path, alpha=a, method="bc", run_name=f"a{a}"), teacher=lean_teacher)
                 .metrics["explore/entropy"] for a in (0.0, 0.1, 0.3)]
    assert entropies[0] < entropies[1] < entropies[2], entropies
    # a fitted student approaches H(1 - a/2, a/2); states near the teacher's boundary only add entropy
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert entropies[2] >= 0.8 * h(0.85)


@pytest.mark.parametrize("prior", ["uniform", "ordinal"])
def test_loss_optimum_is_the_smoothed_target_per_dimension(prior):
    """Free logits trained with the distillation loss converge to (1 - a) onehot + a * prior, per dimension."""
    nvec, alpha = (3, 4), 0.2
    actions = torch.tensor([[2, 0]])  # (1, D)
    logits = torch.zeros(1, sum(nvec), requires_grad=True)
    loss_fn = DistillLoss(nvec, alpha, prior=prior)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(1500):
        loss, _ = loss_fn(logits, actions, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for d, (block, k) in enumerate(zip(torch.split(logits.detach(), list(nvec), -1), nvec)):
        r = torch.full((k,), 1.0 / k) if prior == "uniform" else ordinal_prior(k)[actions[0, d]]
        want = (1 - alpha) * torch.nn.functional.one_hot(actions[0, d], k).float() + alpha * r
        torch.testing.assert_close(torch.softmax(block[0], -1), want, atol=2e-3, rtol=0)


def test_entropy_bonus_baseline_logs_its_terms():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    actions = torch.tensor([[0], [1]])
    loss, parts = DistillLoss((2,), 0.0, loss="entropy-bonus", entropy_beta=0.3)(logits, actions, None)
    logq = torch.log_softmax(logits, -1)
    ce = -logq[[0, 1], [0, 1]].mean()
    ent = -(logq.exp() * logq).sum(-1).mean()
    torch.testing.assert_close(loss, ce - 0.3 * ent)
    torch.testing.assert_close(parts["loss/ce_teacher"], ce)


@pytest.mark.parametrize("kw", [dict(prior="uniform"), dict(prior="ordinal", target="soft"),
                                dict(prior="gaussian", prior_width=1.5), dict(loss="entropy-bonus", entropy_beta=0.2)])
def test_per_row_loss_averages_to_the_batch_loss(kw):
    # reduction="none" (an ensemble's members sharing an objective, each averaging its own rows) against the
    # batch mean the solo run takes: the same loss, the same gradient, every logged term
    gen = torch.Generator().manual_seed(0)
    nvec = (3, 5)
    logits = (3 * torch.randn(64, sum(nvec), generator=gen)).requires_grad_()
    actions = torch.stack([torch.randint(0, k, (64,), generator=gen) for k in nvec], -1)
    probs = torch.cat([torch.softmax(torch.randn(64, k, generator=gen), -1) for k in nvec], -1)
    loss_fn = DistillLoss(nvec, 0.2, **kw)
    mean, parts = loss_fn(logits, actions, probs)
    (g_mean,) = torch.autograd.grad(mean, logits)
    rows, row_parts = loss_fn(logits, actions, probs, reduction="none")
    (g_rows,) = torch.autograd.grad(rows.mean(), logits)
    assert rows.shape == (64,) and rows.std() > 0
    torch.testing.assert_close(rows.mean(), mean)
    torch.testing.assert_close(g_rows, g_mean)
    for tag, value in parts.items():
        torch.testing.assert_close(row_parts[tag].mean(), value, msg=tag)


@pytest.mark.parametrize("schedule,expected", [
    ("linear", [1.0, 2 / 3, 1 / 3, 0.0, 0.0]),
    ("exponential", [1.0, 0.5, 0.25, 0.125, 0.0625]),
])
def test_beta_schedule(schedule, expected):
    cfg = DistillConfig(beta_schedule=schedule, beta_rounds=3, beta_p=0.5)
    assert [cfg.beta(i) for i in range(5)] == pytest.approx(expected)
    assert all(DistillConfig(method="bc").beta(i) == 1.0 for i in range(5))


class RecordingCartPole(CartPoleEnv):
    """CartPole that records every executed action in a class-level list (sync vector env only)."""

    executed: list[int] = []

    def step(self, action):
        RecordingCartPole.executed.append(int(action))
        return super().step(action)


def test_dagger_mixes_by_beta_and_aggregates(tmp_path, monkeypatch):
    gym.register("RlganRecordingCartPole-v0", entry_point=RecordingCartPole, max_episode_steps=500)
    RecordingCartPole.executed.clear()
    always_right = lambda obs: np.ones(len(obs), dtype=np.int64)  # noqa: E731
    steps, n_envs, rounds = 64, 4, 4
    cfg = tiny_distill(tmp_path, env="RlganRecordingCartPole-v0", method="dagger", rounds=rounds, steps_per_round=steps,
               n_envs=n_envs, beta_schedule="linear", beta_rounds=2, updates_per_round=1, lr=1e-5, act="greedy",
               eval_episodes=1, eval_envs=1, seed=3)
    # a student that always pushes left: executed "right" actions come from the teacher only
    import rlgan_ls.distill.trainer as trainer_mod

    original = trainer_mod.make_student

    def left_student(*args):
        student, spec = original(*args)
        last = student.net[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor([10.0, -10.0]))
        return student, spec

    monkeypatch.setattr(trainer_mod, "make_student", left_student)
    result = distill(cfg, teacher=always_right)
    per_round = np.array(RecordingCartPole.executed[: rounds * steps * n_envs]).reshape(rounds, steps * n_envs)
    right_share = per_round.mean(1)  # executed teacher share per round
    assert right_share[0] == 1.0 and right_share[2] == 0.0 and right_share[3] == 0.0
    assert abs(right_share[1] - 0.5) < 0.12  # beta_1 = 0.5, 256 Bernoulli draws
    # aggregation: every round's states are kept, each labelled by the teacher (even where the student acted)
    data = result.dataset
    assert data.size == rounds * steps * n_envs
    assert torch.bincount(data.round[: data.size]).tolist() == [steps * n_envs] * rounds
    relabel = torch.as_tensor(always_right(data.obs[: data.size].numpy()))
    assert torch.equal(data.actions[: data.size, 0], relabel)
    gen = torch.Generator().manual_seed(0)
    idx = data.sample_index(20_000, gen)
    assert torch.bincount(data.round[idx], minlength=rounds).min() > 0.2 * 20_000  # minibatches span all rounds


def test_saved_student_reloads_to_same_return(tmp_path, capsys):
    from rlgan_ls.cli import main
    from rlgan_ls.distill import load_student

    # a barely trained student, so returns vary between episodes and the comparison means something
    cfg = tiny_distill(tmp_path, rounds=1, updates_per_round=3, eval_episodes=6, eval_envs=3, seed=5)
    result = distill(cfg, teacher=lean_teacher)
    student, spec, config = load_student(result.run_dir)
    for a, b in zip(student.state_dict().values(), result.student.state_dict().values()):
        assert torch.equal(a, b)
    assert config["env"] == "CartPole-v1" and spec.nvec == (2,)
    capsys.readouterr()
    assert main(["evaluate", str(result.run_dir), "--episodes", "6", "--envs", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["return_mean"] == pytest.approx(result.metrics["eval/return_mean"])
    assert out["return_std"] == pytest.approx(result.metrics["eval/return_std"])


@pytest.mark.parametrize("prior", ["uniform", "ordinal"])
def test_multidiscrete_student_learns_per_dimension(tmp_path, prior):
    cfg = tiny_distill(tmp_path, env="RlganBucket-v0", alpha=0.1, prior=prior, rounds=3, updates_per_round=150, lr=1e-2)
    m = distill(cfg, teacher=bucket_teacher).metrics
    assert m["distill/agreement"] >= 0.9
    assert m["eval/return_mean"] >= 0.85 * 32  # 2 dims x 16 steps, the teacher's score


def test_cnn_student_on_image_observations(tmp_path):
    teacher = lambda obs: (obs.reshape(len(obs), -1).mean(1) > 115).astype(np.int64)  # noqa: E731
    cfg = tiny_distill(tmp_path, env="RlganBrightness-v0", rounds=2, steps_per_round=16, updates_per_round=40,
               batch_size=32, channels=8, width=32, depth=1, lr=3e-3)
    result = distill(cfg, teacher=teacher)
    assert type(result.student).__name__ == "CNNStudent"  # picked automatically for uint8 frames
    assert result.metrics["eval/return_mean"] >= 0.9 * 8
