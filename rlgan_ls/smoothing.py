"""Label-smoothing target distributions.

A smoothed target moves a fraction ``alpha`` of the probability mass away from the base
distribution (a one-hot label, or a teacher's soft distribution) onto a *prior*:

    p = (1 - alpha) * base + alpha * prior_part

``prior_part`` is the uniform distribution 1/K (classic label smoothing, Szegedy et al., 2016),
one fixed ``(K,)`` distribution, or row ``y`` of a ``(K, K)`` row-stochastic matrix for class ``y``
(structured smoothing: ordinal neighbours, a class hierarchy). For a soft base the row mixture is
``base @ prior``.

Everything here takes and returns tensors; nothing knows about environments or datasets.
Class dimension is always the last one; any number of leading (batch) dimensions is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "check_alpha",
    "check_num_classes",
    "check_prior",
    "gaussian_prior",
    "hierarchical_prior",
    "ordinal_prior",
    "should_validate",
    "smooth_targets",
    "tree_distances",
    "uniform_prior",
]

# Tolerance for "sums to one": loose enough for float32 priors built by users.
_SUM_TOL = 1e-4


def should_validate(t: Tensor, validate: bool | None) -> bool:
    """Whether to run value checks (label ranges, distributions) on ``t``.

    Value checks read tensor contents back to the host. On an accelerator that is a device
    synchronisation every call, and under ``torch.compile`` it is a graph break, so the default
    (``validate=None``) checks only eager CPU tensors. Shape checks always run.
    """
    if validate is not None:
        return validate
    return t.device.type == "cpu" and not torch.compiler.is_compiling()


def check_alpha(alpha: float, name: str = "alpha", error: type[ValueError] = ValueError) -> float:
    """Validate a smoothing strength: a real number in [0, 1).

    ``name`` is what the message calls it (``--alpha`` at the command line) and ``error`` the
    exception raised (the CLI layers pass :class:`~rlgan_ls.errors.UsageError`).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise error(f"{name} must be a float in [0, 1), got {type(alpha).__name__} {alpha!r}")
    if not (0.0 <= alpha < 1.0) or math.isnan(alpha):
        raise error(f"{name} must be in [0, 1), got {alpha}; use e.g. {name}=0.1")
    return float(alpha)


def check_num_classes(num_classes: int, name: str = "num_classes", error: type[ValueError] = ValueError) -> int:
    """Validate a class count: an integer K >= 2 (``name``/``error`` as in :func:`check_alpha`)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise error(f"{name} must be an integer >= 2, got {num_classes!r}")
    return num_classes


def _check_distribution(p: Tensor, name: str) -> None:
    """Raise unless every row of ``p`` (last dim) is a probability distribution."""
    if not torch.is_floating_point(p):
        raise ValueError(f"{name} must be a floating-point tensor of probabilities, got {p.dtype}")
    if not bool(torch.isfinite(p).all()):
        raise ValueError(f"{name} contains NaN or inf")
    if bool((p < 0).any()):
        raise ValueError(f"{name} has negative entries; every row must be a probability distribution")
    sums = p.sum(-1)
    if not bool(torch.allclose(sums, torch.ones_like(sums), atol=_SUM_TOL, rtol=0.0)):
        worst = float((sums - 1).abs().max())
        raise ValueError(f"{name} rows must sum to 1 (worst row is off by {worst:.3g})")


def check_prior(prior: Tensor, num_classes: int, validate: bool | None = None) -> Tensor:
    """Validate a prior: a ``(K,)`` distribution or a ``(K, K)`` row-stochastic matrix."""
    if not isinstance(prior, Tensor):
        raise ValueError(f"prior must be a torch.Tensor of shape ({num_classes},) or "
                         f"({num_classes}, {num_classes}), got {type(prior).__name__}")
    if prior.shape not in ((num_classes,), (num_classes, num_classes)):
        raise ValueError(f"prior must have shape ({num_classes},) or ({num_classes}, {num_classes}) "
                         f"for num_classes={num_classes}, got {tuple(prior.shape)}")
    if should_validate(prior, validate):
        _check_distribution(prior, "prior")
    return prior


def check_target(target: Tensor, num_classes: int, validate: bool | None = None) -> bool:
    """Validate labels ``(*,)`` or a soft base ``(*, K)``; return True for integer labels."""
    if not isinstance(target, Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if torch.is_floating_point(target):
        if target.ndim == 0 or target.shape[-1] != num_classes:
            raise ValueError(f"soft target must have shape (*, {num_classes}), got {tuple(target.shape)}")
        if should_validate(target, validate):
            _check_distribution(target, "target")
        return False
    if target.dtype in (torch.bool, torch.complex64, torch.complex128):
        raise ValueError(f"target must hold integer labels or float probabilities, got {target.dtype}")
    if should_validate(target, validate) and target.numel() > 0:
        lo, hi = (int(v) for v in torch.aminmax(target))  # one pass, one read-back
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"target labels must be in [0, {num_classes - 1}], got values in [{lo}, {hi}]")
    return True


def uniform_prior(num_classes: int, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> Tensor:
    """The uniform distribution 1/K, shape ``(K,)``."""
    k = check_num_classes(num_classes)
    return torch.full((k,), 1.0 / k, dtype=dtype, device=device)


def ordinal_prior(num_classes: int, decay: float | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Row-stochastic ``(K, K)`` prior that sends the smoothing mass to neighbouring classes.

    For ordered classes (ratings, discretised actions) a mistake by one step is less wrong than a
    mistake by many. Row ``y`` holds no mass on ``y`` itself.

    Args:
        num_classes: K >= 2.
        decay: ``None`` sends all mass to the adjacent classes ``y-1`` and ``y+1`` (split evenly;
            an edge class gives all of it to its single neighbour). A value in (0, 1] spreads it
            over every other class with weight ``decay ** (|j - y| - 1)``, so 1.0 is uniform over
            the other classes and small values approach the adjacent-only prior.
    """
    k = check_num_classes(num_classes)
    idx = torch.arange(k, dtype=torch.float64)
    dist = (idx[:, None] - idx[None, :]).abs()  # (K, K) |j - y|
    if decay is None:
        weights = (dist == 1).to(torch.float64)
    else:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not (0.0 < decay <= 1.0):
            raise ValueError(f"decay must be in (0, 1] or None for adjacent-only, got {decay!r}")
        weights = torch.where(dist > 0, float(decay) ** (dist - 1), torch.zeros_like(dist))
    prior = weights / weights.sum(-1, keepdim=True)
    return prior.to(dtype or torch.get_default_dtype())


def gaussian_prior(num_classes: int, width: float = 1.0, dtype: torch.dtype | None = None) -> Tensor:
    """Row-stochastic ``(K, K)`` prior with mass ``∝ exp(-(j - y)^2 / (2 width^2))``: a Gaussian kernel
    over ordered classes, centred on the true class (which keeps the largest share).

    Unlike :func:`ordinal_prior` it spreads the mass over a neighbourhood whose size ``width`` (in
    classes, > 0) sets; for discretised actions, ``width`` bins of the action range.
    """
    k = check_num_classes(num_classes)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (0.0 < width < math.inf):
        raise ValueError(f"width must be a positive number of classes, got {width!r}")
    idx = torch.arange(k, dtype=torch.float64)
    return hierarchical_prior((idx[:, None] - idx[None, :]) ** 2, 1.0 / (2.0 * float(width) ** 2), dtype)


def tree_distances(paths: Sequence[Sequence[str]]) -> Tensor:
    """Tree distance (edges between leaves) for classes given as root-to-leaf paths.

    ``paths[k]`` names the ancestors of class ``k`` from the root down, e.g.
    ``[("animal", "dog"), ("animal", "cat"), ("vehicle", "car")]``. The distance between two
    classes is ``len(a) + len(b) - 2 * (length of their common prefix)``: dog-cat is 2, dog-car 4.
    """
    if len(paths) < 2:
        raise ValueError(f"paths must name at least 2 classes, got {len(paths)}")
    k = len(paths)
    d = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i + 1, k):
            a, b = tuple(paths[i]), tuple(paths[j])
            if a == b:
                raise ValueError(f"paths must be distinct, classes {i} and {j} share path {a}")
            common = 0
            for x, y in zip(a, b):
                if x != y:
                    break
                common += 1
            d[i, j] = d[j, i] = len(a) + len(b) - 2 * common
    return d


def hierarchical_prior(distances: Tensor, lam: float = 1.0, dtype: torch.dtype | None = None) -> Tensor:
    """Row-stochastic ``(K, K)`` prior with mass ``∝ exp(-lam * d(t, j))`` for a tree distance ``d``.

    Classes near the true class in the hierarchy (siblings) receive more of the smoothing mass than
    distant ones. ``lam = 0`` gives the uniform prior; large ``lam`` concentrates on the class itself.
    Build ``distances`` with :func:`tree_distances` or pass any symmetric, non-negative ``(K, K)``
    matrix with a zero diagonal.
    """
    if not isinstance(distances, Tensor) or distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        shape = tuple(distances.shape) if isinstance(distances, Tensor) else type(distances).__name__
        raise ValueError(f"distances must be a square (K, K) tensor, got {shape}")
    check_num_classes(distances.shape[0])
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0 or math.isnan(lam):
        raise ValueError(f"lam must be a non-negative float, got {lam!r}")
    d = distances.to(torch.float64)
    if bool((d < 0).any()) or not bool(torch.allclose(d, d.T)) or bool(d.diagonal().abs().max() > 0):
        raise ValueError("distances must be symmetric and non-negative with a zero diagonal")
    prior = torch.softmax(-float(lam) * d, dim=-1)
    return prior.to(dtype or torch.get_default_dtype())


def smooth_targets(target: Tensor, num_classes: int, alpha: float, prior: Tensor | None = None,
                   *, dtype: torch.dtype | None = None, validate: bool | None = None) -> Tensor:
    """Smoothed target distribution ``p = (1 - alpha) * base + alpha * prior_part``.

    Args:
        target: integer labels ``(*,)`` (base = one-hot) or a soft base ``(*, K)`` whose rows are
            distributions (teacher probabilities, a hybrid class split between two parents).
        num_classes: K >= 2.
        alpha: smoothing strength in [0, 1).
        prior: ``None`` for uniform 1/K; a ``(K,)`` distribution shared by every row; or a
            ``(K, K)`` row-stochastic matrix whose row ``y`` is the prior of class ``y``
            (for a soft base: ``base @ prior``).
        dtype: output dtype for integer labels (default: the prior's, else torch's default).
        validate: run value checks; default checks eager CPU tensors only (see :func:`should_validate`).

    Returns:
        ``(*, K)`` tensor; every row is a probability distribution.
    """
    k = check_num_classes(num_classes)
    a = check_alpha(alpha)
    hard = check_target(target, k, validate)
    if prior is not None:
        check_prior(prior, k, validate)
    if hard:
        out_dtype = dtype or (prior.dtype if prior is not None else torch.get_default_dtype())
        base = torch.nn.functional.one_hot(target.long(), k).to(out_dtype)  # (*, K)
    else:
        base = target if dtype is None else target.to(dtype)
    if prior is None:
        return base * (1.0 - a) + a / k
    prior = prior.to(device=base.device, dtype=base.dtype)
    if prior.ndim == 1:
        prior_part = prior  # (K,) broadcast over rows
    elif hard:
        prior_part = prior[target.long()]  # (*, K): row y of the matrix
    else:
        prior_part = base @ prior  # (*, K): mixture of rows weighted by the soft base
    return base * (1.0 - a) + prior_part * a
