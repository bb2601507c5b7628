"""The discriminator's optimum under label smoothing (Salimans et al., 2016).

Oracle: with disjoint supports (p_g = 0 on the reals) the optimum of the one-sided objective is
D*(x) = 1 - alpha on every real image; the loss core's closed-form optimum on free logits is tested
in test_discriminator_loss.py. Here the DCGAN discriminator itself must reach the cap, and not pass it.
"""

from __future__ import annotations

import pytest
import torch

from rlgan_ls.dcgan.loss import GANLoss
from rlgan_ls.dcgan.models import Discriminator


def _train_d_on_fixed_sets(mode: str, alpha: float, steps: int = 150) -> torch.Tensor:
    """Train the DCGAN discriminator to its optimum on 8 fixed real and 8 fixed fake images."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(8, 1, 32, 32, generator=gen) * 2 - 1  # disjoint supports: p_g = 0 on reals
    fake = torch.rand(8, 1, 32, 32, generator=gen) * 0.2 - 0.1
    d = Discriminator(channels=1, image_size=32, width=4)
    loss = GANLoss(alpha, mode)  # type: ignore[arg-type]
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss.discriminator(d(real), d(fake))[0].backward()
        opt.step()
    with torch.no_grad():
        return d(real).sigmoid()  # train-mode BatchNorm, as during training


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_one_sided_caps_d_real_at_one_minus_alpha(alpha: float) -> None:
    d_real = _train_d_on_fixed_sets("one-sided", alpha)
    assert float(d_real.max()) <= 1 - alpha + 5e-3
    assert float(d_real.mean()) == pytest.approx(1 - alpha, abs=0.02)  # and it does reach the cap


def test_without_smoothing_d_real_exceeds_the_cap() -> None:
    """The same problem without smoothing drives D(real) past 1 - alpha (the check above can fail)."""
    assert float(_train_d_on_fixed_sets("none", 0.1).mean()) > 0.95


def test_gan_loss_parts_are_the_logged_terms() -> None:
    """Loss and parts against closed forms: BCE on logits, and D's mean probability on each batch."""
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, generator=gen), torch.randn(4, generator=gen)
    loss = GANLoss(0.1, "one-sided", "minimax")
    expected_d = (torch.nn.functional.softplus(real) - 0.9 * real).mean() + torch.nn.functional.softplus(fake).mean()
    d_loss, d_parts = loss.discriminator(real, fake)
    torch.testing.assert_close(d_loss, expected_d)
    torch.testing.assert_close(d_parts["loss/discriminator"], expected_d)
    torch.testing.assert_close(d_parts["d/real"], (1 / (1 + torch.exp(-real))).mean())
    torch.testing.assert_close(d_parts["d/fake"], (1 / (1 + torch.exp(-fake))).mean())
    g_loss, g_parts = loss.generator(fake)
    torch.testing.assert_close(g_loss, -torch.nn.functional.softplus(fake).mean())
    assert set(g_parts) == {"loss/generator", "d/fake_after_update"}
    assert not any(p.requires_grad for p in (*d_parts.values(), *g_parts.values()))
