"""The training state of a GAN run: everything needed to continue exactly where it stopped.

:class:`GANState` holds both models (with BatchNorm buffers), both optimizers, this rank's random
sources (noise, label flips, augmentation), the step and the host-side running totals. A checkpoint
is its ``state_dict()`` plus the resolved config and the process-wide random states (torch's CPU and
CUDA, numpy's, Python's); it is written with :func:`rlgan_ls.runs.save_checkpoint`: safetensors +
JSON, atomic, never pickle. Under DDP every rank's random sources are gathered into it, and each
rank loads its own back.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from ..errors import UsageError
from ..recipes import build_config
from ..runs import Run
from ..seeding import Seeds
from .config import GANConfig
from .distributed import DistInfo
from .models import Discriminator, Generator

__all__ = ["FORMAT", "GANState", "RandomSources", "RunningTotals", "build_models", "load_run_checkpoint",
           "load_run_config"]

FORMAT = 2
"""Checkpoint layout version; a checkpoint of another version is refused with a clear message."""


def build_models(cfg: GANConfig, channels: int, device: torch.device) -> tuple[Generator, Discriminator]:
    """G and D for ``cfg``, initialised from ``cfg.seed`` (identical on every rank), on ``device`` in
    the configured memory layout."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    Seeds(cfg.seed).seed_global("weights")
    # One conversion each; torch's stubs lack the (device, memory_format=...) overload of Module.to.
    g = Generator(cfg.z_dim, channels, cfg.image_size, cfg.g_width).to(device, memory_format=fmt)  # type: ignore[call-overload]
    d = Discriminator(channels, cfg.image_size, cfg.d_width).to(device, memory_format=fmt)  # type: ignore[call-overload]
    return g, d


@dataclass
class RunningTotals:
    """Host-side sums over the whole run, kept across resumes."""

    grad_g_sum: float = 0.0
    """Sum of ``grad_norm/generator`` over the steps read back so far."""
    grad_g_steps: int = 0
    """Number of those steps."""
    fd_start: float = math.nan
    """``eval/fd`` of the untrained generator (step 0)."""
    wall_s: float = 0.0
    """Training seconds up to the last checkpoint (what a resumed run continues from)."""

    @property
    def grad_g_mean(self) -> float:
        return self.grad_g_sum / max(self.grad_g_steps, 1)


@dataclass
class RandomSources:
    """This rank's random generators, separate from the global RNG so evaluation never shifts them."""

    noise: torch.Generator
    """Draws z."""
    flip: torch.Generator
    """Draws the label flips of ``--smoothing flip``."""
    augment: torch.Generator
    """Draws DiffAugment's shifts and cutouts."""

    @classmethod
    def seeded(cls, seed: int, rank: int, device: torch.device) -> RandomSources:
        seeds = Seeds(seed, rank)
        return cls(noise=seeds.torch("noise", device), flip=seeds.torch("flips", device),
                   augment=seeds.torch("augment", device))

    def get_state(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).get_state() for name in ("noise", "flip", "augment")}

    def set_state(self, state: dict[str, Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).set_state(value.cpu())


@dataclass
class GANState:
    """Models, optimizers, random sources, step and running totals of one rank. Build with :meth:`create`."""

    G: Generator
    D: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: RandomSources
    step: int = 0
    """Training steps done."""
    totals: RunningTotals = field(default_factory=RunningTotals)
    last: dict[str, float] = field(default_factory=dict)
    """The latest value read back of every logged metric (the final metrics start from these)."""

    @classmethod
    def create(cls, cfg: GANConfig, channels: int, info: DistInfo) -> GANState:
        g, d = build_models(cfg, channels, info.device)
        # The fused kernel: one pass over all parameters instead of ~10 foreach ops (5x faster on CPU).
        fused = info.device.type in ("cpu", "cuda")
        betas = (cfg.beta1, cfg.beta2)
        return cls(g, d, torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=betas, fused=fused),
                   torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=betas, fused=fused),
                   RandomSources.seeded(cfg.seed, info.rank, info.device))

    def state_dict(self, info: DistInfo) -> dict[str, Any]:
        """Everything but the config; under DDP every rank must call it (the random states are gathered)."""
        return {"format": FORMAT, "step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": {"ranks": _gather(self.rng.get_state(), info), "global": global_rng_state()},
                "totals": dataclasses.asdict(self.totals), "last": dict(self.last)}

    def load_state(self, state: dict[str, Any], info: DistInfo, source: str = "checkpoint") -> None:
        """Continue from a checkpoint written by a run with the same number of processes; :class:`UsageError`
        naming ``source`` when its contents do not fit these models and optimizers."""
        ranks = state["rng"]["ranks"]
        if len(ranks) != info.world_size:
            raise UsageError(f"--resume: the checkpoint was written by {len(ranks)} process(es); "
                             f"resume with the same number (got {info.world_size})")
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            for opt, key in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
                opt.load_state_dict(state[key])
                _match_param_layout(opt)
            self.rng.set_state(ranks[info.rank])
            set_global_rng_state(state["rng"]["global"])
            self.step = int(state["step"])
            self.totals = RunningTotals(**state["totals"])
            self.last = {k: float(v) for k, v in state["last"].items()}
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            what = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise UsageError(f"--resume {source}: its checkpoint does not fit this run's models ({what})") from None


def _gather(rng: dict[str, Tensor], info: DistInfo) -> list[dict[str, Tensor]]:
    """Every rank's generator states, in rank order (this rank's alone without DDP)."""
    if not info.enabled:
        return [rng]
    dev = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    flat = torch.cat(list(rng.values())).to(dev)  # (n_noise + n_flip + n_augment,) uint8
    parts = [torch.empty_like(flat) for _ in range(info.world_size)]
    dist.all_gather(parts, flat)
    sizes = [v.numel() for v in rng.values()]
    return [dict(zip(rng, (t.cpu() for t in p.split(sizes)))) for p in parts]


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give each loaded moment tensor its parameter's strides (checkpoints store them contiguous).

    The fused CPU Adam kernel walks params and moments as flat memory without checking strides, so a
    contiguous moment next to a channels_last weight silently pairs the wrong elements.
    """
    for p, st in opt.state.items():
        for k, v in st.items():
            if isinstance(v, Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def global_rng_state() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and Python random states as tensors and scalars."""
    np_state = np.random.get_state(legacy=True)  # the default, but numpy's stubs type it as False
    assert isinstance(np_state, tuple)  # the global RandomState is always MT19937, whose legacy state is a tuple
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def load_run_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint of ``run_dir`` for ``--resume``; :class:`UsageError` when missing, corrupt or foreign."""
    run = Run.open(run_dir, kind="gan", what="--resume")
    path = run.checkpoint_file
    if not path.is_file():
        raise UsageError(f"--resume {run_dir}: no checkpoint at {path}; the run stopped before its first one")
    state = run.load_checkpoint()
    missing = {"config", "step", "G", "D", "opt_g", "opt_d", "rng", "totals"} - set(state)
    if missing:
        raise UsageError(f"checkpoint {path} is not a GAN checkpoint (missing {', '.join(sorted(missing))})")
    if state.get("format") != FORMAT:
        raise UsageError(f"checkpoint {path} was written by another version of rlgan-ls (format "
                         f"{state.get('format', 1)}, this one reads {FORMAT}); resume it with that version")
    return state


def load_run_config(run_dir: str | os.PathLike) -> GANConfig:
    """The resolved config a run was trained with (from its checkpoint), e.g. to resume it for longer::

        train_gan(dataclasses.replace(load_run_config(d), steps=4000), resume=d)
    """
    return build_config(GANConfig, load_run_checkpoint(run_dir)["config"], source=f"{run_dir}/checkpoint")
