"""Offline MNIST and Stacked MNIST: the bundled images, channel stacking, and the mode counter."""

from __future__ import annotations

import math

import torch

from rlgan_ls.dcgan import load_dataset
from rlgan_ls.dcgan.evaluation import Evaluator, mode_stats
from rlgan_ls.dcgan.mnist import STACKED_IMAGES, mnist_5k, stack_digits


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


def test_mode_counter_on_known_sets():
    every = torch.stack(torch.meshgrid(torch.arange(10), torch.arange(10), torch.arange(10), indexing="ij"), -1)
    every = every.reshape(1000, 3)
    modes, kl = mode_stats(every.repeat(26, 1))  # 26,000 samples, 26 of each mode
    assert modes == 1000 and abs(float(kl)) < 1e-12
    modes, kl = mode_stats(torch.tensor([[3, 1, 4]]).repeat(26_000, 1))
    assert modes == 1 and float(kl) == math.log(1000)
    half = torch.cat([every[:500]] * 2)  # 500 modes, equally often: KL = log(1000 / 500)
    modes, kl = mode_stats(half)
    assert modes == 500 and float(kl) == math.log(2)


def test_stacked_evaluator_scores_real_images_as_the_data_and_a_single_digit_as_one_mode():
    data = load_dataset("stacked-mnist-5k", 32, max_images=2000)
    evaluator = Evaluator.build(data, steps=200, max_real=1000)
    assert evaluator.stacked and evaluator.accuracy > 0.9  # a digit classifier, held-out accuracy
    real = data.batch(torch.arange(1000, 2000))  # images it did not use for the real statistics
    scores = evaluator.score(real)
    assert scores["eval/modes"] > 550  # 1000 draws over 1000 modes hit about 632 when read right
    assert float(scores["eval/mode_kl"]) < 0.8
    one = real[:1].repeat(1000, 1, 1, 1)  # a collapsed generator
    collapsed = evaluator.score(one)
    assert collapsed["eval/modes"] == 1 and math.isclose(float(collapsed["eval/mode_kl"]), math.log(1000))
    assert collapsed["eval/fd"] > 10 * scores["eval/fd"]
