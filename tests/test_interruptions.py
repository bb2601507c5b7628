"""Studies survive what users do to them: real kill -9 and signals on real processes, two writers on one
run, a stray module in the working directory, files written with the umask's permissions.

Oracles: an uninterrupted sweep beside the interrupted one (same seeds, same threads); the process table
(a cell's lock is held exactly while its process lives); the umask itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import checkpoint, flatten, gan_flags, tiny_distill
from scripted_teachers import lean_teacher

from rlgan_ls.cli import main
from rlgan_ls.distill import distill
from rlgan_ls.experiments import Experiment
from rlgan_ls.runs import Run
from rlgan_ls.study.cells import cell_command

CELL = "digits-a0.1-s0"
GAN_CELL_FLAGS = [f for f in gan_flags(checkpoint_every=20, eval_every=100, log_every=10)
                  if f not in ("--dataset", "digits", "--no-progress")]
WALL_CLOCK = {"time/wall_s", "charts/SPS"}


def _sweep(logdir: Path, steps: int) -> list[str]:
    return ["sweep", "gan", "--dataset", "digits", "--alpha", "0.1", "--seed", "0", "--workers", "1", "--logdir",
            str(logdir), *GAN_CELL_FLAGS, "--steps", str(steps)]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start(argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([*cell_command(), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def test_a_killed_gan_sweep_continues_from_its_checkpoint_to_the_uninterrupted_result(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(_sweep(straight, 300)) == 0
    sweep = _start(_sweep(killed, 300), start_new_session=True)  # its own process group, as a user's shell makes
    run = Run(killed / CELL)
    _wait_for(run.checkpoint_file.is_file, "the first checkpoint")
    os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its cell, mid-training
    sweep.wait()
    _wait_for(lambda: not run.busy, "the killed cell to be gone")
    saved = int(checkpoint(run.path)["step"])
    assert 0 < saved < 300 and not run.finished

    assert main(_sweep(killed, 300)) == 0  # the same command again
    assert f"resuming {run.path} from step {saved} of 300" in Experiment(killed).log_file(CELL).read_text()
    a, b = Run(straight / CELL).metrics, Run(run.path).metrics
    assert {k: v for k, v in a.items() if k not in WALL_CLOCK} == {k: v for k, v in b.items() if k not in WALL_CLOCK}
    # Every tensor and every value of the final checkpoints, random states included (issue 19, defect 12).
    x, y = flatten(checkpoint(straight / CELL)), flatten(checkpoint(run.path))
    assert x.keys() == y.keys()
    for key in x:
        if key not in ("/totals/wall_s", "/config/logdir"):  # the clock, and the two folders' names
            assert (x[key] == y[key]).all() if hasattr(x[key], "shape") else x[key] == y[key], key


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_cell_does_not_outlive_its_sweep(tmp_path, sig):
    sweep = _start(_sweep(tmp_path, 100_000))
    run = Run(tmp_path / CELL)
    _wait_for(lambda: run.busy, "the cell to start writing")
    os.kill(sweep.pid, sig)  # the sweep's own pid only: its cell must go too
    rc = sweep.wait(timeout=60)
    assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 143)
    _wait_for(lambda: not run.busy, "the cell to stop", timeout=20)
    # SIGTERM lets the cell checkpoint the steps it had done (how many depends on the timing): the rerun asks for
    # 30 more, since a budget below what the run has done is refused (as it should be)
    done = int(checkpoint(run.path)["step"]) if run.checkpoint_file.is_file() else 0
    assert main(_sweep(tmp_path, done + 30)) == 0 and Run(run.path).finished  # a rerun takes over the folder


def test_one_writer_per_run(tmp_path, capsys):
    exp = tmp_path / "exp"
    writer = _start(["gan", *gan_flags(steps=100_000, eval_every=100_000), "--logdir", str(exp), "--run-name", CELL])
    try:
        run = Run(exp / CELL)
        _wait_for(lambda: run.busy, "the writer to start")
        assert main(["gan", "--resume", str(run.path), "--steps", "200000"]) == 2
        err = capsys.readouterr().err.strip()
        assert "another process" in err and str(writer.pid) in err and "\n" not in err
        assert Run.create(exp, CELL).path.name == f"{CELL}-2"  # a new run never takes the busy name
        assert main(["sweep", "gan", "--dataset", "digits", "--alpha", "0.1", "--seed", "0", "--logdir", str(exp),
                     *GAN_CELL_FLAGS, "--steps", "30"]) == 0
        assert f"[   busy] {CELL}" in capsys.readouterr().out
        assert writer.poll() is None and run.busy  # left alone, still running
    finally:
        writer.kill()
        writer.wait()


def test_cells_never_import_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "marker"
    (tmp_path / "tqdm.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\nraise ImportError\n")
    subprocess.run([sys.executable, "-c", "import tqdm"], capture_output=True)  # the oracle: a plain python
    assert marker.read_text() == "imported"  # imports it from here
    marker.unlink()
    assert main(_sweep(tmp_path / "exp", 2)) == 0
    assert not marker.exists() and Run(tmp_path / "exp" / CELL).finished


def test_files_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        result = distill(tiny_distill(tmp_path, rounds=1), teacher=lean_teacher)
        assert main(["gan", *gan_flags(steps=2), "--logdir", str(tmp_path), "--run-name", "g"]) == 0
    finally:
        os.umask(previous)
    files = [result.run_dir / n for n in ("config.json", "metrics.json", "student.safetensors", "student.json")]
    files += [tmp_path / "g" / n for n in ("config.json", "metrics.json", "samples.gif", "samples.png")]
    files.append(Run(tmp_path / "g").checkpoint_file)
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o640" for f in files}
