"""The trainer's CUDA-default paths (bf16 autocast, torch.compile, the NCHW layout) run on the CPU too.

Oracle: the same first two training steps in fp32, eager, channels_last, from the same weights, noise
and batches. bf16 must agree to bf16's precision and keep weights and optimizer state in fp32;
compiled G and D, and the NCHW layout, must agree to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rlgan_ls.dcgan.config import GANConfig
from rlgan_ls.dcgan.data import load_dataset
from rlgan_ls.dcgan.distributed import DistInfo
from rlgan_ls.dcgan.trainer import GANTrainer


def _two_steps(**overrides: object) -> tuple[torch.Tensor, GANTrainer]:
    """Metric rows ``(2, 7)`` of two steps on fixed digits batches, and the trainer after them."""
    settings: dict = dict(dataset="digits", image_size=32, g_width=8, d_width=8, z_dim=16, batch_size=16,
                          device="cpu", progress=False, seed=3)
    cfg = GANConfig(**(settings | overrides))
    data = load_dataset("digits", 32, max_images=32)
    trainer = GANTrainer(cfg, data, Path("unused"), DistInfo(0, 1, torch.device("cpu")))
    rows = [trainer.train_step(trainer.real_batch(step)) for step in range(2)]
    return torch.stack(rows), trainer


def test_bf16_autocast_matches_fp32_and_keeps_fp32_state() -> None:
    want, _ = _two_steps(precision="fp32")
    got, trainer = _two_steps(precision="bf16")
    assert trainer.use_bf16
    assert torch.isfinite(got).all()
    # Losses, D's mean probabilities and gradient norms: bf16 keeps 8 bits of mantissa (0.4 % per
    # rounding); these tiny nets land within 1 % of fp32.
    torch.testing.assert_close(got, want, rtol=0.03, atol=1e-3)
    assert not torch.equal(got, want)  # bf16 really ran
    for opt in (trainer.opt_g, trainer.opt_d):
        for group in opt.param_groups:
            for p in group["params"]:
                assert p.dtype == torch.float32
                assert all(v.dtype == torch.float32 for k, v in opt.state[p].items() if k != "step")


def test_nchw_layout_matches_channels_last() -> None:
    want, _ = _two_steps()
    got, trainer = _two_steps(channels_last=False)
    assert trainer.memory_format == torch.contiguous_format
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_compiled_models_match_eager() -> None:
    pytest.importorskip("torch._inductor")
    want, _ = _two_steps()
    got, trainer = _two_steps(compile=True)
    assert trainer.g_run is not trainer.G and trainer.d_run is not trainer.D  # the compiled wrappers ran
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
