"""GAN binary losses on logits: closed forms, the one-sided optimum D*, flip-mode expectation."""

import math

import pytest
import torch
import torch.nn.functional as F

from rlgan_ls import discriminator_loss, generator_loss
from rlgan_ls.dcgan import GANLoss

D = torch.float64


def _bce_ref(x, t):
    """Oracle: the textbook -(t log s + (1-t) log(1-s)) with s = sigmoid(x), in float64."""
    s = torch.sigmoid(x)
    return -(t * torch.log(s) + (1 - t) * torch.log1p(-s))


@pytest.mark.parametrize(("mode", "t_real", "t_fake"),
                         [("one-sided", 0.8, 0.0), ("two-sided", 0.8, 0.2), ("none", 1.0, 0.0)])
def test_modes_match_textbook_bce_with_unequal_batch_sizes(mode, t_real, t_fake):
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, generator=gen, dtype=D), torch.randn(3, generator=gen, dtype=D)
    got = discriminator_loss(real, fake, alpha=0.2, mode=mode, reduction="none")
    ref = torch.cat([_bce_ref(real, t_real), _bce_ref(fake, t_fake)])
    assert got.shape == (10,) and torch.allclose(got, ref, atol=1e-12)
    mean = discriminator_loss(real, fake, alpha=0.2, mode=mode)
    assert torch.allclose(mean, _bce_ref(real, t_real).mean() + _bce_ref(fake, t_fake).mean())
    assert torch.allclose(discriminator_loss(real, fake, alpha=0.2, mode=mode, reduction="sum"), ref.sum())
    # Same as PyTorch's fused op with explicit targets.
    torch_ref = (F.binary_cross_entropy_with_logits(real, torch.full_like(real, t_real))
                 + F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, t_fake)))
    assert torch.allclose(mean, torch_ref, atol=1e-12)


def test_stable_for_extreme_logits():
    # Sigmoid + BCELoss gives inf/clamped values here; the logit form is exact.
    real = torch.tensor([-200.0, 200.0])
    fake = torch.tensor([200.0, -200.0])
    loss = discriminator_loss(real, fake, alpha=0.0, mode="none", reduction="none")
    assert torch.allclose(loss, torch.tensor([200.0, 0.0, 200.0, 0.0]))
    assert torch.isfinite(generator_loss(torch.tensor([-500.0, 500.0]), reduction="none")).all()


@pytest.mark.parametrize(("mode", "alpha"), [("one-sided", 0.0), ("one-sided", 0.1), ("one-sided", 0.3),
                                           ("two-sided", 0.2), ("none", 0.0)])
def test_optimum_is_the_closed_form(mode, alpha):
    # Free logits d(x) on a discrete space of 6 points, trained on fixed densities. The optimum of
    # E_data[BCE(d, t_real)] + E_g[BCE(d, t_fake)] is D*(x) = (t_real p_data + t_fake p_g) / (p_data + p_g);
    # one-sided: (1 - a) p_data / (p_data + p_g), capped at 1 - a.
    p_data = torch.tensor([0.4, 0.3, 0.2, 0.1, 0.0, 0.0], dtype=D)
    p_g = torch.tensor([0.05, 0.1, 0.2, 0.15, 0.25, 0.25], dtype=D)
    d = torch.zeros(6, dtype=D, requires_grad=True)
    opt = torch.optim.LBFGS([d], lr=1, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        per = discriminator_loss(d, d, alpha=alpha, mode=mode, reduction="none")  # (12,): reals, then fakes
        loss = (per * torch.cat([p_data, p_g])).sum()
        loss.backward()
        return loss

    opt.step(closure)
    t_real, t_fake = {"one-sided": (1 - alpha, 0.0), "two-sided": (1 - alpha, alpha), "none": (1.0, 0.0)}[mode]
    d_star = (t_real * p_data + t_fake * p_g) / (p_data + p_g)
    prob = torch.sigmoid(d.detach())
    assert torch.allclose(prob, d_star, atol=1e-5)
    # The GAN objective object states the same optimum.
    stated = [GANLoss(alpha, mode).optimal_real_probability(float(a), float(b)) for a, b in zip(p_data, p_g)]
    assert torch.allclose(torch.tensor(stated, dtype=D), d_star, atol=1e-12)
    if mode == "one-sided":
        assert prob.max() <= 1 - alpha + 1e-6
        if alpha > 0:  # where only data has mass, plain GAN training would push D to 1
            assert prob[0] < 1 - alpha


def test_flip_mode_expectation_matches_two_sided():
    # BCE is linear in the target, so E[BCE(x, flipped label)] = BCE(x, E[label]) = two-sided loss.
    alpha, draws = 0.2, 4000
    gen_x = torch.Generator().manual_seed(1)
    real, fake = torch.randn(16, generator=gen_x, dtype=D), torch.randn(12, generator=gen_x, dtype=D)
    g = torch.Generator().manual_seed(123)
    samples = torch.stack([discriminator_loss(real, fake, alpha, mode="flip", generator=g) for _ in range(draws)])
    expected = discriminator_loss(real, fake, alpha, mode="two-sided")
    se = samples.std() / math.sqrt(draws)
    assert se < 0.01  # the estimate is precise enough for the check below to mean something
    assert abs(samples.mean() - expected) < 4 * se
    # Flips really are random: not every draw equals the two-sided or unflipped loss.
    assert samples.std() > 0.05


def test_flip_is_reproducible_with_the_same_generator():
    real, fake = torch.randn(32), torch.randn(32)
    a = discriminator_loss(real, fake, 0.3, mode="flip", generator=torch.Generator().manual_seed(5))
    b = discriminator_loss(real, fake, 0.3, mode="flip", generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_generator_losses_and_the_vanishing_gradient():
    x = torch.linspace(-6, 6, 25, dtype=D)
    s = torch.sigmoid(x)
    assert torch.allclose(generator_loss(x, "non-saturating", "none"), -torch.log(s), atol=1e-12)
    assert torch.allclose(generator_loss(x, "minimax", "none"), torch.log1p(-s), atol=1e-12)
    # When D confidently rejects a fake (logit -10), the minimax gradient almost vanishes while the
    # non-saturating one stays near -1: d/dx log(1 - s) = -s, d/dx -log s = -(1 - s).
    z = torch.tensor([-10.0], dtype=D, requires_grad=True)
    generator_loss(z, "minimax").backward()
    g_mm = z.grad.clone()
    z.grad = None
    generator_loss(z, "non-saturating").backward()
    assert abs(float(g_mm)) < 1e-4 and abs(float(z.grad) + 1) < 1e-4


def test_under_autocast_and_compile():
    real, fake = torch.randn(8, dtype=torch.bfloat16), torch.randn(8, dtype=torch.bfloat16)
    loss = discriminator_loss(real, fake, 0.1)
    assert loss.dtype == torch.float32
    ref = discriminator_loss(real.float(), fake.float(), 0.1)
    assert torch.allclose(loss, ref)
    f = torch.compile(lambda r, f: discriminator_loss(r, f, 0.1) + generator_loss(f, "minimax"),
                      backend="aot_eager", fullgraph=True)
    r32, f32 = real.float(), fake.float()
    assert torch.allclose(f(r32, f32), discriminator_loss(r32, f32, 0.1) + generator_loss(f32, "minimax"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"alpha": 1.0}, "alpha"), ({"mode": "label-flip"}, "mode"), ({"reduction": "max"}, "reduction"),
     ({"real_logits": torch.tensor([1, 0])}, "real_logits")],
)
def test_bad_input(kwargs, match):
    call = {"real_logits": torch.randn(2), "fake_logits": torch.randn(2)} | kwargs
    with pytest.raises(ValueError, match=match):
        discriminator_loss(**call)
    with pytest.raises(ValueError, match="kind"):
        generator_loss(torch.randn(2), kind="wasserstein")
