"""Distillation end to end on tiny budgets: an SB3 teacher's soft targets on MultiDiscrete actions, the
entropy-bonus baseline, async vectorization, and ``sweep distill`` with a report.

Oracles: SB3's own per-dimension distributions; the same run with sync vectorization; the entropy
ordering that the objectives imply.
"""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import tiny_distill
from scripted_teachers import lean_teacher
from stable_baselines3 import PPO

from rlgan_ls.cli import main
from rlgan_ls.distill import distill


@pytest.fixture(scope="module")
def bucket_env_id() -> str:
    import toy_envs  # noqa: F401 (registers it)

    return "RlganBucket-v0"


def test_multidiscrete_sb3_teacher_soft_targets(tmp_path, bucket_env_id):
    torch.manual_seed(0)
    teacher = PPO("MlpPolicy", gym.make(bucket_env_id), device="cpu", seed=0)  # untrained: any policy will do
    cfg = tiny_distill(tmp_path, env=bucket_env_id, target="soft", alpha=0.1, rounds=3, updates_per_round=150, lr=1e-2)
    result = distill(cfg, teacher=teacher)
    data = result.dataset
    obs = data.obs[: data.size]
    with torch.no_grad():
        dists = teacher.policy.get_distribution(obs).distribution  # one Categorical per action dimension
    want = torch.cat([d.probs for d in dists], dim=-1)  # (N, 3 + 3)
    torch.testing.assert_close(data.probs[: data.size], want, atol=1e-5, rtol=1e-4)
    assert torch.equal(data.actions[: data.size], torch.stack([d.probs.argmax(-1) for d in dists], -1))
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["nvec"] == [3, 3] and config["teacher_kind"] == "ppo" and config["target"] == "soft"
    # The student fitted the teacher's distribution, per dimension (KL summed over the two).
    assert result.metrics["distill/kl_teacher_student"] < 0.05
    # Its reliability diagram against the teacher's probabilities: each bin's mean confidence lies in its bin,
    # and a student this close to its teacher sits on the diagonal.
    cal = json.loads((result.run_dir / "calibration.json").read_text())
    count, conf, target = (np.asarray(cal[k]) for k in ("count", "confidence", "target"))
    full = count > 0
    bins = np.arange(len(count))[full]
    assert cal["against"] == "teacher probability" and count.sum() > 0
    assert ((conf[full] > bins / len(count)) & (conf[full] <= (bins + 1) / len(count) + 1e-9)).all()
    assert np.average(np.abs(conf - target)[full], weights=count[full]) < 0.1


def test_entropy_bonus_baseline_raises_entropy(tmp_path):
    plain, bonus = (distill(tiny_distill(tmp_path, loss="entropy-bonus", alpha=0.0, entropy_beta=beta, method="bc",
                                         seed=1), teacher=lean_teacher) for beta in (0.0, 0.5))
    assert plain.run_dir.name == "CartPole-v1-bc-eb0-s1" and bonus.run_dir.name == "CartPole-v1-bc-eb0.5-s1"
    assert bonus.metrics["explore/entropy"] > plain.metrics["explore/entropy"] + 0.1
    assert json.loads((bonus.run_dir / "config.json").read_text())["loss"] == "entropy-bonus"


def test_async_vectorization_gives_the_sync_numbers(tmp_path):
    sync = distill(tiny_distill(tmp_path, rounds=2, run_name="sync"), teacher=lean_teacher).metrics
    async_ = distill(tiny_distill(tmp_path, rounds=2, run_name="async", vectorization="async"),
                     teacher=lean_teacher).metrics
    clock = {"charts/SPS", "time/wall_s"}
    assert sync.keys() == async_.keys()
    assert {k: v for k, v in async_.items() if k not in clock} == {k: v for k, v in sync.items() if k not in clock}


def test_sweep_distill_over_two_envs_and_its_report(tmp_path, capsys):
    teacher = tmp_path / "teacher.zip"
    PPO("MlpPolicy", "CartPole-v1", device="cpu", seed=0).save(teacher)  # acts in both CartPole versions
    exp = tmp_path / "exp"
    argv = ["sweep", "distill", "--env", "CartPole-v1", "CartPole-v0", "--alpha", "0", "0.3", "--seed", "0",
            "--workers", "2", "--logdir", str(exp), "--teacher", str(teacher), "--n-envs", "2", "--rounds", "2",
            "--steps-per-round", "16", "--updates-per-round", "40", "--eval-episodes", "2", "--eval-envs", "2"]
    assert main(argv) == 0
    assert "4 ran, 0 skipped (finished earlier), 0 failed" in capsys.readouterr().out
    for env in ("CartPole-v1", "CartPole-v0"):
        for alpha in (0.0, 0.3):
            config = json.loads((exp / f"{env}-a{alpha:g}-s0" / "config.json").read_text())
            assert config["kind"] == "distill" and config["env"] == env and config["alpha"] == alpha
    assert main(["compare", str(exp), "--bootstrap", "200"]) == 0
    with open(exp / "report" / "summary.csv") as f:
        rows = {(r["task"], float(r["alpha"])): r for r in csv.DictReader(f)}
    assert set(rows) == {(t, a) for t in ("CartPole-v0", "CartPole-v1", "all") for a in (0.0, 0.3)}
    # Smoothing keeps the student exploratory: its entropy rises with alpha on both envs.
    for task in ("CartPole-v0", "CartPole-v1"):
        assert float(rows[(task, 0.3)]["explore/entropy_mean"]) > float(rows[(task, 0.0)]["explore/entropy_mean"])
    assert float(rows[("all", 0.3)]["explore/entropy_poi"]) == 1.0
    assert int(rows[("all", 0.3)]["eval/normalized_return_n"]) == 2
    assert np.isfinite(float(rows[("CartPole-v1", 0.0)]["eval/return_mean_mean"]))


def test_a_flag_that_does_not_apply_does_not_split_a_study(tmp_path):
    """--bins on a Discrete env changes nothing, so it is stored as None and compare takes both runs."""
    from rlgan_ls.runs import Run
    from rlgan_ls.study.compare import compare

    for seed, bins in ((0, 5), (1, None)):
        overrides = {"bins": bins} if bins else {}
        distill(tiny_distill(tmp_path, rounds=1, seed=seed, **overrides), teacher=lean_teacher)
    runs = [Run.open(p) for p in sorted((tmp_path / "runs").iterdir())]
    assert [r.config["bins"] for r in runs] == [None, None]
    assert len(compare(tmp_path / "runs", reps=0).runs) == 2
