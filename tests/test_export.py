"""Handing a student to Stable-Baselines3 (export, critic warm-up, fine-tuning) and filming it.

Oracles: the student's own greedy actions; SB3's evaluate_policy; the parameters a frozen actor must
keep; the frames ffmpeg decodes back.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401 (registers the test envs)
from helpers import tiny_distill
from scripted_teachers import bucket_teacher, lean_teacher, reach_teacher
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.cli import main
from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.export import export_student, exported_model
from rlgan_ls.distill.finetune import FinetuneConfig, finetune, warm_up_critic
from rlgan_ls.distill.students import greedy_actions

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    """A CartPole student with the agent defaults (500 in the tests of distillation)."""
    cfg = DistillConfig(env="CartPole-v1", logdir=str(tmp_path_factory.mktemp("cartpole")), progress=False,
                        eval_episodes=10)
    return distill(cfg, teacher=lean_teacher)


def _greedy(student, obs, nvec):
    with torch.no_grad():
        return greedy_actions(student(torch.as_tensor(obs)), nvec).numpy()


def test_exported_discrete_student_acts_as_the_student(cartpole_run, tmp_path):
    for cls in (PPO, A2C):
        path = export_student(cartpole_run.run_dir, tmp_path / f"{cls.__name__}.zip", cls.__name__.lower())
        model = cls.load(path, device="cpu")  # plain SB3: no rlgan-ls involved
        obs = np.random.default_rng(0).normal(0, 0.3, (1000, 4)).astype(np.float32)
        actions, _ = model.predict(obs, deterministic=True)
        assert np.array_equal(actions, _greedy(cartpole_run.student, obs, (2,))[:, 0])
    envs = make_vec_env("CartPole-v1", n_envs=10, seed=123)  # 20 episodes, two per env, with SB3's Monitor
    mean, _ = evaluate_policy(PPO.load(tmp_path / "PPO.zip", device="cpu"), envs, 20)
    assert mean >= 495


def test_exported_multidiscrete_and_cnn_students(tmp_path):
    run = distill(tiny_distill(tmp_path, env="RlganBucket-v0", rounds=2), teacher=bucket_teacher)
    model = PPO.load(export_student(run.run_dir, tmp_path / "bucket.zip"), device="cpu")
    obs = np.random.default_rng(1).uniform(-1, 1, (1000, 2)).astype(np.float32)
    assert np.array_equal(model.predict(obs, deterministic=True)[0], _greedy(run.student, obs, (3, 3)))
    frames_teacher = lambda obs: (obs.reshape(len(obs), -1).mean(1) > 115).astype(np.int64)  # noqa: E731
    cnn = distill(tiny_distill(tmp_path, env="RlganBrightness-v0", rounds=1, steps_per_round=8, updates_per_round=5,
                       batch_size=16, width=16, depth=2), teacher=frames_teacher)
    model = PPO.load(export_student(cnn.run_dir, tmp_path / "cnn.zip"), device="cpu")
    frames = np.random.default_rng(2).integers(0, 256, (200, 36, 36, 1), dtype=np.uint8)  # channels last
    assert np.array_equal(model.predict(frames, deterministic=True)[0], _greedy(cnn.student, frames, (2,))[:, 0])


def test_export_refuses_what_sb3_cannot_hold(tmp_path, capsys):
    box = distill(tiny_distill(tmp_path, env="RlganReach-v0", rounds=1), teacher=reach_teacher)
    assert main(["export", str(box.run_dir), "--out", str(tmp_path / "x.zip")]) == 2
    assert "binned Box actions" in capsys.readouterr().err
    for bad in (tmp_path / "nowhere", tmp_path):  # missing, and a folder that is no run
        assert main(["export", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0]
    assert not (tmp_path / "x.zip").exists()


def test_critic_warm_up_trains_only_the_critic(cartpole_run):
    model = exported_model(cartpole_run.run_dir, "ppo", n_steps=256, batch_size=64)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    warm_up_critic(model, 256)
    after = model.policy.state_dict()
    actor = [k for k in before if k.startswith(("mlp_extractor.policy_net", "action_net"))]
    critic = [k for k in before if k.startswith(("mlp_extractor.value_net", "value_net"))]
    assert actor and critic
    assert all(torch.equal(before[k], after[k]) for k in actor)
    assert any(not torch.equal(before[k], after[k]) for k in critic)
    assert all(p.requires_grad for p in model.policy.parameters())  # unfrozen afterwards


def test_finetune_logs_into_a_folder_of_its_own_and_says_the_budget_rounds_up(cartpole_run, capsys):
    argv = ["finetune", str(cartpole_run.run_dir), "--steps", "2000", "--critic-warmup", "1024", "--eval-every",
            "1024", "--eval-episodes", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "greedy return 500.0 at 0" in out  # the exported student, before any update
    assert "(2048 env steps: PPO collects whole rollouts of 256, so --steps 2000 rounds up)" in out
    folder = cartpole_run.run_dir / "finetune" / "ppo-warmup-s0"
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("eval_return")]
    assert steps[0] == 0 and steps[-1] == 2048
    assert any(t.startswith("train/") for t in acc.Tags()["scalars"]) and (folder / "model.zip").is_file()
    cfg = FinetuneConfig(steps=1024, critic_warmup=0, from_scratch=True, eval_every=10**6, eval_episodes=1)
    first, again = finetune(cartpole_run.run_dir, cfg), finetune(cartpole_run.run_dir, cfg)
    assert first.path.parent.name == "ppo-scratch-s0" and again.path.parent.name == "ppo-scratch-s0-2"  # no overwrite
    assert sorted(first.returns) == [0, 1024] and first.env_steps == 1024


def test_video_of_the_student(cartpole_run, tmp_path, capsys):
    import imageio_ffmpeg

    from rlgan_ls.distill.video import record_video

    out, episode_return = record_video(cartpole_run.run_dir, tmp_path / "clip.mp4", max_steps=60)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert meta["size"] == (600, 400) and abs(frames - 61) <= 1  # the first frame and one per step
    assert episode_return == 60.0  # the good student is still balancing when the clip stops
    acc = EventAccumulator(str(cartpole_run.run_dir), size_guidance={"images": 0})
    acc.Reload()
    assert "eval/video" in acc.Tags()["images"]
    weak = distill(tiny_distill(tmp_path, rounds=1, updates_per_round=1, run_name="weak"), teacher=lean_teacher)
    assert main(["evaluate", str(weak.run_dir), "--episodes", "2", "--envs", "2", "--video"]) == 0
    assert "video of one greedy episode" in capsys.readouterr().out and (weak.run_dir / "student.mp4").is_file()
    plain = distill(tiny_distill(tmp_path, env="RlganReach-v0", rounds=1), teacher=reach_teacher)  # renders nothing
    assert main(["evaluate", str(plain.run_dir), "--video"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--video" in err[0] and "rgb_array" in err[0]
    assert json.loads((plain.run_dir / "config.json").read_text())["env"] == "RlganReach-v0"


def test_video_without_the_renderer_is_one_line(cartpole_run, monkeypatch, capsys):
    """A render backend that is not installed (pygame, box2d) is named in one line, exit 2, no MP4 left."""
    from gymnasium.error import DependencyNotInstalled

    def missing(self):
        raise DependencyNotInstalled('pygame is not installed, run `pip install "gymnasium[classic-control]"`')

    monkeypatch.setattr(gym.Wrapper, "render", missing)
    before = sorted(p.name for p in cartpole_run.run_dir.iterdir())
    assert main(["evaluate", str(cartpole_run.run_dir), "--episodes", "1", "--video"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--video" in err[0] and "classic-control" in err[0]
    assert sorted(p.name for p in cartpole_run.run_dir.iterdir()) == before
