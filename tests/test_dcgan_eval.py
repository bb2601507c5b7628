"""The offline quality metrics: coverage rule, class KL, Fréchet distance, classifier cache."""

from __future__ import annotations

import math

import pytest
import torch

from rlgan_ls.dcgan import classifier
from rlgan_ls.dcgan.data import load_dataset
from rlgan_ls.dcgan.evaluation import Evaluator, class_stats


def _probs(classes: list[int], k: int, conf: float) -> torch.Tensor:
    p = torch.full((len(classes), k), (1 - conf) / (k - 1))
    p[torch.arange(len(classes)), torch.tensor(classes)] = conf
    return p


def test_coverage_rule_and_kl_by_hand() -> None:
    k = 4
    real = torch.full((k,), 0.25)
    # 100 confident samples: class 0 x60, 1 x34, 2 x6, 3 x0 -> shares 0.6, 0.34, 0.06, 0.
    # Rule: share >= 0.25 * 0.25 = 0.0625, so classes 0 and 1 are covered, 2 (0.06) and 3 are not.
    classes = [0] * 60 + [1] * 34 + [2] * 6
    cov, kl, conf = class_stats(_probs(classes, k, 0.9), real)
    assert float(cov) == 2 and float(conf) == 1.0
    gen = torch.tensor([0.6, 0.34, 0.06, 0.0], dtype=torch.float64)
    expected = sum(g * math.log(g / 0.25) for g in gen.tolist() if g > 0)
    assert float(kl) == pytest.approx(expected, rel=1e-9)
    # Unconfident samples do not count towards coverage but do count in the histogram.
    cov2, _, conf2 = class_stats(torch.cat([_probs(classes, k, 0.9), _probs([3] * 100, k, 0.4)]), real)
    assert float(cov2) == 2 and float(conf2) == 0.5


def test_matching_histogram_has_zero_kl_and_full_coverage() -> None:
    classes = [c for c in range(10) for _ in range(7)]
    cov, kl, _ = class_stats(_probs(classes, 10, 0.99), torch.full((10,), 0.1))
    assert float(cov) == 10 and float(kl) == pytest.approx(0.0, abs=1e-6)  # float32 real histogram


def test_evaluator_separates_real_from_noise_and_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_dataset("digits", 32, max_images=400)
    ev = Evaluator.build(data, steps=120)
    assert ev.accuracy > 0.5  # chance is 0.1
    real = ev.score(data.batch(torch.arange(200, 400)))
    noise = ev.score(torch.rand(200, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    only_zeros = ev.score(data.batch(torch.nonzero(data.labels == 0).squeeze(1)))
    assert float(real["eval/fd"]) * 5 < float(noise["eval/fd"])
    assert float(real["eval/class_coverage"]) >= 8 and float(only_zeros["eval/class_coverage"]) <= 2
    assert float(real["eval/class_kl"]) < float(only_zeros["eval/class_kl"])

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached classifier should have been loaded")

    monkeypatch.setattr(classifier, "_train", no_training)
    again = Evaluator.build(data, steps=120)
    assert again.accuracy == ev.accuracy
    for a, b in zip(again.classifier.state_dict().values(), ev.classifier.state_dict().values()):
        assert torch.equal(a, b)
