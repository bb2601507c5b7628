"""The first hour of a new user: which run a command acted on, messages that point at the fix, help and
behaviour that agree. One test per behaviour; oracles are the files on disk and the commands themselves."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from helpers import TINY_DISTILL_FLAGS, gan_flags
from stable_baselines3 import PPO

from rlgan_ls.cli import main
from rlgan_ls.dcgan import GANStep


def _distill(tmp_path: Path, teacher: Path, *extra: str) -> list[str]:
    return ["distill", "--env", "CartPole-v1", "--teacher", str(teacher), "--logdir", str(tmp_path / "runs"),
            *TINY_DISTILL_FLAGS, *extra]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("teacher") / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", seed=0).save(path)
    return path


def test_every_run_names_its_directory_at_start_and_end_and_says_why_it_has_a_suffix(tmp_path, teacher, capsys):
    assert main(_distill(tmp_path, teacher)) == 0
    first = capsys.readouterr().out.splitlines()
    run = tmp_path / "runs" / "CartPole-v1-dagger-a0.1-s0"
    assert first[0] == f"run directory: {run}" and f"finished: {run}" in first
    assert main(_distill(tmp_path, teacher)) == 0
    again = capsys.readouterr().out.splitlines()[0]
    assert again == f"run directory: {run}-2 ({run} already holds a run, so this one gets a suffix)"
    assert main(["gan", *gan_flags(steps=2), "--logdir", str(tmp_path), "--run-name", "g"]) == 0  # --no-progress
    out = capsys.readouterr().out
    assert f"run directory: {tmp_path / 'g'}" in out and f"finished: {tmp_path / 'g'}" in out


def test_progress_in_a_log_file_is_a_line_now_and_then(tmp_path, capsys):
    flags = [f for f in gan_flags(steps=40) if f != "--no-progress"]
    assert main(["gan", *flags, "--progress", "--logdir", str(tmp_path)]) == 0  # stderr is no terminal here
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if re.search(r": \d+/40 step \(\d+ %", ln)]
    assert 4 <= len(lines) <= 11 and "\r" not in err  # one line per tenth of the way, no bar redraws


def test_bad_hyperparams_name_the_item_and_why(capsys):
    assert main(["teacher", "--env", "CartPole-v1", "--hyperparams", "learning_rate=oops"]) == 2
    assert "--hyperparams learning_rate=oops: learning_rate takes a number or lin_<number>" in capsys.readouterr().err
    assert main(["teacher", "--env", "CartPole-v1", "--hyperparams", "bogus_key=1"]) == 2
    err = capsys.readouterr().err
    assert "--hyperparams bogus_key=1: 'bogus_key' is not a setting of PPO" in err and "envs/" not in err


def test_the_suggested_teacher_command_trains_the_teacher_asked_for(tmp_path, capsys):
    argv = ["distill", "--env", "CartPole-v1", "--no-train-teacher", "--teacher-steps", "12345", "--cache-dir",
            str(tmp_path / "cache"), "--logdir", str(tmp_path / "runs")]
    assert main(argv) == 2
    suggested = re.search(r"run '(rlgan-ls teacher [^']*)'", capsys.readouterr().err).group(1)
    assert "--steps 12345" in suggested and f"--cache-dir {tmp_path / 'cache'}" in suggested
    from rlgan_ls.cli import build_parser

    args = build_parser().parse_args(shlex.split(suggested)[1:])  # the suggestion parses as that command
    assert (args.env, args.steps, args.cache_dir) == ("CartPole-v1", 12345, str(tmp_path / "cache"))


def test_commands_on_the_wrong_folder_say_what_it_is(tmp_path, teacher, capsys):
    assert main(["export", str(tmp_path / "missing")]) == 2
    assert "missing: no such directory" in capsys.readouterr().err
    assert main(["gan", *gan_flags(steps=2), "--logdir", str(tmp_path), "--run-name", "g"]) == 0
    assert main(["evaluate", str(tmp_path / "g")]) == 2
    assert "is a gan run, not a distill run" in capsys.readouterr().err
    assert main(_distill(tmp_path, teacher)) == 0
    distilled = tmp_path / "runs" / "CartPole-v1-dagger-a0.1-s0"
    assert main(["gan", "--resume", str(distilled)]) == 2
    assert "is a distill run, not a gan run" in capsys.readouterr().err
    assert main(["finetune", str(tmp_path / "g")]) == 2
    assert "is a gan run, not a distill run" in capsys.readouterr().err


def test_a_module_in_the_current_folder_is_explained(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_pkg.py").write_text("raise SystemExit('never imported')\n")
    assert main(["distill", "--env", "my_pkg:MyEnv-v0"]) == 2
    err = capsys.readouterr().err
    assert "module 'my_pkg' is in the current folder" in err and "PYTHONPATH=." in err


@pytest.mark.parametrize(("env", "module", "extra"), [("ALE/Pong-v5", "ale_py", "rlgan-ls[atari]"),
                                                       ("BreakoutNoFrameskip-v4", "ale_py", "rlgan-ls[atari]")])
def test_a_missing_env_package_names_its_extra(capsys, env, module, extra):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    assert main(["distill", "--env", env]) == 2
    assert f"pip install '{extra}'" in capsys.readouterr().err


def test_a_video_says_nothing_of_sdl_and_names_the_file_it_wrote(tmp_path, teacher, capfd):
    assert main(_distill(tmp_path, teacher)) == 0
    run = tmp_path / "runs" / "CartPole-v1-dagger-a0.1-s0"
    assert main(["evaluate", str(run), "--episodes", "1", "--envs", "1", "--video", str(tmp_path / "clip")]) == 0
    out, err = capfd.readouterr()  # what the process printed, SDL's C code included
    assert "XDG_RUNTIME_DIR" not in out + err
    assert f"{tmp_path / 'clip.mp4'} (.mp4 added to the name you gave)" in out and (tmp_path / "clip.mp4").is_file()


def test_a_typo_in_a_passed_on_flag_fails_before_any_cell(tmp_path, capsys):
    assert main(["sweep", "gan", "--alpha", "0", "0.1", "--logdir", str(tmp_path / "exp"), "--smoothing",
                 "sideways"]) == 2
    err = capsys.readouterr().err.strip()
    assert "a flag passed on to the cells is wrong: argument --smoothing: invalid choice" in err and "\n" not in err
    assert not (tmp_path / "exp").exists()


def test_ctrl_c_says_how_to_continue(tmp_path, monkeypatch, capsys):
    calls = [0]
    original = GANStep.__call__

    def interrupted_at_step_3(self, real):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return original(self, real)

    monkeypatch.setattr(GANStep, "__call__", interrupted_at_step_3)
    argv = ["gan", *gan_flags(steps=10, checkpoint_every=2), "--logdir", str(tmp_path), "--run-name", "g"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"interrupted; continue with: rlgan-ls gan --resume {tmp_path / 'g'}" in err
    monkeypatch.setattr(GANStep, "__call__", original)
    assert main(["gan", "--resume", str(tmp_path / "g")]) == 0  # the suggestion works as given


def test_help_texts_are_complete(capsys):
    for command in ("demo", "core-demo", "finetune"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert re.search(r"options:", text) and "(default: None)" not in text
        if command != "finetune":  # a description beyond the usage line
            assert len(text.split("options:")[0].split("]")[-1].strip()) > 40, command
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    assert "greedy evaluations (default: 10000)" in " ".join(capsys.readouterr().out.split())
