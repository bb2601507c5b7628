"""The aggregated dataset of labelled states (DAgger's D = D_0 ∪ D_1 ∪ ...), preallocated once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .teachers import Labels

__all__ = ["LabelledStates", "StackedStates", "corrupt"]


def corrupt(labels: Labels, eps: float, nvec: tuple[int, ...], generator: torch.Generator) -> Labels:
    """Teacher labels flipped at rate ``eps`` (the "label noise" of the theory): each (state, action dimension)
    is, with probability ``eps``, replaced by an action drawn uniformly from the *other* actions of that
    dimension; where the labels hold the teacher's distribution, that dimension's distribution becomes a
    one-hot on the new action. Draws come from ``generator`` (the run's own: reproducible)."""
    actions = labels.actions.clone()  # (N, D)
    n, dims = actions.shape
    flip = torch.rand(n, dims, generator=generator) < eps  # (N, D)
    k = torch.tensor(nvec)  # (D,)
    offset = (torch.rand(n, dims, generator=generator) * (k - 1)).long() + 1  # (N, D) uniform in 1 .. K_d - 1
    actions = torch.where(flip, (actions + offset) % k, actions)
    probs = labels.probs
    if probs is not None:
        probs = probs.clone()
        blocks = torch.split(probs, list(nvec), dim=-1)  # views into probs
        for d, block in enumerate(blocks):
            rows = flip[:, d]
            block[rows] = torch.nn.functional.one_hot(actions[rows, d], nvec[d]).to(block.dtype)
    return Labels(actions, probs, labels.env_actions)


class LabelledStates:
    """Fixed-capacity buffer of (state, teacher actions, teacher probs, round) rows.

    Rows are appended round by round and never dropped, so every minibatch draws uniformly from
    all rounds so far (aggregation, Ross et al., 2011).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype, action_dims: int,
                 prob_width: int | None, device: str | torch.device = "cpu") -> None:
        dtype = torch.uint8 if obs_dtype == np.uint8 else torch.float32
        self.obs = torch.empty((capacity, *obs_shape), dtype=dtype, device=device)  # (C, *obs_shape)
        self.actions = torch.empty((capacity, action_dims), dtype=torch.long, device=device)  # (C, D)
        self.probs = (torch.empty((capacity, prob_width), dtype=torch.float32, device=device)  # (C, sum K)
                      if prob_width else None)
        self.round = torch.empty(capacity, dtype=torch.long, device=device)  # (C,)
        self.size = 0

    @property
    def capacity(self) -> int:
        return self.obs.shape[0]

    def add(self, obs: np.ndarray, labels: Labels, round_idx: int) -> None:
        """Append labelled states, as many as fit: once the dataset is full (a ``--demos`` budget), later
        states are not kept (DAgger stops aggregating; BC keeps the teacher's first states)."""
        n = min(obs.shape[0], self.capacity - self.size)
        sl = slice(self.size, self.size + n)
        self.obs[sl] = torch.as_tensor(obs[:n]).to(self.obs.device, self.obs.dtype)
        self.actions[sl] = labels.actions[:n].to(self.actions.device)
        if self.probs is not None and labels.probs is not None:
            self.probs[sl] = labels.probs[:n].to(self.probs.device)
        self.round[sl] = round_idx
        self.size += n

    def sample_index(self, batch_size: int, generator: torch.Generator,
                     device: str | torch.device | None = None) -> Tensor:
        """Row indices of a uniform minibatch (with replacement) over every row added so far, (B,), on ``device``
        (default: the dataset's)."""
        idx = torch.randint(0, self.size, (batch_size,), generator=generator)
        return idx.to(self.obs.device if device is None else device)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor | None]:
        """A minibatch ``(obs, actions, probs)`` drawn by :meth:`sample_index`."""
        idx = self.sample_index(batch_size, generator)  # (B,)
        probs = self.probs[idx] if self.probs is not None else None
        return self.obs[idx], self.actions[idx], probs


class StackedStates:
    """The datasets of an ensemble's members in one buffer per field, ``(M, C, ...)``: each member's
    :class:`LabelledStates` keeps its own capacity and size but stores its rows in its slice of the buffer, so
    one gather draws every member's minibatch, the rows its own :meth:`LabelledStates.sample` would draw
    (the same generator call, the same indices)."""

    def __init__(self, datasets: Sequence[LabelledStates]) -> None:
        self.datasets = list(datasets)
        cap = max(d.capacity for d in self.datasets)
        self.obs = self._stack([d.obs for d in self.datasets], cap)
        self.actions = self._stack([d.actions for d in self.datasets], cap)
        probs = [d.probs for d in self.datasets]
        self.probs = self._stack(probs, cap) if all(p is not None for p in probs) else None  # type: ignore[arg-type]
        for m, d in enumerate(self.datasets):  # from now on each member writes into its slice
            d.obs, d.actions = self.obs[m, :d.capacity], self.actions[m, :d.capacity]
            if self.probs is not None:
                d.probs = self.probs[m, :d.capacity]

    @staticmethod
    def _stack(tensors: list[Tensor], cap: int) -> Tensor:
        big = tensors[0].new_zeros((len(tensors), cap, *tensors[0].shape[1:]))
        for m, t in enumerate(tensors):
            big[m, :len(t)] = t
        return big

    def sample(self, batch_size: int, generators: Sequence[torch.Generator]) -> tuple[Tensor, Tensor, Tensor | None]:
        """Every member's minibatch, ``(M, B, ...)`` each: member m's drawn with ``generators[m]`` as its
        :meth:`LabelledStates.sample` draws it."""
        idx = torch.stack([d.sample_index(batch_size, g, "cpu")  # drawn where the generators are, moved once
                           for d, g in zip(self.datasets, generators)]).to(self.obs.device)  # (M, B)
        rows = torch.arange(len(self.datasets), device=self.obs.device)[:, None]  # (M, 1)
        return self.obs[rows, idx], self.actions[rows, idx], self.probs[rows, idx] if self.probs is not None else None
