"""Offline MNIST and Stacked MNIST: the bundled images, channel stacking, and the mode counters.

The oracles of the mode counts are sets whose modes are known: real stacked images (1000 modes), stacks of
real digits 0-4 only (125), a few images repeated, and histograms built by hand."""

from __future__ import annotations

import math

import pytest
import torch

from rlgan_ls import tags
from rlgan_ls.dcgan import ImageData, load_dataset
from rlgan_ls.dcgan.classifier import split
from rlgan_ls.dcgan.evaluation import Evaluator, mode_stats, robust_threshold
from rlgan_ls.dcgan.mnist import STACKED_IMAGES, mnist_5k, mode_ids, stack_digits

STEPS = 200
"""The classifier of the tests below: the recipe's at 200 steps reads 98.8 % of the held-out digits (at the
recipes' 2000, 99.4 %); trained once per session, in about 7 s of CPU on one thread."""
N = 26_000  # PacGAN's samples per evaluation


def test_offline_mnist_is_5000_images_500_per_class():
    images, labels, k = mnist_5k()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.uint8 and k == 10
    assert torch.bincount(labels).tolist() == [500] * 10
    assert images.float().mean() > 20 and images.max() == 255  # real ink, not an empty array
    data = load_dataset("mnist-5k", 32)
    assert data.images.shape == (5000, 1, 32, 32) and data.num_classes == 10


def test_stacking_keeps_each_channels_digit():
    images, labels, _ = mnist_5k()
    stacked, modes, digits = stack_digits(images, labels, n=500)
    assert stacked.shape == (500, 3, 28, 28) and modes.shape == (500,) and digits.shape == (500, 3)
    # Oracle: find every channel's source image by exact pixel match and read its label.
    flat = images.reshape(len(images), -1)
    for i in range(0, 500, 50):
        for c in range(3):
            source = (flat == stacked[i, c].reshape(1, -1)).all(dim=1).nonzero()[0, 0]
            assert labels[source] == digits[i, c]
    assert torch.equal(modes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert torch.equal(stack_digits(images, labels, n=500)[0], stacked)  # the same set for every run
    data = load_dataset("stacked-mnist-5k", 32)
    assert data.images.shape == (STACKED_IMAGES, 3, 32, 32) and data.num_classes == 1000
    assert data.components is not None and data.components.images.shape == (5000, 1, 32, 32)
    assert len(torch.unique(data.labels)) > 990  # 25,600 draws over 1000 modes miss almost none


@pytest.fixture(scope="module")
def stacked() -> ImageData:
    return load_dataset("stacked-mnist-5k", 32)


@pytest.fixture(scope="module")
def evaluator(stacked: ImageData) -> Evaluator:
    return Evaluator.build(stacked, steps=STEPS, max_real=1000)


@pytest.fixture(scope="module")
def reads(evaluator: Evaluator, stacked: ImageData) -> torch.Tensor:
    """The digit the classifier reads in each of the 5000 digit images, ``(5000,)``: a stack of three of them
    is read as their three reads (each channel is classified on its own; checked below)."""
    assert stacked.components is not None
    return evaluator.digits(stacked.components.images)[:, 0]


def _counts(digits: torch.Tensor) -> tuple[int, int]:
    stats = mode_stats(digits)
    return int(stats[tags.MODES]), int(stats[tags.MODES_ROBUST])


def test_mode_counters_on_known_sets() -> None:
    every = torch.stack(torch.meshgrid(torch.arange(10), torch.arange(10), torch.arange(10), indexing="ij"), -1)
    every = every.reshape(1000, 3)
    stats = mode_stats(every.repeat(26, 1))  # 26,000 samples, 26 of each mode
    assert _counts(every.repeat(26, 1)) == (1000, 1000) and abs(float(stats[tags.MODE_KL])) < 1e-12
    stats = mode_stats(torch.tensor([[3, 1, 4]]).repeat(N, 1))
    assert _counts(torch.tensor([[3, 1, 4]]).repeat(N, 1)) == (1, 1) and float(stats[tags.MODE_KL]) == math.log(1000)
    half = torch.cat([every[:500]] * 2)  # 500 modes, equally often: KL = log(1000 / 500)
    assert _counts(half) == (500, 500) and float(mode_stats(half)[tags.MODE_KL]) == math.log(2)


def test_robust_count_and_kl_of_a_histogram_built_by_hand() -> None:
    k = robust_threshold(N)
    assert robust_threshold(1000) == 1 and robust_threshold(1) == 1 and robust_threshold(2 * N) >= k
    # 90 modes hold 250 samples each; 200 modes hold k - 1 each (misreads); 1 holds exactly k; the rest fill
    # one more mode. Hit at least once: 292 modes; holding at least k: 90 + 1 + 1.
    sizes = [250] * 90 + [k - 1] * 200 + [k]
    sizes.append(N - sum(sizes))
    assert sizes[-1] >= k
    ids = torch.cat([torch.full((n,), m) for m, n in enumerate(sizes)])
    digits = torch.stack([ids // 100, ids // 10 % 10, ids % 10], dim=1)  # mode m = 100 d0 + 10 d1 + d2
    assert _counts(digits) == (292, 92)
    expected = sum(n / N * math.log(n / N * 1000) for n in sizes)  # KL(p || uniform over 1000), by hand
    assert float(mode_stats(digits)[tags.MODE_KL]) == pytest.approx(expected, rel=1e-12)


def test_a_stack_is_read_as_its_three_digits(evaluator: Evaluator, stacked: ImageData, reads: torch.Tensor) -> None:
    assert evaluator.stacked
    _, _, pick = stack_digits(mnist_5k()[0], torch.arange(5000))  # the digit images of every stack, (25,600, 3)
    images = stacked.images[:2000]
    assert torch.equal(evaluator.digits(images), reads[pick[:2000]])
    scores = evaluator.score(images)
    for key, value in mode_stats(reads[pick[:2000]]).items():
        assert float(scores[key]) == float(value), key


def _stacks(pool: torch.Tensor, seed: int) -> torch.Tensor:
    """``(N, 3)`` digit images of N stacks, each channel drawn uniformly from ``pool``."""
    return pool[torch.randint(len(pool), (N, 3), generator=torch.Generator().manual_seed(seed))]


def test_robust_count_reads_the_modes_that_exist(evaluator: Evaluator, reads: torch.Tensor) -> None:
    _, labels, _ = mnist_5k()
    held_out = split(5000)[0]  # digits the classifier never trained on
    assert float((reads[held_out] == labels[held_out]).float().mean()) == pytest.approx(evaluator.accuracy)
    # Real stacked images hold every mode, 26 samples each on average: the robust count keeps them all.
    _, _, training_set = stack_digits(mnist_5k()[0], torch.arange(5000))  # the 25,600 a run trains on
    for stacks in (training_set, _stacks(held_out, seed=1)):
        modes, robust = _counts(reads[stacks])
        assert modes == 1000 and robust >= 990, (modes, robust)
    # Real, diverse digits 0-4 only: 125 modes exist. Misreads put stacks into modes that have none; the
    # hit-once count counts those, the robust one does not.
    for pool in (torch.nonzero(labels < 5).squeeze(1), held_out[labels[held_out] < 5]):
        stacks = _stacks(pool, seed=2)
        assert len(torch.unique(mode_ids(labels[stacks]))) == 125
        modes, robust = _counts(reads[stacks])
        assert 110 <= robust <= 140 and modes > 180, (len(pool), modes, robust)


def test_repeated_images_count_once(reads: torch.Tensor) -> None:
    """125 fixed stacks, one per mode of digits 0-4 and read right, repeated to N: 125 modes, robust or not
    (208 samples each; a misread would be the classifier's error, not the counter's); one stack: 1 mode."""
    _, labels, _ = mnist_5k()
    right = [torch.nonzero((labels == d) & (reads == d)).squeeze(1)[0] for d in range(5)]  # a digit image per digit
    first = torch.tensor([[right[m // 25], right[m // 5 % 5], right[m % 5]] for m in range(125)])  # (125, 3)
    assert len(torch.unique(mode_ids(labels[first]))) == 125
    assert _counts(reads[first.repeat(N // 125, 1)]) == (125, 125)
    assert _counts(reads[first[:1].repeat(N, 1)]) == (1, 1)


def test_stacked_evaluator_scores_real_images_as_the_data_and_a_single_digit_as_one_mode(
        evaluator: Evaluator, stacked: ImageData) -> None:
    assert evaluator.accuracy > 0.98  # a digit classifier, held-out accuracy
    real = stacked.batch(torch.arange(STACKED_IMAGES - 1000, STACKED_IMAGES))  # (1000, 3, 32, 32)
    scores = evaluator.score(real)
    assert scores["eval/modes"] > 580  # 1000 draws over 1000 modes hit about 632 when read right
    assert scores["eval/modes_robust"] == scores["eval/modes"]  # k = 1 at N = 1000
    assert float(scores["eval/mode_kl"]) < 0.8
    one = real[:1].repeat(1000, 1, 1, 1)  # a collapsed generator
    collapsed = evaluator.score(one)
    assert collapsed["eval/modes"] == 1 and collapsed["eval/modes_robust"] == 1
    assert math.isclose(float(collapsed["eval/mode_kl"]), math.log(1000))
    assert collapsed["eval/fd"] > 10 * scores["eval/fd"]
