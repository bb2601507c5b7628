"""Every shell command in the README's ``bash`` blocks runs, so the README cannot drift from the program.

Each command is looked up in ``COMMANDS`` by its exact text: the entry is the same command with a tiny
budget (and the README's optional ``[...]`` parts filled in), or the reason it is skipped here (it needs an
extra that is not installed, the internet, a GPU, or it is the whole job that CI runs anyway). A README
command without an entry fails the test, and so does an entry whose command left the README. The commands
run in order in one folder, as a reader would type them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from rlgan_ls.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
TINY_GAN = ("--max-images 64 --g-width 4 --d-width 4 --z-dim 8 --batch-size 16 --eval-samples 32 "
            "--classifier-steps 20 --eval-every 2 --checkpoint-every 2 --no-progress")
TINY_DISTILL = "--n-envs 2 --rounds 2 --steps-per-round 16 --updates-per-round 5 --eval-episodes 2 --eval-envs 2"
TEACHER = "--teacher-steps 2048 --no-progress"  # the CartPole teacher the first command trains, 2048 steps

COMMANDS: dict[str, str] = {
    "make demo": "skip: the whole main job (minutes); tests/test_demo.py runs it on a tiny budget",
    "make test": "skip: this is the test suite itself, which CI runs",
    "rlgan-ls teacher --env CartPole-v1 [--algo ppo|a2c|dqn|sac|td3|ddpg] [--steps N] [--seed S] [--out PATH]":
        "rlgan-ls teacher --env CartPole-v1 --algo ppo --steps 2048 --seed 0 --out teacher.zip --no-progress",
    "rlgan-ls teacher --env my_pkg:MyEnv-v0 --algo ppo --steps 20000 "
    "[--hyperparams learning_rate=3e-4 n_steps=512]":
        "rlgan-ls teacher --env toy_envs:RlganReach-v0 --algo ppo --steps 128 --hyperparams learning_rate=3e-4 "
        "n_steps=64 --no-progress",
    "rlgan-ls distill --env CartPole-v1 --method dagger --alpha 0.1 --seed 0 --logdir runs":
        f"rlgan-ls distill --env CartPole-v1 --method dagger --alpha 0.1 --seed 0 --logdir runs {TINY_DISTILL} "
        f"{TEACHER}",
    "rlgan-ls distill --env Pendulum-v1 --prior ordinal --bins 21 --alpha 0.1":
        f"rlgan-ls distill --env Pendulum-v1 --prior ordinal --bins 21 --alpha 0.1 {TINY_DISTILL} "
        f"--teacher-steps 300 --no-progress",
    "rlgan-ls evaluate runs/CartPole-v1-dagger-a0.1-s0 --episodes 20":
        "rlgan-ls evaluate runs/CartPole-v1-dagger-a0.1-s0 --episodes 2",
    "rlgan-ls gan --dataset digits --alpha 0.1 --smoothing one-sided --steps 2000 --image-size 32 --seed 0 "
    "--logdir runs":
        f"rlgan-ls gan --dataset digits --alpha 0.1 --smoothing one-sided --steps 4 --image-size 32 --seed 0 "
        f"--logdir runs {TINY_GAN}",
    "rlgan-ls gan --resume runs/digits-one-sided-a0.1-ns-s0 --steps 4000":
        "rlgan-ls gan --resume runs/digits-one-sided-a0.1-ns-s0 --steps 6",
    "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 10000 --out samples":
        "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 100 --out samples",
    "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 10000 --seed 1 --step 2000 --out samples.npz":
        "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 100 --seed 1 --step 2 --out samples.npz",
    "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 64 --grid --out grid.png":
        "rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 64 --grid --out grid.png",
    "rlgan-ls export-generator runs/digits-one-sided-a0.1-ns-s0 --out G.safetensors [--step latest|K]":
        "rlgan-ls export-generator runs/digits-one-sided-a0.1-ns-s0 --out G.safetensors --step latest",
    "rlgan-ls score samples.npz --dataset digits":  # the run's evaluator: its 64 digits, a 20-step classifier
        "rlgan-ls score samples.npz --dataset digits --max-images 64 --classifier-steps 20",
    "rlgan-ls score samples --dataset digits --json":
        "rlgan-ls score samples --dataset digits --max-images 64 --classifier-steps 20 --json",
    "rlgan-ls sweep distill --env CartPole-v1 Acrobot-v1 --alpha 0 0.1 0.3 --seed 0 1 2 3 4 --workers 2 "
    "--logdir runs/classic-ls":
        f"rlgan-ls sweep distill --env CartPole-v1 --alpha 0 0.1 --seed 0 --workers 2 --logdir runs/classic-ls "
        f"{TINY_DISTILL} --teacher-steps 2048",
    "rlgan-ls sweep distill --env CartPole-v1 --alpha 0 0.1 0.3 --seed 0 1 2 3 4 --ensemble --logdir runs/classic-ens":
        f"rlgan-ls sweep distill --env CartPole-v1 --alpha 0 0.1 0.3 --seed 0 1 --ensemble --logdir runs/classic-ens "
        f"{TINY_DISTILL} --teacher-steps 2048",
    "rlgan-ls sweep gan --dataset digits --alpha 0 0.1 0.3 --seed 0 1 --workers 2 --logdir runs/digits-ls":
        f"rlgan-ls sweep gan --dataset digits --alpha 0 0.3 --seed 0 --workers 2 --logdir runs/digits-ls --steps 2 "
        f"{TINY_GAN.replace(' --no-progress', '')}",
    "rlgan-ls sweep distill --env CartPole-v1 --method bc --alpha 0 0.2 --seed 0 1 --grid label_noise=0,0.3 "
    "--logdir runs/noise":
        f"rlgan-ls sweep distill --env CartPole-v1 --method bc --alpha 0 0.2 --seed 0 --grid label_noise=0,0.3 "
        f"--workers 2 --logdir runs/noise {TINY_DISTILL} --teacher-steps 2048",
    "rlgan-ls compare runs/noise [--factor label_noise]":
        "rlgan-ls compare runs/noise --factor label_noise --bootstrap 50",
    "rlgan-ls compare runs/classic-ls [--out runs/classic-ls/report] [--bootstrap 2000]":
        "rlgan-ls compare runs/classic-ls --out runs/classic-ls/report --bootstrap 100",
    "tensorboard --logdir runs/classic-ls": "tensorboard --inspect --logdir runs/classic-ls",
    "rlgan-ls export runs/LunarLander-v3-dagger-a0.1-s0 --algo ppo --out student.zip":
        "rlgan-ls export runs/CartPole-v1-dagger-a0.1-s0 --algo ppo --out student.zip",  # the same, on CartPole
    "rlgan-ls finetune runs/LunarLander-v3-dagger-a0.1-s0 --algo ppo --steps 50000 --critic-warmup 10000":
        "rlgan-ls finetune runs/CartPole-v1-dagger-a0.1-s0 --algo ppo --steps 512 --critic-warmup 256 "
        "--eval-every 256 --eval-episodes 1",
    "rlgan-ls evaluate runs/CartPole-v1-dagger-a0.1-s0 --video [PATH]":
        "rlgan-ls evaluate runs/CartPole-v1-dagger-a0.1-s0 --episodes 1 --envs 1 --video clip.mp4",
    "rlgan-ls teacher --env MinAtar/Breakout-v1":
        "rlgan-ls teacher --env MinAtar/Breakout-v1 --steps 1024 --no-progress",
    "rlgan-ls distill --env MinAtar/Breakout-v1 --alpha 0.1 --seed 0":
        f"rlgan-ls distill --env MinAtar/Breakout-v1 --alpha 0.1 --seed 0 {TINY_DISTILL} --teacher-steps 1024 "
        f"--no-progress",
    "rlgan-ls evaluate runs/MinAtar-Breakout-v1-dagger-a0.1-s0 --video":
        "rlgan-ls evaluate runs/MinAtar-Breakout-v1-dagger-a0.1-s0 --episodes 1 --envs 1 --video",
    "rlgan-ls distill --env MinAtar/Breakout-v1 MinAtar/SpaceInvaders-v1 MinAtar/Freeway-v1 --target soft "
    "--rounds 10 --steps-per-round 128 --updates-per-round 200 --batch-size 384 --alpha 0.1 --seed 0":
        "skip: trains two more MinAtar teachers and measures Freeway's random return (2500-step episodes); "
        "tests/test_minatar.py trains a multi-task student on a tiny budget and evaluates each head",
    "rlgan-ls evaluate runs/MinAtar-Breakout-v1-MinAtar-SpaceInvaders-v1-MinAtar-Freeway-v1-dagger-a0.1-s0 "
    "--env MinAtar/Freeway-v1": "skip: the run of the command before; tests/test_minatar.py runs evaluate --env",
    "rlgan-ls distill --env BreakoutNoFrameskip-v4 --teacher BreakoutNoFrameskip-v4.zip --alpha 0.1":
        "skip: needs a zoo agent's zip, which cannot be downloaded here; tests/test_atari.py runs the same path "
        "with a teacher trained on the spot",
}


def readme_commands() -> list[str]:
    """The shell commands of the README's ``bash`` blocks, in order (a block's lines are commands)."""
    text = README.read_text()
    return [line.strip() for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
            for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _command(line: str) -> str:
    return line.split("  #")[0].strip()  # a trailing comment explains the command


def test_every_readme_command_has_an_entry_and_every_entry_a_command():
    found = [_command(line) for line in readme_commands()]
    missing = [c for c in found if c not in COMMANDS]
    assert not missing, f"README commands with no entry in COMMANDS (add a tiny-budget version): {missing}"
    stale = [c for c in COMMANDS if c not in found]
    assert not stale, f"entries whose command is no longer in the README: {stale}"
    fences = re.findall(r"^```(\w*)$", README.read_text(), re.M)[::2]  # opening fences
    assert "" not in fences, "label every README code block (bash, python, text) so commands are found"


def test_every_readme_command_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # toy_envs, the README's "my_pkg"
    ran, skipped = [], []
    for line in readme_commands():
        entry = COMMANDS[_command(line)]
        if entry.startswith("skip:"):
            skipped.append(entry)
            continue
        argv = shlex.split(entry)
        if argv[0] == "tensorboard":
            done = subprocess.run([str(Path(sys.executable).with_name("tensorboard")), *argv[1:]],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and "explore/entropy" in done.stdout, done.stderr[-2000:]
        else:
            rc = main(argv[1:])
            assert rc == 0, f"{entry}\n{capsys.readouterr().err[-2000:]}"
        ran.append(entry)
    assert len(ran) >= 14, ran  # all but the two make targets


def test_the_extras_the_readme_names_exist_in_pyproject():
    pyproject = (README.parent / "pyproject.toml").read_text()
    for extra in re.findall(r"rlgan-ls\[(\w+)\]", README.read_text()):
        assert re.search(rf"^{extra} = \[", pyproject, re.M), f"README names the extra [{extra}]"
