"""Losses on logits: smoothed cross-entropy for policies, binary losses for GANs.

Every loss is computed per element first and reduced by one shared helper (``none``/``mean``/``sum``).
All of them take logits, never probabilities: ``log_softmax``/``softplus`` on logits are exact where
``Sigmoid`` followed by ``BCELoss`` saturates, and they stay correct under autocast (half-precision
logits are upcast to float32 before any exp or log).

The identity behind the distillation half (uniform prior u = 1/K, q = softmax(logits)):

    CE(p, q) = (1 - alpha) * CE(base, q) + alpha * (KL(u || q) + log K)

so smoothing the teacher's targets is entropy regularisation towards uniform. For a general prior
r the same holds with KL(r || q) + H(r) in place of KL(u || q) + log K.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from .metrics import entropy, full_precision
from .smoothing import check_alpha, check_num_classes, check_prior, check_target, smooth_targets

__all__ = [
    "SmoothedCEParts",
    "discriminator_loss",
    "entropy_bonus_cross_entropy",
    "generator_loss",
    "reduce_loss",
    "smoothed_cross_entropy",
]

Reduction = Literal["none", "mean", "sum"]
_REDUCTIONS = ("none", "mean", "sum")


def reduce_loss(loss: Tensor, reduction: Reduction) -> Tensor:
    """The one reduction every loss here shares: ``none`` (per element), ``mean`` or ``sum``."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    _check_reduction(reduction)
    return loss


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


class SmoothedCEParts(NamedTuple):
    """The decomposition ``loss = (1 - alpha) * ce_base + alpha * (kl_prior + entropy_prior)``.

    Each field is reduced like the loss. For the uniform prior ``kl_prior`` is KL(u || q) (logged
    as ``loss/kl_uniform``) and ``entropy_prior`` is log K.
    """

    ce_base: Tensor
    kl_prior: Tensor
    entropy_prior: Tensor


# Up to this many classes the fused log_softmax kernel beats logsumexp (which CPU runs as several
# kernels); above it, not writing an (N, K) log-prob tensor wins. Measured crossover: K = 64..128.
_FUSED_LOG_SOFTMAX_MAX_K = 64


class _UniformSmoothedCE(torch.autograd.Function):
    """Per-row CE to ``(1 - alpha) * base + alpha / K`` without building the (N, K) target.

    Forward: ``lse(z) - (1 - alpha) * <base, z> - alpha * mean(z)`` (equivalently, in log-probs,
    ``-(1 - alpha) * <base, log q> - alpha * mean(log q)``).
    Backward: ``(softmax(z) - p) * g``, written in place into one (N, K) buffer. This single pass is
    what makes it as fast as or faster than ``F.cross_entropy(label_smoothing=...)`` (see bench/).
    """

    @staticmethod
    def forward(ctx, z: Tensor, target: Tensor, alpha: float, reduction: Reduction) -> Tensor:  # z: (N, K)
        hard = target.dtype == torch.long
        if z.shape[-1] <= _FUSED_LOG_SOFTMAX_MAX_K:
            stat = F.log_softmax(z, dim=-1)  # (N, K) log q
            base = stat.gather(-1, target.unsqueeze(-1)).squeeze(-1) if hard else (target * stat).sum(-1)
            loss = base.mul_(alpha - 1.0)  # -(1 - alpha) <base, log q>, (N,)
            if alpha:
                loss.sub_(stat.mean(-1), alpha=alpha)
        else:
            stat = torch.logsumexp(z, dim=-1)  # (N,)
            base = z.gather(-1, target.unsqueeze(-1)).squeeze(-1) if hard else (target * z).sum(-1)
            loss = torch.sub(stat, base, alpha=1.0 - alpha)
            if alpha:
                loss.sub_(z.mean(-1), alpha=alpha)
        ctx.save_for_backward(z, target, stat)
        ctx.alpha, ctx.reduction = alpha, reduction
        # Reducing here rather than outside saves an autograd node and a kernel per step.
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx, grad: Tensor):  # grad: (N,) for "none", () otherwise
        z, target, stat = ctx.saved_tensors
        alpha, k = ctx.alpha, z.shape[-1]
        if ctx.reduction == "mean":
            grad = grad / z.shape[0]
        grad = grad.unsqueeze(-1) if grad.ndim == 1 else grad  # (N, 1) or ()
        if torch.is_grad_enabled():  # create_graph=True: differentiable, out-of-place path
            p = smooth_targets(target, k, alpha, dtype=z.dtype, validate=False)
            return (torch.softmax(z, dim=-1) - p) * grad, None, None, None
        g = stat.exp() if stat.ndim == 2 else (z - stat.unsqueeze(-1)).exp_()  # (N, K) softmax(z)
        if alpha:
            g.sub_(alpha / k)
        if target.dtype == torch.long:
            idx = target.unsqueeze(-1)  # (N, 1)
            g.scatter_add_(-1, idx, torch.full(idx.shape, alpha - 1.0, dtype=g.dtype, device=g.device))
        else:
            g.sub_(target * (1.0 - alpha))
        g.mul_(grad)
        return g, None, None, None


@overload
def smoothed_cross_entropy(logits: Tensor, target: Tensor, alpha: float, prior: Tensor | None = None,
                           reduction: Reduction = "mean", return_parts: Literal[False] = False,
                           *, validate: bool | None = None) -> Tensor: ...
@overload
def smoothed_cross_entropy(logits: Tensor, target: Tensor, alpha: float, prior: Tensor | None = None,
                           reduction: Reduction = "mean", *, return_parts: Literal[True],
                           validate: bool | None = None) -> tuple[Tensor, SmoothedCEParts]: ...
@overload
def smoothed_cross_entropy(logits: Tensor, target: Tensor, alpha: float, prior: Tensor | None = None,
                           reduction: Reduction = "mean", return_parts: bool = False,
                           *, validate: bool | None = None) -> Tensor | tuple[Tensor, SmoothedCEParts]: ...
def smoothed_cross_entropy(logits: Tensor, target: Tensor, alpha: float, prior: Tensor | None = None,
                           reduction: Reduction = "mean", return_parts: bool = False,
                           *, validate: bool | None = None) -> Tensor | tuple[Tensor, SmoothedCEParts]:
    """Cross-entropy between smoothed targets and ``softmax(logits)``.

    Args:
        logits: ``(*, K)`` unnormalised scores, class dimension last.
        target: integer labels ``(*,)`` or a soft base ``(*, K)`` (e.g. teacher probabilities).
        alpha: smoothing strength in [0, 1); 0 is plain cross-entropy.
        prior: ``None`` (uniform; the (N, K) target is never built), a ``(K,)`` distribution or a
            ``(K, K)`` row-stochastic matrix (see :func:`rlgan_ls.smooth_targets`).
        reduction: ``none`` (shape ``(*,)``), ``mean`` or ``sum``.
        return_parts: also return :class:`SmoothedCEParts`, the two terms of the decomposition.
        validate: value checks on labels/distributions; default only for eager CPU tensors.

    Returns:
        The loss, or ``(loss, parts)`` when ``return_parts`` is true.
    """
    if not isinstance(logits, Tensor) or logits.ndim == 0 or not torch.is_floating_point(logits):
        raise ValueError("logits must be a floating-point tensor of shape (*, K)")
    k = check_num_classes(logits.shape[-1])
    a = check_alpha(alpha)
    _check_reduction(reduction)
    hard = check_target(target, k, validate)
    batch_shape = logits.shape[:-1]
    target_batch = target.shape if hard else target.shape[:-1]
    if target_batch != batch_shape:
        raise ValueError(f"target batch shape {tuple(target_batch)} does not match logits "
                         f"batch shape {tuple(batch_shape)} (logits are (*, K) = {tuple(logits.shape)})")
    if prior is not None:
        check_prior(prior, k, validate)

    z = full_precision(logits)
    z = z if z.ndim == 2 else z.reshape(-1, k)  # (N, K)
    flat_target = (target if target.ndim == 1 else target.reshape(-1)).long() if hard \
        else target.reshape(-1, k).to(z.dtype)
    if prior is None:
        loss = _UniformSmoothedCE.apply(z, flat_target, a, reduction)
        if reduction == "none" and len(batch_shape) != 1:
            loss = loss.reshape(batch_shape)
    else:
        p = smooth_targets(flat_target, k, a, prior.to(z.dtype), dtype=z.dtype, validate=False)  # (N, K)
        per_row = -(p * F.log_softmax(z, dim=-1)).sum(-1)  # (N,)
        loss = reduce_loss(per_row.reshape(batch_shape), reduction)
    if not return_parts:
        return loss
    return loss, _decomposition(z, flat_target, prior, batch_shape, reduction)


def _decomposition(z: Tensor, target: Tensor, prior: Tensor | None, batch_shape: torch.Size,
                   reduction: Reduction) -> SmoothedCEParts:
    """CE(base, q), KL(r || q) and H(r) per row, reduced; r is the prior part of the target."""
    k, hard = z.shape[-1], target.dtype == torch.long
    logq = F.log_softmax(z, dim=-1)  # (N, K)
    ce_base = -logq.gather(-1, target.unsqueeze(-1)).squeeze(-1) if hard else -(target * logq).sum(-1)
    if prior is None:
        kl = -logq.mean(-1) - math.log(k)  # KL(u || q) = -log K - mean_j log q_j
        h = torch.full_like(kl, math.log(k))
    else:
        prior = prior.to(z.dtype)
        if prior.ndim == 1:
            r = prior.expand_as(z)
        else:  # row y of the matrix for label y; the base-weighted mix of its rows for a soft base
            r = prior[target] if hard else target @ prior
        h = -torch.xlogy(r, r).sum(-1)
        kl = -(r * logq).sum(-1) - h
    return SmoothedCEParts(*(reduce_loss(t.reshape(batch_shape), reduction) for t in (ce_base, kl, h)))


def entropy_bonus_cross_entropy(logits: Tensor, target: Tensor, beta: float,
                                reduction: Reduction = "mean") -> Tensor:
    """Baseline regulariser offered by imitation libraries: ``CE(base, q) - beta * H(q)``.

    Unlike label smoothing, the entropy bonus pulls towards *any* high-entropy distribution
    rather than to a fixed target, so its optimum depends on beta non-linearly. Provided so both
    can be compared on equal footing.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0 or math.isnan(beta):
        raise ValueError(f"beta must be a non-negative float, got {beta!r}")
    _check_reduction(reduction)
    ce = smoothed_cross_entropy(logits, target, 0.0, reduction="none")
    return reduce_loss(ce - beta * entropy(logits), reduction)


# ----------------------------------------------------------------------------------------- GANs

DiscriminatorMode = Literal["one-sided", "two-sided", "flip", "none"]
_D_MODES = ("one-sided", "two-sided", "flip", "none")


def _bce_with_logits(x: Tensor, t: Tensor | float) -> Tensor:
    """Per-element binary cross-entropy on logits: ``softplus(x) - t * x`` (stable for any x)."""
    return F.softplus(x) - t * x


def _flip_targets(like: Tensor, clean: float, alpha: float, generator: torch.Generator | None) -> Tensor:
    """Labels equal to ``clean``, each flipped to ``1 - clean`` with probability ``alpha``."""
    gen_device = generator.device if generator is not None else like.device
    flipped = torch.rand(like.shape, generator=generator, device=gen_device).to(like.device) < alpha
    return torch.where(flipped, 1.0 - clean, clean).to(like.dtype)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, alpha: float = 0.1,
                       mode: DiscriminatorMode = "one-sided", generator: torch.Generator | None = None,
                       reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy of the discriminator on logits, with label smoothing.

    Modes (Salimans et al., 2016, "Improved Techniques for Training GANs"):
        ``one-sided``: real target 1 - alpha, fake target 0. The optimum
            D*(x) = (1 - alpha) p_data / (p_data + p_g) never exceeds 1 - alpha.
        ``two-sided``: real 1 - alpha, fake alpha.
        ``flip``: hard labels, each flipped with probability alpha (drawn from ``generator``).
            In expectation this equals ``two-sided``.
        ``none``: real 1, fake 0.

    Real and fake batches may differ in size. ``mean`` weights the two halves equally
    (mean over real + mean over fake, the DCGAN convention and the objective whose optimum is D*);
    ``sum`` sums every element; ``none`` returns the per-element losses, real first then fake.
    """
    for name, x in (("real_logits", real_logits), ("fake_logits", fake_logits)):
        if not isinstance(x, Tensor) or not torch.is_floating_point(x):
            raise ValueError(f"{name} must be a floating-point tensor of logits")
    if mode not in _D_MODES:
        raise ValueError(f"mode must be one of {_D_MODES}, got {mode!r}")
    a = check_alpha(alpha)
    _check_reduction(reduction)
    real, fake = full_precision(real_logits), full_precision(fake_logits)
    if mode == "flip":
        real_t: Tensor | float = _flip_targets(real, 1.0, a, generator)
        fake_t: Tensor | float = _flip_targets(fake, 0.0, a, generator)
    else:
        real_t = 1.0 if mode == "none" else 1.0 - a
        fake_t = a if mode == "two-sided" else 0.0
    loss_real = _bce_with_logits(real, real_t)
    loss_fake = _bce_with_logits(fake, fake_t)
    if reduction == "mean":
        return loss_real.mean() + loss_fake.mean()
    both = torch.cat([loss_real.reshape(-1), loss_fake.reshape(-1)])
    return reduce_loss(both, reduction)


GeneratorLossKind = Literal["non-saturating", "minimax"]


def generator_loss(fake_logits: Tensor, kind: GeneratorLossKind = "non-saturating",
                   reduction: Reduction = "mean") -> Tensor:
    """Generator objective on the discriminator's logits for generated samples.

    ``non-saturating``: ``-log D(G(z)) = softplus(-x)`` (Goodfellow et al., 2014, the practical one).
    ``minimax``: ``log(1 - D(G(z))) = -softplus(x)``, the original objective whose gradient vanishes
    when D confidently rejects fakes; label smoothing matters most here.
    """
    if not isinstance(fake_logits, Tensor) or not torch.is_floating_point(fake_logits):
        raise ValueError("fake_logits must be a floating-point tensor of logits")
    _check_reduction(reduction)
    x = full_precision(fake_logits)
    if kind == "non-saturating":
        per = F.softplus(-x)
    elif kind == "minimax":
        per = -F.softplus(x)
    else:
        raise ValueError(f"kind must be 'non-saturating' or 'minimax', got {kind!r}")
    return reduce_loss(per, reduction)
