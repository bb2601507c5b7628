"""The trainer's CUDA-default paths (bf16 autocast, torch.compile, the NCHW layout) run on the CPU too.

Oracle: the same first two training steps in fp32, eager, channels_last, from the same weights, noise
and batches. bf16 must agree to bf16's precision and keep weights and optimizer state in fp32;
compiled G and D, and the NCHW layout, must agree to float rounding.
"""

from __future__ import annotations

import pytest
import torch

from rlgan_ls.dcgan import GANConfig, GANState, GANStep, load_dataset
from rlgan_ls.dcgan.data import BatchOrder
from rlgan_ls.dcgan.distributed import DistInfo
from rlgan_ls.events import MetricRows


def two_steps(**overrides: object) -> tuple[dict[str, torch.Tensor], GANStep]:
    """Each metric's ``(2,)`` values (on the CPU) over two steps on fixed digits batches, and the step after
    them. ``device="cuda"`` runs them on the GPU (the CUDA tier, tests/test_cuda.py)."""
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


def test_bf16_autocast_matches_fp32_and_keeps_fp32_state() -> None:
    want, _ = two_steps(precision="fp32")
    got, step = two_steps(precision="bf16")
    check_bf16_against_fp32(want, got, step)


def test_nchw_layout_matches_channels_last() -> None:
    want, _ = two_steps()
    got, step = two_steps(channels_last=False)
    assert step.memory_format == torch.contiguous_format
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_compiled_models_match_eager() -> None:
    pytest.importorskip("torch._inductor")
    want, _ = two_steps()
    got, step = two_steps(compile=True)
    assert step.g_run is not step.state.G and step.d_run is not step.state.D  # the compiled wrappers ran
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
