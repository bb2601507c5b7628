"""Tiny budgets and shared procedures of the test suite, in one place: no test module imports another.

- ``TINY_GAN`` / :func:`tiny_gan_config` / :func:`gan_flags`: a DCGAN small enough to train a few steps in
  a second (64 digits, 4-channel nets), as a config or as ``rlgan-ls gan`` flags.
- :func:`tiny_distill` / ``TINY_DISTILL_FLAGS``: a distillation run of a few seconds.
- Procedures two test tiers share (the CPU suite and the CUDA tier, ``tests/test_cuda.py``): two GAN steps
  to compare precisions, a kill-and-resume of a GAN run, ``torchrun`` with one process.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.dcgan import GANConfig, GANState, GANStep, load_dataset
from rlgan_ls.dcgan.data import BatchOrder
from rlgan_ls.dcgan.distributed import DistInfo
from rlgan_ls.distill import DistillConfig
from rlgan_ls.events import MetricRows
from rlgan_ls.runs import Run

# ----------------------------------------------------------------------------------------------- GAN

TINY_GAN: dict[str, Any] = dict(dataset="digits", max_images=64, image_size=32, g_width=4, d_width=4, z_dim=8,
                                batch_size=16, eval_samples=32, classifier_steps=20, progress=False)
"""The smallest DCGAN that still trains: the base every GAN test changes what it needs in."""


def tiny_gan_config(**overrides: Any) -> GANConfig:
    """``TINY_GAN`` with ``overrides``, as a config."""
    return GANConfig(**(TINY_GAN | overrides))


def gan_flags(**settings: Any) -> list[str]:
    """``rlgan-ls gan`` flags for ``TINY_GAN`` with ``settings`` (a false bool becomes ``--no-<flag>``)."""
    flags: list[str] = []
    for key, value in (TINY_GAN | settings).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{flag[2:]}")
        else:
            flags += [flag, str(value)]
    return flags


def checkpoint(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The GAN checkpoint of a run directory."""
    return Run(run_dir).load_checkpoint()


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """A nested checkpoint as ``{"/G/0.weight": tensor, ...}``."""
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in flatten(v, f"{prefix}/{k}").items()}
    if isinstance(obj, (list, tuple)):
        return {k2: v2 for i, v in enumerate(obj) for k2, v2 in flatten(v, f"{prefix}/{i}").items()}
    return {prefix: obj}


def curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every event of ``tag`` in a run's TensorBoard files."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def two_steps(**overrides: object) -> tuple[dict[str, torch.Tensor], GANStep]:
    """Each metric's ``(2,)`` values (on the CPU) over two steps on fixed digits batches, and the step after
    them. ``device="cuda"`` runs them on the GPU (the CUDA tier)."""
    settings: dict = dict(dataset="digits", image_size=32, g_width=8, d_width=8, z_dim=16, batch_size=16,
                          device="cpu", progress=False, seed=3) | overrides
    data = load_dataset("digits", 32, max_images=32)
    dev = torch.device(settings["device"])
    cfg = GANConfig(**settings).resolved(dev, data.channels)
    info = DistInfo(0, 1, dev)
    step = GANStep(cfg, GANState.create(cfg, data.channels, info), info)
    order, rows = BatchOrder(len(data), cfg.batch_size, cfg.seed), MetricRows()
    for i in range(2):
        rows.append(step(data.batch(order.indices(i), dev, step.memory_format)))
    return {k: v.cpu() for k, v in zip(rows.names, rows.take().T)}, step


def check_bf16_against_fp32(want: dict[str, torch.Tensor], got: dict[str, torch.Tensor], step: GANStep) -> None:
    """``got`` (bf16 autocast) within bf16's precision of ``want`` (fp32), weights and Adam state in fp32."""
    assert step.use_bf16
    assert got.keys() == want.keys()
    # bf16 keeps 8 bits of mantissa (0.4 % per rounding). Losses and D's mean probabilities land within
    # 0.1 % of fp32 here (measured); gradient norms sum thousands of bf16 products: within 2.1 %.
    for name in want:
        rtol = 3e-2 if name.startswith("grad_norm/") else 2e-3
        torch.testing.assert_close(got[name], want[name], rtol=rtol, atol=0.0, msg=lambda m, n=name: f"{n}: {m}")
    assert not all(torch.equal(got[k], want[k]) for k in want)  # bf16 really ran
    for opt in (step.state.opt_g, step.state.opt_d):
        for group in opt.param_groups:
            for p in group["params"]:
                assert p.dtype == torch.float32
                assert all(v.dtype == torch.float32 for k, v in opt.state[p].items() if k != "step")


# DiffAugment on: its random shifts and cutouts are part of the state a resume must restore.
RESUME_FLAGS = gan_flags(max_images=80, eval_samples=64, augment="translation,cutout", seed=3, log_every=1,
                         eval_every=100)


def kill_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    """``gan ARGS`` for 9 steps straight, and killed at step 7 then resumed: checkpoints and curves identical."""
    from rlgan_ls.cli import main

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
    assert checkpoint(tmp_path / "killed")["step"] == 4
    monkeypatch.setattr(GANStep, "__call__", original)
    assert main(["gan", "--resume", str(tmp_path / "killed"), "--steps", "9", "--no-progress"]) == 0

    a, b = flatten(checkpoint(tmp_path / "straight")), flatten(checkpoint(tmp_path / "killed"))
    assert a.keys() == b.keys()
    tensors = [k for k in a if isinstance(a[k], torch.Tensor)]
    assert any(k.startswith("/G/") for k in tensors) and any(k.startswith("/opt_d/state/") for k in tensors)
    for k in tensors:
        assert torch.equal(a[k], b[k]), k  # type: ignore[arg-type]
    # The curves match too, once each step: steps 5-6 of the killed attempt were purged and rewritten.
    for tag in ("grad_norm/generator", "d/real"):
        straight, resumed = curve(tmp_path / "straight", tag), curve(tmp_path / "killed", tag)
        assert [s for s, _ in resumed] == list(range(1, 10))
        assert resumed == straight


def torchrun_one_process(tmp_path: Path, device: str) -> tuple[dict, dict]:
    """The final checkpoints of a tiny GAN run under ``torchrun --standalone --nproc-per-node 1`` (DDP over
    gloo on CPU, nccl on CUDA) and of the same run in a plain process: ``(torchrun, plain)``."""
    import subprocess
    import sys

    from rlgan_ls.cli import main

    args = ["gan", *gan_flags(steps=4, eval_every=100, seed=1, device=device), "--logdir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # CPU convolutions round differently per thread count
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                           "-m", "rlgan_ls.cli", *args, "--run-name", "torchrun"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main([*args, "--run-name", "plain"]) == 0
    return checkpoint(tmp_path / "torchrun"), checkpoint(tmp_path / "plain")


# ------------------------------------------------------------------------------------- distillation

TINY_DISTILL: dict[str, Any] = dict(env="CartPole-v1", n_envs=4, rounds=4, steps_per_round=32, updates_per_round=60,
                                    batch_size=128, width=32, eval_episodes=4, eval_envs=4, progress=False)
"""A distillation run that learns CartPole's scripted teacher in about a second."""

TINY_DISTILL_FLAGS = ["--n-envs", "2", "--rounds", "2", "--steps-per-round", "16", "--updates-per-round", "5",
                      "--eval-episodes", "2", "--eval-envs", "2", "--no-progress"]
"""``rlgan-ls distill`` flags for a run that only has to finish (seconds), not to learn."""


def tiny_distill(tmp_path: Path, **overrides: Any) -> DistillConfig:
    """``TINY_DISTILL`` with ``overrides``, logging under ``tmp_path/runs``."""
    return dataclasses.replace(DistillConfig(**TINY_DISTILL, logdir=str(tmp_path / "runs")), **overrides)
