"""Metrics against closed forms and independent implementations."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from rlgan_ls import entropy, expected_calibration_error, frechet_distance, grad_norm, kl_divergence, kl_uniform

D = torch.float64


def test_entropy_closed_forms():
    assert torch.allclose(entropy(torch.zeros(3, 8, dtype=D)), torch.full((3,), math.log(8), dtype=D))
    assert entropy(torch.tensor([[100.0, 0.0, 0.0]], dtype=D)) < 1e-40
    p = torch.tensor([0.5, 0.25, 0.25], dtype=D)
    assert torch.allclose(entropy(p.log()), torch.tensor(1.5 * math.log(2), dtype=D))


def test_kl_against_torch_kl_div_and_uniform():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 6, generator=gen, dtype=D)
    target = torch.softmax(torch.randn(5, 6, generator=gen, dtype=D), -1)
    target[0] = torch.tensor([1, 0, 0, 0, 0, 0], dtype=D)  # zeros count as 0 log 0 = 0
    ref = F.kl_div(torch.log_softmax(logits, -1), target, reduction="none").sum(-1)
    assert torch.allclose(kl_divergence(target, logits), ref, atol=1e-12)
    uniform = torch.full((5, 6), 1 / 6, dtype=D)
    assert torch.allclose(kl_uniform(logits), kl_divergence(uniform, logits), atol=1e-12)
    assert torch.allclose(kl_uniform(torch.zeros(2, 6, dtype=D)), torch.zeros(2, dtype=D))


def _ece_loop(probs, labels, n_bins):
    """Oracle: the definition written out with Python loops over bins."""
    conf, pred = probs.max(-1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = [(c, p == y) for c, p, y in zip(conf.tolist(), pred.tolist(), labels.tolist()) if lo < c <= hi]
        if in_bin:
            acc = sum(ok for _, ok in in_bin) / len(in_bin)
            avg = sum(c for c, _ in in_bin) / len(in_bin)
            total += len(in_bin) / len(labels) * abs(acc - avg)
    return total


def test_ece_matches_the_definition():
    gen = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(500, 4, generator=gen, dtype=D)
    labels = torch.randint(0, 4, (500,), generator=gen)
    for n_bins in (1, 10, 15):
        ours = float(expected_calibration_error(logits, labels, n_bins))
        assert ours == pytest.approx(_ece_loop(torch.softmax(logits, -1), labels, n_bins), abs=1e-12)


def test_ece_of_a_calibrated_model_is_small_and_of_an_overconfident_one_large():
    gen = torch.Generator().manual_seed(3)
    probs = torch.softmax(torch.randn(20000, 3, generator=gen, dtype=D), -1)
    labels = torch.multinomial(probs, 1, generator=gen).squeeze(-1)  # labels drawn from the model itself
    assert float(expected_calibration_error(probs.log(), labels)) < 0.02
    assert float(expected_calibration_error(50 * probs.log(), labels)) > 0.2
    soft_labels = F.one_hot(labels, 3).to(D)
    ece_soft = expected_calibration_error(probs.log(), soft_labels)
    assert torch.allclose(ece_soft, expected_calibration_error(probs.log(), labels))


def test_grad_norm_matches_clip_grad_norm():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net(torch.randn(16, 4)).square().sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=float("inf"))
    assert torch.allclose(grad_norm(net), expected)
    net[2].bias.grad = None  # parameters without gradients are skipped
    assert grad_norm(net) < expected
    assert float(grad_norm(torch.nn.Linear(2, 2))) == 0.0


def test_frechet_distance_against_scipy_and_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(loc=0.5, size=(300, 5)) @ rng.normal(size=(5, 5))
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean)
    ours = float(frechet_distance(torch.from_numpy(a), torch.from_numpy(b)))
    assert ours == pytest.approx(ref, rel=1e-6)
    assert float(frechet_distance(torch.from_numpy(a), torch.from_numpy(a))) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="features"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
