"""The GAN objective: owns both the discriminator's and the generator's loss.

The loop decides when each is called; this object decides what each is. Both delegate to the shared
loss core (:func:`rlgan_ls.losses.discriminator_loss`, :func:`rlgan_ls.losses.generator_loss`),
which works on logits, so nothing here ever applies a Sigmoid before a log. Like
:class:`~rlgan_ls.distill.objective.DistillLoss`, each call returns ``(loss, parts)``: the loss to
differentiate and the named, detached terms to log, as 0-dim device tensors (no host sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import tags
from ..losses import DiscriminatorMode, GeneratorLossKind, discriminator_loss, generator_loss

if TYPE_CHECKING:
    from .config import GANConfig

__all__ = ["GANLoss", "mean_probability"]


def mean_probability(logits: Tensor) -> Tensor:
    """Mean of sigmoid(logits) in float32, detached: the discriminator's average belief "real"."""
    return logits.detach().float().sigmoid().mean()


@dataclass
class GANLoss:
    """Label-smoothed discriminator loss and the generator's loss. Build it from keywords or with
    :meth:`from_config`."""

    alpha: float
    """Smoothing strength in [0, 1)."""
    smoothing: DiscriminatorMode = "one-sided"
    """``one-sided`` (real target 1 - alpha, fake 0), ``two-sided``, ``flip`` or ``none``."""
    generator_kind: GeneratorLossKind = "non-saturating"
    """``non-saturating`` or ``minimax``."""
    flip_generator: torch.Generator | None = None
    """Random source of the ``flip`` mode (its state is checkpointed)."""

    @classmethod
    def from_config(cls, cfg: GANConfig, flip_generator: torch.Generator | None = None) -> GANLoss:
        """The objective a run with ``cfg`` trains on."""
        return cls(cfg.alpha, cfg.smoothing, cfg.generator_loss, flip_generator)

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``(B,)`` logits on real and on (detached) generated images -> scalar D loss and its parts:
        ``loss/discriminator``, ``d/real`` and ``d/fake`` (mean D(x) on each batch)."""
        loss = discriminator_loss(real_logits, fake_logits, self.alpha, mode=self.smoothing,
                                  generator=self.flip_generator)
        return loss, {tags.LOSS_D: loss.detach().float(), tags.D_REAL: mean_probability(real_logits),
                      tags.D_FAKE: mean_probability(fake_logits)}

    def generator(self, fake_logits: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``(B,)`` logits on generated images -> scalar G loss and its parts: ``loss/generator`` and
        ``d/fake_after_update`` (mean D(G(z)) as the generator's update sees it)."""
        loss = generator_loss(fake_logits, kind=self.generator_kind)
        return loss, {tags.LOSS_G: loss.detach().float(), tags.D_FAKE_AFTER: mean_probability(fake_logits)}

    def optimal_real_probability(self, p_data: float, p_g: float) -> float:
        """D*(x) for this objective: ``(t_real p_data + t_fake p_g) / (p_data + p_g)``.

        With one-sided smoothing that is ``(1 - alpha) p_data / (p_data + p_g) <= 1 - alpha``.
        """
        t_real = 1.0 if self.smoothing == "none" else 1.0 - self.alpha
        t_fake = self.alpha if self.smoothing in ("two-sided", "flip") else 0.0
        return (t_real * p_data + t_fake * p_g) / (p_data + p_g)
