"""MinAtar through the suite: the planes wrapper, the 10x10 networks, multi-task students and their bad input."""

from __future__ import annotations

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import tiny_distill
from scripted_teachers import breakout_teacher, invaders_teacher
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

from rlgan_ls.cli import main
from rlgan_ls.distill import distill
from rlgan_ls.distill.ensemble import distill_ensemble
from rlgan_ls.distill.envs import make_env, probe_env, resolve_env
from rlgan_ls.distill.students import build_student
from rlgan_ls.distill.tasks import TaskHead, multitask_spec, pad_states
from rlgan_ls.errors import UsageError
from rlgan_ls.recipes import find_recipe, load_toml
from rlgan_ls.tags import per_task

GAMES = ("Breakout", "SpaceInvaders", "Freeway")


@pytest.mark.parametrize("game", ["Breakout", "Seaquest"])  # 4 channels, and 10 (as many as rows: no layout guess)
def test_the_wrapper_gives_the_envs_planes_as_uint8_channels_first(game):
    env = make_env(resolve_env(f"MinAtar/{game}-v1"))
    obs, _ = env.reset(seed=3)
    space = env.observation_space
    assert is_image_space(space) and is_image_space_channels_first(space)  # SB3 reads it as the image it is
    rng = np.random.default_rng(0)
    for _ in range(40):
        planes = env.unwrapped.game.state()  # (10, 10, C) bool: what MinAtar itself holds
        assert obs.dtype == np.uint8 and obs.shape == (planes.shape[2], 10, 10) and space.contains(obs)
        for c in range(planes.shape[2]):
            assert np.array_equal(obs[c], planes[:, :, c].astype(np.uint8) * 255)
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def test_minatar_ids_register_for_every_game_and_a_missing_package_names_the_extra(monkeypatch, capsys):
    for game in ("Asterix", "Seaquest"):  # no recipe: the family's wrapper all the same
        recipe = resolve_env(f"MinAtar/{game}-v0")
        assert recipe.wrapper == "minatar" and recipe.teachers == {}
    monkeypatch.setattr(gym, "registry", {k: v for k, v in gym.registry.items() if not k.startswith("MinAtar/")})
    monkeypatch.setitem(sys.modules, "minatar", None)  # as if it were not installed
    assert main(["distill", "--env", "MinAtar/Breakout-v1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("needs the minatar package: pip install 'rlgan-ls[minatar]'") and "\n" not in err


def test_recipes_build_teachers_with_the_small_cnn():
    from rlgan_ls.distill.teachers.extractors import SmallCNN
    from rlgan_ls.distill.teachers.sb3 import build_model, teacher_settings

    for game in GAMES:
        for version in ("v0", "v1"):
            name = f"MinAtar/{game}-{version}"
            assert load_toml(find_recipe("envs", name))["env_id"] == name
    recipe = resolve_env("MinAtar/Freeway-v1")
    algo, params, source = teacher_settings(recipe, None, None)
    model = build_model(recipe, algo, params, 0, source)
    assert isinstance(model.policy.features_extractor, SmallCNN)
    obs = torch.as_tensor(np.stack([make_env(recipe).reset(seed=0)[0]]))
    assert model.policy.get_distribution(model.policy.obs_to_tensor(obs.numpy())[0]).distribution.logits.shape == (1, 3)


def test_padding_is_exact_and_a_head_is_its_block_of_the_last_layer():
    envs = [probe_env(resolve_env(f"MinAtar/{g}-v1")) for g in ("Breakout", "SpaceInvaders", "Freeway")]
    spec = multitask_spec(envs, "auto", 16, 1, 4)
    assert spec.arch == "small-cnn" and spec.obs_shape == (7, 10, 10) and spec.heads == ((3,), (4,), (3,))
    obs = torch.randint(0, 2, (5, 4, 10, 10), dtype=torch.uint8) * 255  # Breakout's 4 planes
    padded = pad_states(obs, spec.obs_shape)
    expected = np.zeros((5, 7, 10, 10), dtype=np.uint8)
    expected[:, :4] = obs.numpy()
    assert padded.dtype == torch.uint8 and np.array_equal(padded.numpy(), expected)
    torch.manual_seed(0)
    student = build_student(spec)
    full = student(torch.from_numpy(expected))  # (5, 3 + 4 + 3)
    assert torch.equal(TaskHead(student, spec, 0)(obs), full[:, :3])
    empty = torch.zeros(5, 7, 10, 10, dtype=torch.uint8)
    assert torch.equal(TaskHead(student, spec, 1)(empty[:, :6]), student(empty)[:, 3:7])


def test_per_task_metrics_equal_a_single_task_evaluation_of_the_head(tmp_path, capsys):
    tasks = ("MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1")
    cfg = tiny_distill(tmp_path, env="+".join(tasks), rounds=3, steps_per_round=48, updates_per_round=60, width=32,
                       channels=8, depth=1, eval_episodes=4, eval_envs=2)
    result = distill(cfg, teacher=[breakout_teacher, invaders_teacher])
    m, labels = result.metrics, ["MinAtar-Breakout-v1", "MinAtar-SpaceInvaders-v1"]
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["env"] == "+".join(tasks) and config["student"]["heads"] == [[3], [4]]
    for task, label in zip(tasks, labels):
        capsys.readouterr()
        assert main(["evaluate", str(result.run_dir), "--env", task, "--episodes", "4", "--envs", "2", "--json"]) == 0
        single = json.loads(capsys.readouterr().out)
        assert single["return_mean"] == pytest.approx(m[per_task("eval/return_mean", label)], abs=1e-9)
    normalized = [m[per_task("eval/normalized_return", lb)] for lb in labels]
    assert m["eval/normalized_return"] == pytest.approx(np.prod(np.maximum(normalized, 0)) ** 0.5)
    assert m["explore/entropy"] == pytest.approx(np.mean([m[per_task("explore/entropy", lb)] for lb in labels]))
    assert m[per_task("distill/agreement", labels[0])] > 0.8  # the Breakout head learned its teacher
    assert main(["evaluate", str(result.run_dir)]) == 2
    assert "is a multi-task run over MinAtar/Breakout-v1, MinAtar/SpaceInvaders-v1: pass --env TASK" in \
        capsys.readouterr().err


def test_teachers_must_match_the_envs_and_an_mlp_on_frames_says_what_it_does(tmp_path, capsys):
    logdir = tmp_path / "runs"
    assert main(["distill", "--env", "MinAtar/Breakout-v1", "MinAtar/Freeway-v1", "--teacher", "a.zip",
                 "--logdir", str(logdir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--teacher: 1 teacher(s) for 2 envs; give one per --env" in err and "\n" not in err
    assert not logdir.exists()
    with pytest.raises(UsageError, match="--ensemble trains single-task runs"):
        distill_ensemble([tiny_distill(tmp_path, env="MinAtar/Breakout-v1+MinAtar/Freeway-v1")])
    run = distill(tiny_distill(tmp_path, env="MinAtar/Breakout-v1", arch="mlp", rounds=1), teacher=breakout_teacher)
    assert "--arch mlp on image observations: the student flattens each (4, 10, 10) frame into 400 inputs" in \
        capsys.readouterr().err
    assert main(["evaluate", str(run.run_dir), "--env", "MinAtar/Freeway-v1"]) == 2
    assert f"--env MinAtar/Freeway-v1: {run.run_dir} learned MinAtar/Breakout-v1 only" in capsys.readouterr().err


def test_the_distill_command_reports_each_task_of_a_multitask_run(tmp_path, capsys, monkeypatch):
    from rlgan_ls.distill import trainer

    real = trainer.distill
    monkeypatch.setattr(trainer, "distill", lambda cfg: real(cfg, teacher=[breakout_teacher, invaders_teacher]))
    assert main(["distill", "--env", "MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1", "--rounds", "1",
                 "--steps-per-round", "16", "--updates-per-round", "5", "--n-envs", "2", "--eval-episodes", "2",
                 "--eval-envs", "2", "--width", "16", "--channels", "4", "--logdir", str(tmp_path),
                 "--no-progress"]) == 0
    run = next(tmp_path.iterdir())
    m = json.loads((run / "metrics.json").read_text())
    out = capsys.readouterr().out
    assert f"{run}: 2 tasks, normalized return {m['eval/normalized_return']:.3f} (their geometric mean)" in out
    for task, label in (("MinAtar/Breakout-v1", "MinAtar-Breakout-v1"),
                        ("MinAtar/SpaceInvaders-v1", "MinAtar-SpaceInvaders-v1")):
        line = next(x for x in out.splitlines() if x.startswith(f"  {task}: "))
        assert f"return {m[per_task('eval/return_mean', label)]:.2f}" in line
        assert f"agreement {m[per_task('distill/agreement', label)]:.4f}" in line
