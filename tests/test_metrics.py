"""Metrics against closed forms and independent implementations."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from rlgan_ls import entropy, expected_calibration_error, frechet_distance, grad_norm, kl_divergence, kl_uniform
from rlgan_ls.metrics import reliability

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


def test_ece_matches_torchmetrics():
    from torchmetrics.functional.classification import multiclass_calibration_error

    gen = torch.Generator().manual_seed(4)
    for k, n_bins in ((2, 10), (5, 15), (9, 7)):
        logits = 3 * torch.randn(4000, k, generator=gen)
        labels = torch.randint(0, k, (4000,), generator=gen)
        ref = multiclass_calibration_error(torch.softmax(logits, -1), labels, k, n_bins=n_bins, norm="l1")
        assert float(expected_calibration_error(logits, labels, n_bins)) == pytest.approx(float(ref), abs=1e-5)


def test_reliability_against_a_teacher():
    gen = torch.Generator().manual_seed(5)
    teacher = torch.softmax(2 * torch.randn(3000, 4, generator=gen, dtype=D), -1)
    count, conf, target = reliability(teacher.log(), teacher, n_bins=10)
    # A student equal to its teacher is calibrated bin by bin: mean confidence = mean teacher probability.
    assert torch.allclose(conf, target) and count.sum() == 3000
    # Written out by hand: bin b holds the top-class probabilities in (b/10, (b+1)/10].
    top = teacher.max(-1).values
    for b in range(10):
        in_bin = (top > b / 10) & (top <= (b + 1) / 10)
        assert count[b] == in_bin.sum() and torch.isclose(conf[b], top[in_bin].sum())
    # An over-confident student (sharpened teacher) sits below the diagonal wherever it is confident.
    count, conf, target = reliability(5 * teacher.log(), teacher, n_bins=10)
    full = count > 0
    assert (target[full] / count[full] <= conf[full] / count[full] + 1e-12).all()
    # Integer labels: the target is 1 where the top class is the label.
    labels = teacher.argmax(-1)
    assert torch.equal(reliability(teacher.log(), labels)[2], reliability(teacher.log(), labels)[0])
    with pytest.raises(ValueError, match="entries"):
        reliability(teacher.log(), labels[:10])


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
