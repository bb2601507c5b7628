"""Smoothed cross-entropy against independent oracles: PyTorch, autograd, closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from rlgan_ls import (
    entropy_bonus_cross_entropy,
    ordinal_prior,
    smooth_targets,
    smoothed_cross_entropy,
)

D = torch.float64
REDUCTIONS = ["none", "mean", "sum"]


def _data(n, k, seed=0, dtype=D):
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, k, generator=gen, dtype=dtype)
    labels = torch.randint(0, k, (n,), generator=gen)
    soft = torch.softmax(2 * torch.randn(n, k, generator=gen, dtype=dtype), -1)
    return logits, labels, soft


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("k", [2, 5, 64, 65, 300])  # both sides of the fused/logsumexp switch at 64
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.7])
def test_uniform_matches_pytorch_label_smoothing(reduction, k, alpha):
    logits, labels, soft = _data(37, k, seed=k)
    ours = smoothed_cross_entropy(logits, labels, alpha, reduction=reduction)
    ref = F.cross_entropy(logits, labels, label_smoothing=alpha, reduction=reduction)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)
    # PyTorch also smooths probability targets: (1 - a) * soft + a / K.
    ours_soft = smoothed_cross_entropy(logits, soft, alpha, reduction=reduction)
    ref_soft = F.cross_entropy(logits, soft, label_smoothing=alpha, reduction=reduction)
    assert torch.allclose(ours_soft, ref_soft, atol=1e-6, rtol=0)


def test_leading_dims_match_pytorch_class_dim_one():
    logits, labels, _ = _data(24, 7)
    z, y = logits.reshape(2, 3, 4, 7), labels.reshape(2, 3, 4)
    ours = smoothed_cross_entropy(z, y, 0.2, reduction="none")
    ref = F.cross_entropy(z.movedim(-1, 1), y, label_smoothing=0.2, reduction="none")
    assert ours.shape == (2, 3, 4) and torch.allclose(ours, ref, atol=1e-10)


def _explicit(logits, target, alpha, prior=None):
    p = smooth_targets(target, logits.shape[-1], alpha, prior, dtype=logits.dtype)
    return -(p * torch.log_softmax(logits, -1)).sum(-1), p


@pytest.mark.parametrize("k", [3, 64, 100])
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
@pytest.mark.parametrize("prior_kind", ["uniform", "vector", "ordinal"])
def test_gradient_is_softmax_minus_target(k, target_kind, prior_kind):
    logits, labels, soft = _data(11, k, seed=3)
    target = labels if target_kind == "hard" else soft
    prior = {"uniform": None, "vector": torch.softmax(torch.randn(k, dtype=D), -1),
             "ordinal": ordinal_prior(k, decay=0.5, dtype=D)}[prior_kind]
    z = logits.clone().requires_grad_(True)
    smoothed_cross_entropy(z, target, 0.3, prior, reduction="sum").backward()
    p = smooth_targets(target, k, 0.3, prior, dtype=D)
    assert torch.allclose(z.grad, torch.softmax(logits, -1) - p, atol=1e-12)
    # And the value agrees with the explicit sum over the full target.
    assert torch.allclose(smoothed_cross_entropy(logits, target, 0.3, prior, reduction="none"),
                          _explicit(logits, target, 0.3, prior)[0], atol=1e-12)


def test_second_order_gradients():
    logits, labels, soft = _data(6, 5)
    for target in (labels, soft):
        z = logits.clone().requires_grad_(True)
        assert torch.autograd.gradgradcheck(lambda x, t=target: smoothed_cross_entropy(x, t, 0.25), (z,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("prior_kind", ["uniform", "vector", "ordinal"])
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_decomposition_holds_and_kl_is_nonnegative(reduction, prior_kind, target_kind):
    k, alpha = 6, 0.35
    logits, labels, soft = _data(19, k, seed=7)
    target = labels if target_kind == "hard" else soft
    prior = {"uniform": None, "vector": torch.softmax(torch.randn(k, dtype=D), -1),
             "ordinal": ordinal_prior(k, dtype=D)}[prior_kind]
    loss, parts = smoothed_cross_entropy(logits, target, alpha, prior, reduction=reduction, return_parts=True)
    recon = (1 - alpha) * parts.ce_base + alpha * (parts.kl_prior + parts.entropy_prior)
    assert torch.allclose(loss, recon, atol=1e-6)
    assert torch.all(parts.kl_prior >= -1e-12)
    # Independent oracle for the parts: CE to the base, and torch's KL divergence.
    base = smooth_targets(target, k, 0.0, dtype=D)
    ce_base = -(base * torch.log_softmax(logits, -1)).sum(-1)
    if prior is None:
        r = torch.full((19, k), 1 / k, dtype=D)
    elif prior.ndim == 1:
        r = prior.expand(19, k)
    else:
        r = prior[labels] if target_kind == "hard" else soft @ prior
    kl = F.kl_div(torch.log_softmax(logits, -1), r, reduction="none").sum(-1)
    red = {"none": lambda t: t, "mean": torch.mean, "sum": torch.sum}[reduction]
    assert torch.allclose(parts.ce_base, red(ce_base), atol=1e-9)
    assert torch.allclose(parts.kl_prior, red(kl), atol=1e-9)
    if prior is None:
        assert torch.allclose(parts.entropy_prior, red(torch.full((19,), math.log(k), dtype=D)))


def test_free_logits_converge_to_the_smoothed_target_not_the_one_hot():
    k, alpha = 5, 0.2
    labels = torch.tensor([0, 1, 2, 3, 4, 2])
    z = torch.zeros(6, k, dtype=D, requires_grad=True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = smoothed_cross_entropy(z, labels, alpha, reduction="sum")
        loss.backward()
        return loss

    opt.step(closure)
    q = torch.softmax(z.detach(), -1)
    p = smooth_targets(labels, k, alpha, dtype=D)
    assert torch.allclose(q, p, atol=1e-6)
    assert q.max() < 1 - alpha + alpha / k + 1e-6  # confidence capped at 0.84, never 1


def test_label_signal_is_blurred_in_gradients():
    # For true labels a != b at the same logits, g_a - g_b = p_b - p_a = (1 - alpha)(e_b - e_a),
    # so ||g_a - g_b||^2 = 2 (1 - alpha)^2 for every alpha and every logits.
    logits, _, _ = _data(1, 7, seed=11)
    for alpha in (0.0, 0.1, 0.5, 0.9):
        grads = []
        for label in (2, 5):
            z = logits.clone().requires_grad_(True)
            smoothed_cross_entropy(z, torch.tensor([label]), alpha, reduction="sum").backward()
            grads.append(z.grad)
        dist = (grads[0] - grads[1]).square().sum()
        assert torch.allclose(dist, torch.tensor(2 * (1 - alpha) ** 2, dtype=D), atol=1e-12)


def test_entropy_bonus_baseline():
    logits, labels, _ = _data(9, 4)
    q = torch.softmax(logits, -1)
    h = -(q * q.log()).sum(-1)
    expected = F.cross_entropy(logits, labels, reduction="none") - 0.3 * h
    assert torch.allclose(entropy_bonus_cross_entropy(logits, labels, 0.3, "none"), expected, atol=1e-12)
    with pytest.raises(ValueError, match="beta"):
        entropy_bonus_cross_entropy(logits, labels, -1.0)


def test_autocast_bfloat16_logits_are_computed_in_float32():
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 10)
    x, y = torch.randn(32, 8), torch.randint(0, 10, (32,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(x)
        assert logits.dtype == torch.bfloat16
        loss = smoothed_cross_entropy(logits, y, 0.1)
    assert loss.dtype == torch.float32
    ref = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
    assert torch.allclose(loss, ref, atol=1e-6)
    loss.backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


def test_usable_under_torch_compile_fullgraph():
    logits, labels, soft = _data(16, 6, dtype=torch.float32)
    prior = ordinal_prior(6)

    def f(z, y, t):
        return (smoothed_cross_entropy(z, y, 0.1) + smoothed_cross_entropy(z, t, 0.2, prior)
                + smoothed_cross_entropy(z, y, 0.3, return_parts=True)[1].kl_prior)

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    z1, z2 = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    out_eager, out_comp = f(z1, labels, soft), compiled(z2, labels, soft)
    out_eager.backward()
    out_comp.backward()
    assert torch.allclose(out_eager, out_comp, atol=1e-6)
    assert torch.allclose(z1.grad, z2.grad, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": -0.5}, "alpha"),
        ({"logits": torch.randn(4, 1)}, "num_classes"),
        ({"target": torch.tensor([0, 1, 2])}, "batch shape"),
        ({"target": torch.tensor([0, 1, 2, 9])}, "target labels"),
        ({"target": torch.full((4, 5), 0.3)}, "target"),
        ({"prior": torch.ones(5)}, "prior"),
        ({"prior": torch.full((4,), 0.25)}, "prior"),
        ({"reduction": "avg"}, "reduction"),
        ({"logits": torch.tensor([1, 2])}, "logits"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(args, match):
    call = {"logits": torch.randn(4, 5), "target": torch.tensor([0, 1, 2, 3]), "alpha": 0.1,
            "prior": None, "reduction": "mean"} | args
    with pytest.raises(ValueError, match=match):
        smoothed_cross_entropy(**call)
