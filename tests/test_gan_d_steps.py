"""``--d-steps k``: k discriminator updates per step, each on the next batch of the data order with fresh
noise, then one generator update; k = 1 is the step as it always was; resume stays bit-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RESUME_FLAGS, checkpoint, gan_flags, kill_and_resume, tiny_gan_config

from rlgan_ls.cli import main
from rlgan_ls.dcgan import GANStep, load_dataset, train_gan
from rlgan_ls.dcgan.data import BatchOrder


def _adam_steps(opt_state: dict) -> set[float]:
    """The step counts of every parameter in a saved Adam state."""
    return {float(s["step"]) for s in opt_state["state"].values()}


def test_three_d_updates_per_step_each_on_its_own_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor] = []
    original = GANStep._d_update

    def record(self: GANStep, real: torch.Tensor, keep_graph: bool) -> tuple:
        seen.append(real.clone())
        return original(self, real, keep_graph)

    monkeypatch.setattr(GANStep, "_d_update", record)
    cfg = tiny_gan_config(steps=4, d_steps=3, eval_every=100, logdir=str(tmp_path), run_name="k3", seed=2)
    train_gan(cfg)
    ckpt = checkpoint(tmp_path / "k3")
    assert _adam_steps(ckpt["opt_d"]) == {12.0} and _adam_steps(ckpt["opt_g"]) == {4.0}  # 3 x 4 D, 4 G updates
    # Update j (of 12) saw batch j of the data order: 64 digits in batches of 16, so 4 batches an epoch and
    # the 12 updates span three epochs; an independent oracle is the order itself.
    data = load_dataset("digits", 32, max_images=64)
    order = BatchOrder(len(data), 16, seed=2)
    assert len(seen) == 12
    for j, real in enumerate(seen):
        assert torch.equal(real, data.batch(order.indices(j))), j
    assert not torch.equal(seen[0], seen[1])


def test_one_d_step_is_the_default_and_takes_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = GANStep._d_update

    def count(self: GANStep, real: torch.Tensor, keep_graph: bool) -> tuple:
        calls["n"] += 1
        assert keep_graph and real.shape[0] == 16
        return original(self, real, keep_graph)

    monkeypatch.setattr(GANStep, "_d_update", count)
    cfg = tiny_gan_config(steps=3, eval_every=100, logdir=str(tmp_path), run_name="k1")
    assert cfg.d_steps == 1
    train_gan(cfg)
    assert calls["n"] == 3
    assert _adam_steps(checkpoint(tmp_path / "k1")["opt_d"]) == {3.0}


def test_kill_and_resume_with_two_d_steps_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kill_and_resume(tmp_path, monkeypatch, [*RESUME_FLAGS, "--d-steps", "2"])
    assert _adam_steps(checkpoint(tmp_path / "killed")["opt_d"]) == {18.0}


@pytest.mark.parametrize("value", ["0", "-2"])
def test_d_steps_below_one_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          value: str) -> None:
    logdir = tmp_path / "runs"
    rc = main(["gan", *gan_flags(), "--d-steps", value, "--logdir", str(logdir)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0] == f"rlgan-ls gan: error: --d-steps must be >= 1, got {value}"
    assert not logdir.exists()


def test_d_steps_is_not_resumable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gan", *gan_flags(), "--steps", "2", "--eval-every", "100", "--logdir", str(tmp_path),
                 "--run-name", "r"]) == 0
    capsys.readouterr()
    assert main(["gan", "--resume", str(tmp_path / "r"), "--steps", "4", "--d-steps", "2"]) == 2
    assert "--d-steps (1 -> 2) cannot change" in capsys.readouterr().err
