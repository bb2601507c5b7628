"""Everything a GAN run needs to continue exactly where it stopped.

A checkpoint holds the resolved config, the step, both models (with BatchNorm buffers), both
optimizers, every random state that training draws from (the per-rank noise and flip generators,
torch's global CPU and CUDA states, numpy's and Python's) and the host-side running totals. It is
written with :func:`rlgan_ls.runs.save_checkpoint`: safetensors + JSON, atomic, never pickle.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from ..runs import load_checkpoint

__all__ = ["CHECKPOINT", "checkpoint_path", "global_rng_state", "load_run_checkpoint", "set_global_rng_state"]

CHECKPOINT = "last.safetensors"


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints" / CHECKPOINT


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


def load_run_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """The checkpoint of ``run_dir`` for ``--resume``; :class:`UsageError` when missing or corrupt."""
    path = checkpoint_path(run_dir)
    if not Path(run_dir).is_dir():
        raise UsageError(f"--resume {run_dir}: no such run directory")
    if not path.is_file():
        raise UsageError(f"--resume {run_dir}: no checkpoint at {path}; the run stopped before its first one")
    state = load_checkpoint(path)
    missing = {"config", "step", "G", "D", "opt_g", "opt_d", "rng"} - set(state)
    if missing:
        raise UsageError(f"checkpoint {path} is not a GAN checkpoint (missing {', '.join(sorted(missing))})")
    return state
