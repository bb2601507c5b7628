"""`rlgan-ls distill` / `evaluate` in-process: bad input gives one line and exit code 2; a good run writes
its run directory with the documented tags (an untrained SB3 model stands in for a teacher)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from helpers import TINY_DISTILL_FLAGS

from rlgan_ls import tags
from rlgan_ls.cli import main

torch.set_num_threads(1)

# What every finished distillation run reports, in metrics.json and as a scalar in TensorBoard.
FINAL_TAGS = (tags.ENTROPY, tags.LOSS_TOTAL, tags.LOSS_CE_TEACHER, tags.LOSS_KL_UNIFORM, tags.RETURN_MEAN,
              tags.RETURN_STD, tags.RETURN_VS_TEACHER, tags.AGREEMENT, tags.KL_TEACHER_STUDENT, tags.ECE, tags.SPS)

TINY = TINY_DISTILL_FLAGS


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


@pytest.mark.parametrize("argv,needle", [
    (["--env", "NoSuchEnv-v0"], "--env NoSuchEnv-v0: unknown environment"),
    (["--env", "CartPole-v2"], "did you mean CartPole-v1"),
    (["--env", "nosuchmodule_xyz:Foo-v0"], "cannot import module 'nosuchmodule_xyz'"),
    (["--env", "Pendulum-v1", "--bins", "1"], "--bins must be >= 2"),
    (["--alpha", "1.0"], "--alpha must be in [0, 1)"),
    (["--alpha", "-0.1"], "--alpha must be in [0, 1)"),
    (["--loss", "entropy-bonus", "--alpha", "0.2"], "--alpha 0"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, needle):
    logdir = tmp_path / "runs"
    rc = main(["distill", "--logdir", str(logdir), *TINY, *argv])
    assert rc == 2
    line = _error_line(capsys)
    assert needle in line, line
    assert not logdir.exists() or not any(logdir.iterdir())  # nothing written for a bad run


def test_no_train_teacher_refuses_to_train(tmp_path, capsys):
    rc = main(["distill", "--env", "CartPole-v1", "--no-train-teacher", "--cache-dir", str(tmp_path / "empty"),
               "--logdir", str(tmp_path / "runs"), *TINY])
    assert rc == 2
    line = _error_line(capsys)
    assert "--no-train-teacher" in line and "rlgan-ls teacher --env CartPole-v1" in line
    assert not (tmp_path / "runs").exists() and not (tmp_path / "empty").exists()


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["distill", "--method", "nope"])
    assert e.value.code == 2
    assert "invalid choice" in _error_line(capsys)


def test_missing_teacher_file(tmp_path, capsys):
    rc = main(["distill", "--env", "CartPole-v1", "--teacher", str(tmp_path / "none.zip"),
               "--logdir", str(tmp_path / "runs"), *TINY])
    assert rc == 2
    assert "none.zip: file does not exist" in _error_line(capsys)


def test_corrupt_teacher_file(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip archive")
    rc = main(["distill", "--env", "CartPole-v1", "--teacher", str(bad), "--logdir", str(tmp_path / "runs"), *TINY])
    assert rc == 2
    assert "not a Stable-Baselines3 .zip or corrupt" in _error_line(capsys)


def test_teacher_for_another_env(tmp_path, capsys):
    from stable_baselines3 import PPO

    path = tmp_path / "acrobot.zip"
    PPO("MlpPolicy", "Acrobot-v1", n_steps=16, batch_size=16, device="cpu").save(path)  # untrained; 3 actions
    rc = main(["distill", "--env", "CartPole-v1", "--teacher", str(path), "--logdir", str(tmp_path / "runs"), *TINY])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its observation space (shape (6,))" in err[0] and "does not match" in err[0]


def test_evaluate_bad_run_dir(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "nope: no such directory" in _error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(tmp_path / "empty")]) == 2
    assert "empty is not an rlgan-ls run" in _error_line(capsys)


def test_distill_run_dir_contents(tmp_path, capsys):
    from stable_baselines3 import PPO
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    teacher = tmp_path / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", seed=0).save(teacher)
    rc = main(["distill", "--env", "CartPole-v1", "--method", "dagger", "--alpha", "0.1", "--seed", "0",
               "--teacher", str(teacher), "--logdir", str(tmp_path / "runs"), "--run-name", "sweep/a0.1", *TINY])
    assert rc == 0
    assert capsys.readouterr().err == ""  # loaded without unpickling: nothing to warn about
    run = tmp_path / "runs" / "sweep-a0.1"
    metrics = json.loads((run / "metrics.json").read_text())
    for tag in FINAL_TAGS:
        assert math.isfinite(metrics[tag]), tag
    ratio = metrics["eval/return_mean"] / metrics["teacher/return_mean"]
    assert metrics["eval/return_vs_teacher"] == pytest.approx(ratio)
    config = json.loads((run / "config.json").read_text())
    assert config["alpha"] == 0.1 and config["rounds"] == 2 and config["teacher_kind"] == "ppo"
    assert (run / "student.safetensors").read_bytes()[:8] != b"PK\x03\x04"  # not a zip/pickle
    acc = EventAccumulator(str(run))
    acc.Reload()
    logged = set(acc.Tags()["scalars"])
    assert set(FINAL_TAGS) <= logged
    final = acc.Scalars("explore/entropy")[-1].value
    assert final == pytest.approx(metrics["explore/entropy"], rel=1e-5)
    assert (run / "student.json").is_file()
    raw = b"".join(p.read_bytes() for p in run.glob("events.out.tfevents.*"))
    assert b"_hparams_/session_start_info" in raw and b"eval/return_mean" in raw
