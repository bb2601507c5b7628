"""The CUDA tier, ``pytest -m cuda``: every CUDA path of the suite on a GPU; skipped where there is none.

Oracles: PyTorch's own ``F.cross_entropy(label_smoothing=...)`` and autograd; the textbook binary
cross-entropy in float64 on the CPU; the fp32 training step beside the bf16 one; an uninterrupted run
beside a killed and resumed one; a plain process beside ``torchrun``.

``RLGAN_LS_TEST_DEVICE=cpu pytest -m cuda`` runs the same tests on the CPU: that is how they were
checked on a machine without a GPU (the CUDA-only settings, TF32 and cuDNN, are then no-ops).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import (
    RESUME_FLAGS,
    check_bf16_against_fp32,
    kill_and_resume,
    tiny_distill,
    torchrun_one_process,
    two_steps,
)
from scripted_teachers import lean_teacher

from rlgan_ls import discriminator_loss, generator_loss, smoothed_cross_entropy
from rlgan_ls.distill import distill
from rlgan_ls.distill.students import load_student

DEVICE = os.environ.get("RLGAN_LS_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="no CUDA device")]
KS = [2, 64, 65, 1000, 32_768, 131_072]  # both sides of the loss core's fused/logsumexp switch at 64, up to 128k


@pytest.fixture
def strict_fp32() -> Iterator[None]:
    """Full fp32 matmuls and convolutions (CUDA's defaults use TF32, 10 mantissa bits, for convolutions)."""
    saved = torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    torch.backends.cudnn.conv.fp32_precision = torch.backends.cuda.matmul.fp32_precision = "ieee"
    yield
    torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = saved


def _logits_and_targets(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, k, generator=gen)
    labels = torch.randint(0, k, (n,), generator=gen)
    soft = torch.softmax(2 * torch.randn(n, k, generator=gen), -1)
    return logits.to(DEVICE), labels.to(DEVICE), soft.to(DEVICE)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_loss_core_fp32_matches_pytorch_in_float64_and_its_autograd(k: int, target_kind: str, reduction: str) -> None:
    """The oracle is PyTorch's op in float64 on the CPU. Its own fp32 op is the looser of the two at large K
    (measured on the CPU at K = 128k: gradient error 1e-4 against float64; the loss core's 8e-8)."""
    logits, labels, soft = _logits_and_targets(8 if k > 1000 else 64, k, seed=k)
    target = labels if target_kind == "hard" else soft
    z = logits.clone().requires_grad_(True)
    z64 = logits.detach().cpu().double().requires_grad_(True)
    t64 = target.cpu().double() if target_kind == "soft" else target.cpu()
    ours = smoothed_cross_entropy(z, target, 0.1, reduction=reduction)
    ref = F.cross_entropy(z64, t64, label_smoothing=0.1, reduction=reduction)
    torch.testing.assert_close(ours.cpu().double(), ref, rtol=1e-5, atol=1e-5)
    weights = torch.linspace(0.5, 1.5, ours.numel(), dtype=torch.float64).reshape(ours.shape)  # a non-uniform upstream
    (ours * weights.to(ours)).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(z.grad.cpu().double(), z64.grad, rtol=1e-5, atol=1e-6)
    assert torch.allclose(F.cross_entropy(logits, target, label_smoothing=0.1, reduction=reduction).double().cpu(),
                          ref, rtol=1e-4, atol=1e-4)  # and PyTorch's fp32 op on the device agrees loosely


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_loss_core_under_bf16_autocast_is_fp32_math_on_the_bf16_logits(k: int, target_kind: str) -> None:
    torch.manual_seed(k)
    layer = torch.nn.Linear(32, k).to(DEVICE)
    x = torch.randn(8, 32, device=DEVICE)
    _, labels, soft = _logits_and_targets(8, k, seed=k)
    target = labels if target_kind == "hard" else soft
    with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16):
        logits = layer(x)
    assert logits.dtype == torch.bfloat16
    z1, z2 = logits.detach().clone().requires_grad_(True), logits.detach().clone().requires_grad_(True)
    with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16):
        ours = smoothed_cross_entropy(z1, target, 0.1)
    ref = F.cross_entropy(z2.float(), target, label_smoothing=0.1)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    ours.backward()
    ref.backward()
    assert z1.grad.dtype == torch.bfloat16
    torch.testing.assert_close(z1.grad, z2.grad)  # bf16 tolerances: one rounding of the same fp32 gradient


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("mode", ["one-sided", "two-sided", "none"])
def test_gan_losses_match_the_float64_textbook(dtype: torch.dtype, mode: str) -> None:
    gen = torch.Generator().manual_seed(1)
    real, fake = 4 * torch.randn(4096, generator=gen), 4 * torch.randn(1024, generator=gen)
    t_real, t_fake = {"one-sided": (0.8, 0.0), "two-sided": (0.8, 0.2), "none": (1.0, 0.0)}[mode]
    r64, f64 = real.to(dtype).double(), fake.to(dtype).double()  # the values the device sees, exactly

    def bce(x: torch.Tensor, t: float) -> torch.Tensor:
        return -(t * F.logsigmoid(x) + (1 - t) * F.logsigmoid(-x)).mean()

    got = discriminator_loss(real.to(DEVICE, dtype), fake.to(DEVICE, dtype), alpha=0.2, mode=mode)
    assert got.dtype == torch.float32  # computed in full precision, whatever the logits' dtype
    torch.testing.assert_close(got.double().cpu(), bce(r64, t_real) + bce(f64, t_fake), rtol=1e-6, atol=1e-6)
    for kind, want in (("non-saturating", -F.logsigmoid(f64).mean()), ("minimax", -F.softplus(f64).mean())):
        torch.testing.assert_close(generator_loss(fake.to(DEVICE, dtype), kind).double().cpu(), want,
                                   rtol=1e-6, atol=1e-6)


def test_gan_step_in_bf16_and_channels_last_matches_the_fp32_step(strict_fp32: None) -> None:
    want, _ = two_steps(device=DEVICE, precision="fp32", channels_last=False)
    got, step = two_steps(device=DEVICE, precision="bf16", channels_last=True)
    assert step.memory_format == torch.channels_last
    check_bf16_against_fp32(want, got, step)
    assert all(p.device.type == torch.device(DEVICE).type for p in step.state.G.parameters())


def test_compiled_gan_step_matches_eager(strict_fp32: None) -> None:
    pytest.importorskip("torch._inductor")
    want, _ = two_steps(device=DEVICE)
    got, step = two_steps(device=DEVICE, compile=True)
    assert step.g_run is not step.state.G and step.d_run is not step.state.D
    # Inductor fuses the pointwise tails of the convolutions (batch norm, activations): fp32 rounding apart.
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_resume_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # atomics-free convolution backward
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    kill_and_resume(tmp_path, monkeypatch, [*RESUME_FLAGS, "--smoothing", "flip", "--device", DEVICE])


def test_distillation_end_to_end(tmp_path: Path) -> None:
    result = distill(tiny_distill(tmp_path, alpha=0.1, method="dagger", device=DEVICE), teacher=lean_teacher)
    assert result.metrics["eval/return_mean"] >= 450  # the scripted teacher scores 500 (test_distill)
    assert all(p.device.type == torch.device(DEVICE).type for p in result.student.parameters())
    on_cpu, _, config = load_student(result.run_dir)
    assert config["device"] == DEVICE
    obs = torch.randn(1000, 4) * 0.3
    with torch.no_grad():
        torch.testing.assert_close(result.student(obs.to(DEVICE)).cpu(), on_cpu(obs), rtol=1e-4, atol=1e-5)


def test_torchrun_one_process_matches_a_plain_run(tmp_path: Path) -> None:
    """DDP over nccl (gloo on the CPU) with a world of one: the plain run's parameters, to fp32 rounding."""
    launched, plain = torchrun_one_process(tmp_path, DEVICE)
    assert launched["step"] == plain["step"] == 4
    for part in ("G", "D"):
        for k in plain[part]:
            torch.testing.assert_close(launched[part][k], plain[part][k], rtol=1e-4, atol=1e-6, msg=f"{part}/{k}")


def test_ensemble_on_the_device_starts_as_its_solo_runs(tmp_path: Path) -> None:
    """Members stacked on the GPU (vmap over their parameters): each member's first round equals its solo run."""
    import dataclasses

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rlgan_ls.distill.ensemble import distill_ensemble

    def first(run_dir: Path) -> float:
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
        return acc.Scalars("loss/total")[0].value

    cfgs = [tiny_distill(tmp_path, alpha=a, seed=s, device=DEVICE, run_name=f"a{a}") for a, s in ((0.0, 0), (0.3, 1))]
    solos = [distill(c, teacher=lean_teacher) for c in cfgs]
    members = distill_ensemble([dataclasses.replace(c, logdir=str(tmp_path / "ens")) for c in cfgs],
                               teacher=lean_teacher)
    for solo, member in zip(solos, members):
        assert not isinstance(member, Exception)
        assert first(member.run_dir) == pytest.approx(first(solo.run_dir), rel=1e-4)
        assert member.metrics["eval/return_mean"] >= 400
