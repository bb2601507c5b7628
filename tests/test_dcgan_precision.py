"""The trainer's CUDA-default paths (bf16 autocast, torch.compile, the NCHW layout) run on the CPU too.

Oracle: the same first two training steps in fp32, eager, channels_last, from the same weights, noise
and batches. bf16 must agree to bf16's precision and keep weights and optimizer state in fp32;
compiled G and D, and the NCHW layout, must agree to float rounding.
"""

from __future__ import annotations

import pytest
import torch
from helpers import check_bf16_against_fp32, two_steps


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
