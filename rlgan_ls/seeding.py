"""One seed per run, and a random source per purpose derived from it: the same for both pipelines.

A run draws its randomness from several independent streams (the initial weights, minibatches,
DAgger's teacher/student coin, the environments, the GAN's noise, label flips and augmentation, the
fixed evaluation noise). Each stream's seed is derived here from the run's seed, and nowhere else,
so a run is reproducible from its ``seed`` alone and a test can rebuild any stream with
``Seeds(seed).torch("noise")`` instead of repeating an offset. Under DDP the GAN's per-step streams
add the rank, so each process draws its own noise.

The derivations are ``seed * multiplier + offset (+ rank)``; they are the ones every earlier run of
this suite used, kept so that the same seed still gives the same numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

__all__ = ["PURPOSES", "Purpose", "Seeds"]

Purpose = Literal["weights", "minibatches", "dagger", "envs", "evaluation", "noise", "flips", "augment",
                  "eval_noise", "label_noise", "host"]

PURPOSES: dict[str, tuple[int, int, bool]] = {
    # purpose: (multiplier, offset, adds the rank)
    "weights": (1, 0, False),  # torch's global RNG when the models are built
    "minibatches": (1, 0, False),  # distillation: minibatch indices and the student's sampled actions
    "dagger": (1, 0, False),  # distillation: who acts at each step (numpy)
    "envs": (1, 0, False),  # distillation: the training envs' first reset
    "evaluation": (1, 10_000, False),  # evaluation episodes, away from the training envs' seeds
    "label_noise": (1, 20_000, False),  # distillation: which teacher labels are corrupted, and how
    "noise": (1000, 17, True),  # GAN: z of every training step
    "flips": (1000, 29, True),  # GAN: the label flips of --smoothing flip
    "augment": (1000, 43, True),  # GAN: DiffAugment's shifts and cutouts
    "eval_noise": (1, 7919, False),  # GAN: the fixed noise behind every evaluation and sample grid
    "host": (1000, 53, True),  # numpy's and Python's global generators (nothing in training draws from them)
}


@dataclass(frozen=True)
class Seeds:
    """The random sources of a run with ``seed`` (on DDP rank ``rank``)."""

    seed: int
    rank: int = 0

    def of(self, purpose: Purpose) -> int:
        """The integer seed of ``purpose``'s stream."""
        mult, offset, per_rank = PURPOSES[purpose]
        return self.seed * mult + offset + (self.rank if per_rank else 0)

    def torch(self, purpose: Purpose, device: str | torch.device = "cpu") -> torch.Generator:
        """A fresh torch generator on ``device`` for ``purpose``."""
        return torch.Generator(device=device).manual_seed(self.of(purpose))

    def numpy(self, purpose: Purpose) -> np.random.Generator:
        """A fresh numpy generator for ``purpose``."""
        return np.random.default_rng(self.of(purpose))

    def seed_global(self, purpose: Purpose = "weights") -> None:
        """Seed torch's global RNG (what ``nn.Module`` initialisers draw from) for ``purpose``."""
        torch.manual_seed(self.of(purpose))

    def seed_host(self) -> None:
        """Seed numpy's and Python's global generators. Nothing in training draws from them, but a checkpoint
        stores their states: seeded, two processes running the same run store the same ones (unseeded, each
        process starts them from the operating system's entropy)."""
        random.seed(self.of("host"))
        np.random.seed(self.of("host") % 2**32)
