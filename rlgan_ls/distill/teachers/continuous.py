"""Soft labels for Box actions: how much of a teacher's action distribution falls in each bin.

Pure tensor functions. With bin edges e_0 < ... < e_B per dimension (:meth:`BoxBins.edges`):

- a diagonal Gaussian policy N(mu, sigma^2) in the env's units (SB3's PPO and A2C on a Box): bin k holds
  Phi((e_{k+1} - mu) / sigma) - Phi((e_k - mu) / sigma). The outer edges count as -inf and +inf: SB3
  clips a sampled action into the bounds, so the mass beyond them belongs to the edge bins.
- a tanh-squashed Gaussian (SAC): the action is low + (tanh(u) + 1) / 2 * (high - low) with
  u ~ N(mu, sigma^2), so the same differences are taken at u = atanh of the edges rescaled to [-1, 1].

Both are computed in float64 (tail masses of nearly deterministic policies) and returned as float32
``(N, D, B)`` distributions.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian_bin_probs", "squashed_gaussian_bin_probs"]


def _masses(mean: Tensor, std: Tensor, inner: Tensor) -> Tensor:
    """``(N, D)`` Gaussians and ``(D, B - 1)`` inner edges -> ``(N, D, B)`` bin masses."""
    normal = torch.distributions.Normal(mean.double()[..., None], std.double()[..., None])
    cdf = normal.cdf(inner.double()[None].expand(mean.shape[0], -1, -1))  # (N, D, B - 1)
    zeros, ones = torch.zeros_like(cdf[..., :1]), torch.ones_like(cdf[..., :1])
    probs = torch.cat([zeros, cdf, ones], dim=-1).diff(dim=-1).clamp_min(0.0)  # (N, D, B)
    return (probs / probs.sum(-1, keepdim=True)).float()


def gaussian_bin_probs(mean: Tensor, std: Tensor, edges: Tensor) -> Tensor:
    """Bin masses ``(N, D, B)`` of N(mean, std^2) ``(N, D)`` for ``edges`` ``(D, B + 1)`` in the same units."""
    return _masses(mean, std, edges[:, 1:-1])


def squashed_gaussian_bin_probs(mean: Tensor, std: Tensor, edges: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Bin masses ``(N, D, B)`` of low + (tanh(u) + 1) / 2 * (high - low), u ~ N(mean, std^2).

    ``low`` and ``high`` ``(D,)`` are the bounds the policy squashes into (its own action space);
    ``edges`` ``(D, B + 1)`` are in the env's units.
    """
    inner = edges[:, 1:-1].double()  # (D, B - 1)
    scaled = 2.0 * (inner - low.double()[:, None]) / (high.double() - low.double())[:, None] - 1.0
    return _masses(mean, std, torch.atanh(scaled.clamp(-1.0, 1.0)))  # atanh(+-1) = +-inf
