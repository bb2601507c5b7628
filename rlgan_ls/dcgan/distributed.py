"""Process-group setup for ``torchrun`` (DDP): one process per GPU, or gloo processes on CPU.

``torchrun --nproc-per-node N -m rlgan_ls.cli gan ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them the run is a single process.
Under torchrun the process group is joined and the models wrapped in DDP even for one process
(``--nproc-per-node 1``), so the nccl/gloo path is the one a single GPU exercises too.
Rank 0 alone writes logs, checkpoints and metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from ..errors import UsageError

T = TypeVar("T")

__all__ = ["DistInfo", "barrier", "broadcast_object", "cleanup", "resolve_device", "setup"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, on ``device``."""

    rank: int
    world_size: int
    device: torch.device
    launched: bool = False
    """Started by torchrun (its process group joined), whatever the world size."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Collectives and DDP are in use: several processes, or one launched by torchrun."""
        return self.world_size > 1 or self.launched


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    return torch.device("cpu")


def setup(device: str) -> DistInfo:
    """Join the process group when launched by torchrun (any world size); otherwise a world of one."""
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device, local_rank)
    if launched and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, device=dev, launched=launched)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(info: DistInfo, obj: T) -> T:
    """Rank 0's ``obj`` (any picklable value made by this program), on every rank."""
    if not info.enabled:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
