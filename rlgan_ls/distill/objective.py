"""The distillation objective and the teacher-agreement metrics, on concatenated per-dimension blocks.

For each action dimension d the student's block of logits ``(N, K_d)`` is trained against the
teacher's target for that dimension (its greedy action, or its tempered distribution) with the
shared loss core; the per-dimension losses are summed (the factorised policy's log-likelihood is
the sum of per-dimension log-likelihoods). MultiDiscrete and binned Box actions are therefore
smoothed per dimension: uniformly, towards the adjacent choices (``ordinal``) or with a Gaussian
kernel over the ordered choices (``gaussian``, width in choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from .. import tags
from ..losses import entropy_bonus_cross_entropy, reduce_loss, smoothed_cross_entropy
from ..metrics import entropy, expected_calibration_error, kl_divergence, kl_uniform
from ..smoothing import gaussian_prior, ordinal_prior
from .students import split_logits

if TYPE_CHECKING:
    from .config import DistillConfig

__all__ = ["DistillLoss", "Prior", "agreement_metrics"]

Prior = Literal["uniform", "ordinal", "gaussian"]


def _prior(kind: Prior, k: int, width: float) -> Tensor | None:
    """The ``(K, K)`` prior of one action dimension (None: uniform, which the loss core fuses)."""
    if kind == "ordinal":
        return ordinal_prior(k)
    if kind == "gaussian":
        return gaussian_prior(k, width)
    return None


@dataclass
class DistillLoss:
    """``loss(logits, actions, probs) -> (total, parts)`` where parts hold the logged terms.

    Build it from keywords or with :meth:`from_config`.
    """

    nvec: tuple[int, ...]
    """Choices per action dimension."""
    alpha: float
    """Smoothing strength in [0, 1)."""
    prior: Prior = "uniform"
    """``uniform``, ``ordinal`` (mass to the adjacent actions) or ``gaussian`` (a kernel of ``prior_width``
    actions), the last two for ordered action sets such as Box bins."""
    target: Literal["hard", "soft"] = "hard"
    """``hard`` uses the teacher's greedy actions, ``soft`` its distribution."""
    loss: Literal["smoothed", "entropy-bonus"] = "smoothed"
    """``smoothed`` (label smoothing) or ``entropy-bonus`` (CE - beta * H, the baseline)."""
    entropy_beta: float = 0.0
    """beta of the entropy bonus."""
    prior_width: float = 1.0
    """Width of the ``gaussian`` prior, in actions."""
    device: str | torch.device = "cpu"
    """Where the priors live (the logits' device)."""
    priors: list[Tensor | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.priors = [None if (p := _prior(self.prior, k, self.prior_width)) is None else p.to(self.device)
                       for k in self.nvec]

    @classmethod
    def from_config(cls, cfg: DistillConfig, nvec: tuple[int, ...]) -> DistillLoss:
        """The objective a run with ``cfg`` trains on, for actions of ``nvec`` choices."""
        return cls(nvec, cfg.alpha, cfg.prior, cfg.target, cfg.loss, cfg.entropy_beta or 0.0, cfg.prior_width or 1.0,
                   cfg.device)

    @property
    def key(self) -> tuple:
        """What decides the objective: members of an ensemble with equal keys share one loss call."""
        return self.nvec, self.alpha, self.prior, self.target, self.loss, self.entropy_beta, self.prior_width

    def __call__(self, logits: Tensor, actions: Tensor, probs: Tensor | None,
                 reduction: Literal["mean", "none"] = "mean") -> tuple[Tensor, dict[str, Tensor]]:
        """The loss and its logged terms, averaged over the ``N`` rows (``mean``) or per row (``none``)."""
        # logits: (N, sum K); actions: (N, D) long; probs: (N, sum K) or None
        prob_blocks = split_logits(probs, self.nvec) if self.target == "soft" and probs is not None else None
        total = ce = kl_u = kl_p = torch.zeros((), device=logits.device)
        for d, block in enumerate(split_logits(logits, self.nvec)):
            tgt = prob_blocks[d] if prob_blocks is not None else actions[:, d]  # (N, K_d) or (N,)
            if self.loss == "entropy-bonus":
                loss_d = entropy_bonus_cross_entropy(block, tgt, self.entropy_beta, reduction)
                ce_d = smoothed_cross_entropy(block, tgt, 0.0, reduction=reduction, validate=False)
                kl_prior_d = reduce_loss(kl_uniform(block), reduction)
            else:
                loss_d, parts = smoothed_cross_entropy(block, tgt, self.alpha, self.priors[d], reduction,
                                                       return_parts=True, validate=False)
                ce_d, kl_prior_d = parts.ce_base, parts.kl_prior
            total = total + loss_d
            ce = ce + ce_d
            kl_p = kl_p + kl_prior_d
            # With the uniform prior (and for the entropy bonus) kl_prior already is KL(u || q).
            uniform = self.loss == "entropy-bonus" or self.priors[d] is None
            kl_u = kl_u + (kl_prior_d.detach() if uniform else reduce_loss(kl_uniform(block.detach()), reduction))
        parts_out = {tags.LOSS_TOTAL: total.detach(), tags.LOSS_CE_TEACHER: ce.detach(), tags.LOSS_KL_UNIFORM: kl_u,
                     tags.LOSS_KL_PRIOR: kl_p.detach()}
        return total, parts_out


@torch.no_grad()
def agreement_metrics(logits: Tensor, actions: Tensor, probs: Tensor | None, nvec: tuple[int, ...],
                      centres: Tensor | None = None, teacher_actions: Tensor | None = None) -> dict[str, Tensor]:
    """Student vs teacher on the same states, as device tensors (no host sync).

    - ``distill/agreement``: fraction of (state, dimension) pairs where the argmaxes agree.
    - ``distill/kl_teacher_student``: KL(teacher || student) summed over dimensions, mean over states;
      the teacher's distribution is its one-hot action when it gives no probabilities.
    - ``distill/ece``: calibration of the student's confidence against the teacher's action,
      averaged over dimensions.
    - ``explore/entropy``: entropy (nats) of the student's policy, mean over states and action
      dimensions; with several dimensions also ``explore/entropy_dim/<d>`` for each.
    - ``distill/action_error`` (Box actions: ``centres`` ``(D, B)`` and the teacher's continuous
      ``teacher_actions`` ``(N, D)`` given): mean |student's greedy action - teacher's action| in the
      env's units, over states and dimensions.
    """
    prob_blocks = split_logits(probs, nvec) if probs is not None else (None,) * len(nvec)
    agree = kl = ece = err = torch.zeros((), device=logits.device)
    per_dim: dict[str, Tensor] = {}
    for d, block in enumerate(split_logits(logits, nvec)):
        teacher = prob_blocks[d]
        if teacher is None:
            teacher = torch.nn.functional.one_hot(actions[:, d], nvec[d]).to(block.dtype)  # (N, K_d)
        agree = agree + (block.argmax(-1) == actions[:, d]).float().mean()
        kl = kl + kl_divergence(teacher, block).mean()
        ece = ece + expected_calibration_error(block, actions[:, d])
        per_dim[f"{tags.ENTROPY_DIM}{d}"] = entropy(block).mean()
        if centres is not None and teacher_actions is not None:
            err = err + (centres[d][block.argmax(-1)] - teacher_actions[:, d]).abs().mean()
    dims = len(nvec)
    out = {tags.AGREEMENT: agree / dims, tags.KL_TEACHER_STUDENT: kl, tags.ECE: ece / dims,
           tags.ENTROPY: torch.stack(list(per_dim.values())).mean()}
    if dims > 1:
        out.update(per_dim)
    if centres is not None and teacher_actions is not None:
        out[tags.ACTION_ERROR] = err / dims
    return out
