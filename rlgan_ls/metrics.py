"""Metrics on tensors: entropy, KL, calibration, gradient norms, Fréchet distance.

All functions return tensors on the input's device and never call ``.item()``, so a training loop
can accumulate them on the GPU and read them back every N steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "entropy",
    "expected_calibration_error",
    "frechet_distance",
    "grad_norm",
    "kl_divergence",
    "kl_uniform",
    "reliability",
]


def full_precision(x: Tensor) -> Tensor:
    """Upcast half-precision logits so exp/log run in float32 (autocast safety)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _log_probs(logits: Tensor) -> Tensor:
    if not isinstance(logits, Tensor) or logits.ndim == 0 or not torch.is_floating_point(logits):
        raise ValueError("logits must be a floating-point tensor of shape (*, K)")
    return F.log_softmax(full_precision(logits), dim=-1)


def entropy(logits: Tensor) -> Tensor:
    """Shannon entropy (nats) of ``softmax(logits)`` per row: ``(*, K) -> (*,)``."""
    logq = _log_probs(logits)
    return -(logq.exp() * logq).sum(-1)


def kl_divergence(target: Tensor, logits: Tensor) -> Tensor:
    """KL(target || softmax(logits)) per row, ``(*, K) -> (*,)``; 0 * log 0 counts as 0."""
    logq = _log_probs(logits)
    if target.shape != logq.shape:
        raise ValueError(f"target shape {tuple(target.shape)} must equal logits shape {tuple(logits.shape)}")
    target = target.to(logq.dtype)
    return (torch.xlogy(target, target) - target * logq).sum(-1)


def kl_uniform(logits: Tensor) -> Tensor:
    """KL(u || softmax(logits)) per row for the uniform u = 1/K: ``-log K - mean_j log q_j``."""
    logq = _log_probs(logits)
    return -logq.mean(-1) - math.log(logq.shape[-1])


def expected_calibration_error(logits: Tensor, labels: Tensor, n_bins: int = 15) -> Tensor:
    """Expected calibration error (Guo et al., 2017) with equal-width confidence bins.

    ECE = sum_b (|B_b| / N) * |accuracy(B_b) - confidence(B_b)|, where confidence is the top-class
    probability. ``labels`` are integer classes ``(N,)`` or soft targets ``(N, K)`` (their argmax
    counts as the label). Returns a 0-dim tensor.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if torch.is_floating_point(labels):
        labels = labels.reshape(-1, logits.shape[-1]).argmax(-1)
    count, conf_sum, acc_sum = reliability(logits, labels, n_bins)
    return (conf_sum - acc_sum).abs().sum() / count.sum().clamp(min=1)


def reliability(logits: Tensor, target: Tensor, n_bins: int = 10) -> Tensor:
    """A reliability diagram's data: ``(3, n_bins)`` rows count, summed confidence and summed target, with the
    top-class probability binned as in :func:`expected_calibration_error`. The target of a sample is 1 when
    its top class is the label (``target`` integer classes ``(N,)``) or that class's probability under a
    reference distribution (``target`` ``(N, K)``, e.g. a teacher's policy): a calibrated student's mean
    confidence equals the mean target in every bin."""
    probs = _log_probs(logits).exp().reshape(-1, logits.shape[-1])  # (N, K)
    soft = torch.is_floating_point(target)
    if target.numel() != probs.numel() if soft else target.numel() != probs.shape[0]:
        raise ValueError(f"the target holds {target.numel()} entries for {probs.shape[0]} rows of logits")
    conf, pred = probs.max(-1)  # (N,)
    if soft:
        hit = target.reshape(probs.shape).to(probs.dtype).gather(-1, pred[:, None])[:, 0]
    else:
        hit = (pred == target.reshape(-1)).to(probs.dtype)
    bins = (conf * n_bins).ceil().long().clamp_(1, n_bins) - 1  # (N,)
    out = torch.zeros(3, n_bins, dtype=probs.dtype, device=probs.device)
    for row, values in enumerate((torch.ones_like(conf), conf, hit)):
        out[row].index_add_(0, bins, values)
    return out


def grad_norm(params: nn.Module | Iterable[Tensor]) -> Tensor:
    """Global L2 norm of the gradients of a module's parameters (or of a parameter iterable).

    Parameters without a gradient are skipped; returns 0 when none has one. No host sync.
    """
    if isinstance(params, nn.Module):
        params = params.parameters()
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norms = torch._foreach_norm(grads)  # one norm per tensor, fused on CUDA
    return torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))


def _sqrtm_psd(m: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> Tensor:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``.

    FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}) (Heusel et al., 2017),
    computed in float64. The matrix square root goes through symmetric eigendecompositions, which
    is exact for the PSD covariances here and avoids scipy's complex ``sqrtm``.
    """
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(feats_a.shape)} and {tuple(feats_b.shape)}")
    if feats_a.shape[0] < 2 or feats_b.shape[0] < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T).reshape(a.shape[1], a.shape[1]), torch.cov(b.T).reshape(b.shape[1], b.shape[1])
    root_a = _sqrtm_psd(s_a)
    cross = _sqrtm_psd(root_a @ s_b @ root_a)
    return (mu_a - mu_b).square().sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * torch.trace(cross)
