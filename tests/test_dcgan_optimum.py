"""The discriminator's optimum under label smoothing (Salimans et al., 2016).

Oracle: for real target t_r and fake target t_f, the pointwise optimum of the smoothed binary
cross-entropy is D*(x) = (t_r p_data(x) + t_f p_g(x)) / (p_data(x) + p_g(x)); with one-sided
smoothing it is (1 - alpha) p_data / (p_data + p_g) <= 1 - alpha.
"""

from __future__ import annotations

import pytest
import torch

from rlgan_ls.dcgan.loss import GANLoss
from rlgan_ls.dcgan.models import Discriminator
from rlgan_ls.losses import discriminator_loss


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
        loss.discriminator(d(real), d(fake)).backward()
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


@pytest.mark.parametrize("mode", ["one-sided", "two-sided", "none"])
def test_optimum_on_overlapping_supports(mode: str) -> None:
    """A free logit per point, trained on the exact expected loss, lands on the closed-form D*."""
    alpha = 0.2
    p_data = torch.tensor([0.4, 0.3, 0.2, 0.1, 0.0], dtype=torch.float64)
    p_g = torch.tensor([0.1, 0.1, 0.2, 0.3, 0.3], dtype=torch.float64)
    t_real = 1.0 if mode == "none" else 1 - alpha
    t_fake = alpha if mode == "two-sided" else 0.0
    expected = (t_real * p_data + t_fake * p_g) / (p_data + p_g)  # closed form, independent of the code
    loss = GANLoss(alpha, mode)  # type: ignore[arg-type]
    logits = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], lr=0.5, max_iter=500, line_search_fn="strong_wolfe", tolerance_grad=1e-12)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        per = discriminator_loss(logits, logits, alpha, mode=mode, reduction="none")  # (10,): reals, then fakes
        total = (p_data * per[:5]).sum() + (p_g * per[5:]).sum()  # E_{p_data}[l_real] + E_{p_g}[l_fake]
        total.backward()
        return total

    opt.step(closure)
    d = logits.detach().sigmoid()
    torch.testing.assert_close(d, expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(torch.tensor([loss.optimal_real_probability(float(a), float(b))
                                             for a, b in zip(p_data, p_g)], dtype=torch.float64), expected)
    if mode == "one-sided":
        assert float(d.max()) <= 1 - alpha + 1e-4


def test_gan_loss_delegates_to_the_core() -> None:
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, generator=gen), torch.randn(4, generator=gen)
    loss = GANLoss(0.1, "one-sided", "minimax")
    expected_d = (torch.nn.functional.softplus(real) - 0.9 * real).mean() + torch.nn.functional.softplus(fake).mean()
    torch.testing.assert_close(loss.discriminator(real, fake), expected_d)
    torch.testing.assert_close(loss.generator(fake), -torch.nn.functional.softplus(fake).mean())
