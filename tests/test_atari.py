"""Atari with rl-baselines3-zoo's preprocessing: a teacher zip used as is, a CNN student that reproduces it.

Nothing can be downloaded here, so the teacher is trained locally for a few hundred steps by ``rlgan-ls
teacher`` on the env recipe (the zoo's AtariWrapper and 4 stacked frames): the same observation space a zoo
agent's zip records. That tests the preprocessing path end to end without claiming a score.
"""

from __future__ import annotations

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import torch

from rlgan_ls.cli import main
from rlgan_ls.distill import DistillConfig, distill, load_sb3_teacher
from rlgan_ls.distill.envs import make_vec, probe_env, resolve_env
from rlgan_ls.distill.rollouts import Collector
from rlgan_ls.distill.teachers.sb3 import build_model
from rlgan_ls.distill.video import record_video

ENV = "BreakoutNoFrameskip-v4"


def test_a_cnn_student_reproduces_an_atari_teacher_on_its_own_states(tmp_path):
    teacher_zip = tmp_path / "teacher.zip"
    assert main(["teacher", "--env", ENV, "--steps", "256", "--out", str(teacher_zip), "--eval-episodes", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--hyperparams", "n_envs=2", "n_steps=128",
                 "batch_size=128", "n_epochs=1", "learning_rate=0.01"]) == 0
    recipe = resolve_env(ENV)
    env = probe_env(recipe)
    assert env.observation_space == gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)  # what a zoo agent's zip records
    assert not env.first_obs[0, :3].any() and env.first_obs[0, 3].any()  # zero-filled stack, newest frame last
    teacher = load_sb3_teacher(teacher_zip, env.spec, env.spaces)
    envs = make_vec(recipe, 2)
    (rollout,) = Collector(envs, 123).collect(teacher.act, 150)  # the teacher's own states, 300 of them
    envs.close()
    labels = teacher.label(rollout.obs).actions[:, 0]  # (300,)
    cfg = DistillConfig(env=ENV, teacher=str(teacher_zip), method="bc", alpha=0.1, arch="cnn", channels=8, width=32,
                        depth=1, n_envs=2, rounds=2, steps_per_round=96, updates_per_round=120, batch_size=64, lr=1e-3,
                        eval_episodes=1, eval_envs=1, progress=False, logdir=str(tmp_path / "runs"))
    result = distill(cfg)
    with torch.no_grad():
        agreement = float((result.student.eval()(torch.as_tensor(rollout.obs)).argmax(-1) == labels).float().mean())
    assert agreement >= 0.9, agreement
    path, _ = record_video(result.run_dir, max_steps=30)  # the game's own frames, not the 84x84 grey ones
    assert imageio_ffmpeg.read_frames(str(path)).__next__()["size"] == (160, 210)


def test_the_preprocessing_is_the_zoos_frame_for_frame():
    """What ``make_atari_env`` and ``VecFrameStack(4)`` (the zoo's Atari set-up) give, channels moved first."""
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    ours = make_vec(resolve_env(ENV), 1)  # registers the ALE ids, too
    zoo = VecFrameStack(make_atari_env(ENV, n_envs=1, seed=5), 4)
    zoo.seed(5)
    expected, (obs, _) = zoo.reset(), ours.reset(seed=5)  # (1, 84, 84, 4) and (1, 4, 84, 84)
    actions = np.random.default_rng(0).integers(0, 4, 60)
    for t, a in enumerate(actions):
        assert np.array_equal(np.moveaxis(expected, -1, 1), obs), t
        expected, _, zoo_done, _ = zoo.step(np.array([a]))
        obs, _, terminated, truncated, _ = ours.step(np.array([a]))
        assert zoo_done[0] == (terminated[0] or truncated[0])
        if zoo_done[0]:
            break
    assert t > 20  # frames were compared, not only the first
    zoo.close()
    ours.close()


def test_a_teacher_without_frame_stacking_gets_one_line_naming_both_shapes(tmp_path, capsys):
    single = tmp_path / "single-frame.toml"
    single.write_text(f'env_id = "{ENV}"\nalgo = "ppo"\nwrapper = "atari"\nwrapper_kwargs = {{ frame_stack = 1 }}\n'
                      f'[ppo]\npolicy = "CnnPolicy"\nsteps = 1\n')
    model = build_model(resolve_env(str(single)), "ppo", {"policy": "CnnPolicy", "n_steps": 8, "batch_size": 8}, 0,
                        "test")
    model.save(tmp_path / "single.zip")
    logdir = tmp_path / "runs"
    assert main(["distill", "--env", ENV, "--teacher", str(tmp_path / "single.zip"), "--logdir", str(logdir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "(1, 84, 84)" in err and "(4, 84, 84)" in err and "frame_stack = 4" in err and "\n" not in err, err
    assert not logdir.exists()
