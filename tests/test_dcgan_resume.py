"""Kill-and-resume is bit-identical on CPU; NaN stops the run and keeps the last good checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.cli import main
from rlgan_ls.dcgan import GANLoss, GANStep
from rlgan_ls.storage import load_checkpoint

# DiffAugment on: its random shifts and cutouts are part of the state a resume must restore.
TINY = ["--dataset", "digits", "--max-images", "80", "--image-size", "32", "--g-width", "4", "--d-width", "4",
        "--z-dim", "8", "--batch-size", "16", "--eval-samples", "64", "--classifier-steps", "20",
        "--augment", "translation,cutout", "--no-progress", "--seed", "3", "--log-every", "1", "--eval-every", "100"]


def _flatten(obj: object, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}/{k}"))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}/{i}"))
        return out
    return {prefix: obj}


def _curve(run: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.mark.parametrize("smoothing", ["one-sided", "flip"])  # flip also draws random labels
def test_kill_and_resume_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smoothing: str) -> None:
    kill_and_resume(tmp_path, monkeypatch, [*TINY, "--smoothing", smoothing])


def kill_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    """``gan ARGS`` for 9 steps straight, and killed at step 7 then resumed: checkpoints and curves identical."""
    # 5 epochs of 80 images in 16-image batches: the interrupted run crosses an epoch boundary.
    common = [*args, "--steps", "9", "--checkpoint-every", "4", "--logdir", str(tmp_path)]
    assert main(["gan", *common, "--run-name", "straight"]) == 0

    original = GANStep.__call__
    calls = {"n": 0}

    def killed_at_step_7(self: GANStep, real: torch.Tensor) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        if calls["n"] == 7:  # steps 5 and 6 ran (and were logged) after the step-4 checkpoint
            raise KeyboardInterrupt
        return original(self, real)

    monkeypatch.setattr(GANStep, "__call__", killed_at_step_7)
    assert main(["gan", *common, "--run-name", "killed"]) == 130
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors")["step"] == 4
    monkeypatch.setattr(GANStep, "__call__", original)
    assert main(["gan", "--resume", str(tmp_path / "killed"), "--steps", "9", "--no-progress"]) == 0

    a = _flatten(load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors"))
    b = _flatten(load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    tensors = [k for k in a if isinstance(a[k], torch.Tensor)]
    assert any(k.startswith("/G/") for k in tensors) and any(k.startswith("/opt_d/state/") for k in tensors)
    for k in tensors:
        assert torch.equal(a[k], b[k]), k
    # The curves match too, once each step: steps 5-6 of the killed attempt were purged and rewritten.
    for tag in ("grad_norm/generator", "d/real"):
        straight, resumed = _curve(tmp_path / "straight", tag), _curve(tmp_path / "killed", tag)
        assert [s for s, _ in resumed] == list(range(1, 10))
        assert resumed == straight


def test_resume_differs_from_a_fresh_seed(tmp_path: Path) -> None:
    """Sanity for the test above: a different seed does change the parameters."""
    args = [*TINY, "--steps", "3", "--logdir", str(tmp_path)]
    assert main(["gan", *args, "--run-name", "a"]) == 0
    assert main(["gan", *args, "--seed", "4", "--run-name", "b"]) == 0  # the later --seed wins
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")["G"]
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")["G"]
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
    args = [a for a in TINY if a not in ("--log-every", "1")]  # default cadence: NaN is caught at read-back
    rc = main(["gan", *args, "--steps", "8", "--checkpoint-every", "2", "--logdir", str(tmp_path), "--run-name", "n"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "loss/generator" in err[0] and "step 5" in err[0] and "last.safetensors" in err[0]
    state = load_checkpoint(tmp_path / "n" / "checkpoints" / "last.safetensors")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["G"].values())
    assert not (tmp_path / "n" / "metrics.json").exists()
