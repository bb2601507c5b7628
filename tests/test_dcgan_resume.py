"""Kill-and-resume is bit-identical on CPU; NaN stops the run and keeps the last good checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RESUME_FLAGS, checkpoint, kill_and_resume

from rlgan_ls.cli import main
from rlgan_ls.dcgan import GANLoss, GANStep
from rlgan_ls.runs import Run


@pytest.mark.parametrize("smoothing", ["one-sided", "flip"])  # flip also draws random labels
def test_kill_and_resume_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smoothing: str) -> None:
    kill_and_resume(tmp_path, monkeypatch, [*RESUME_FLAGS, "--smoothing", smoothing])


def test_resume_differs_from_a_fresh_seed(tmp_path: Path) -> None:
    """Sanity for the test above: a different seed does change the parameters."""
    args = [*RESUME_FLAGS, "--steps", "3", "--logdir", str(tmp_path)]
    assert main(["gan", *args, "--run-name", "a"]) == 0
    assert main(["gan", *args, "--seed", "4", "--run-name", "b"]) == 0  # the later --seed wins
    a = checkpoint(tmp_path / "a")["G"]
    b = checkpoint(tmp_path / "b")["G"]
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    original = GANLoss.generator
    calls = {"n": 0}

    def nan_from_step_5(self: GANLoss, fake_logits: torch.Tensor) -> tuple[torch.Tensor, dict]:
        calls["n"] += 1
        loss, parts = original(self, fake_logits)
        if calls["n"] < 5:
            return loss, parts
        loss = loss * float("nan")
        return loss, {**parts, "loss/generator": loss.detach()}

    monkeypatch.setattr(GANLoss, "generator", nan_from_step_5)
    args = [a for a in RESUME_FLAGS if a not in ("--log-every", "1")]  # default cadence: NaN is caught at read-back
    rc = main(["gan", *args, "--steps", "8", "--checkpoint-every", "2", "--logdir", str(tmp_path), "--run-name", "n"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "loss/generator" in err[0] and "step 5" in err[0] and "last.safetensors" in err[0]
    state = checkpoint(tmp_path / "n")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["G"].values())
    assert not (tmp_path / "n" / "metrics.json").exists()


def test_an_interrupted_extension_leaves_the_run_unfinished_and_a_resume_cleans_up(tmp_path, monkeypatch):
    args = [*RESUME_FLAGS, "--steps", "4", "--checkpoint-every", "2", "--logdir", str(tmp_path), "--run-name", "r"]
    assert main(["gan", *args]) == 0
    run = Run(tmp_path / "r")
    assert run.finished
    original, calls = GANStep.__call__, [0]

    def killed_at_second_step(self, real):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return original(self, real)

    monkeypatch.setattr(GANStep, "__call__", killed_at_second_step)
    assert main(["gan", "--resume", str(run.path), "--steps", "8", "--no-progress"]) == 130
    assert not Run(run.path).finished  # the old metrics.json described 4 steps, not the 8 asked for
    monkeypatch.setattr(GANStep, "__call__", original)
    orphan = run.checkpoint_file.with_name(".last.safetensors.x1y2.tmp")  # what a kill during a write leaves
    orphan.write_bytes(b"half a checkpoint")
    assert main(["gan", "--resume", str(run.path), "--steps", "8", "--no-progress"]) == 0
    assert Run(run.path).finished and Run(run.path).metrics["step"] == 8 and not orphan.exists()
