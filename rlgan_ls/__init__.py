"""rlgan-ls: label smoothing for policy distillation and GANs, on one shared loss core.

The core (pure tensor functions, device-agnostic, autocast-safe, torch.compile-friendly):

>>> import torch, rlgan_ls as ls
>>> ls.smooth_targets(torch.tensor([2]), num_classes=5, alpha=0.1)
tensor([[0.0200, 0.0200, 0.9200, 0.0200, 0.0200]])
"""

from .losses import (
    SmoothedCEParts,
    discriminator_loss,
    entropy_bonus_cross_entropy,
    generator_loss,
    reduce_loss,
    smoothed_cross_entropy,
)
from .metrics import (
    entropy,
    expected_calibration_error,
    frechet_distance,
    grad_norm,
    kl_divergence,
    kl_uniform,
)
from .smoothing import (
    gaussian_prior,
    hierarchical_prior,
    ordinal_prior,
    smooth_targets,
    tree_distances,
    uniform_prior,
)

__version__ = "0.1.0"

__all__ = [
    "SmoothedCEParts",
    "discriminator_loss",
    "entropy",
    "entropy_bonus_cross_entropy",
    "expected_calibration_error",
    "frechet_distance",
    "gaussian_prior",
    "generator_loss",
    "grad_norm",
    "hierarchical_prior",
    "kl_divergence",
    "kl_uniform",
    "ordinal_prior",
    "reduce_loss",
    "smooth_targets",
    "smoothed_cross_entropy",
    "tree_distances",
    "uniform_prior",
]
