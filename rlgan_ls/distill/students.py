"""Student policies (an MLP for vector observations, a CNN for images) and their checkpoints.

A student maps observations to *concatenated per-dimension logits* ``(B, sum(nvec))``: one block of
``nvec[d]`` logits per action dimension, so Discrete (one block) and MultiDiscrete share every code
path. The policy is the product of independent per-dimension categoricals.

Checkpoints are safetensors (weights) with the student's spec and the run's config in its metadata,
plus a readable ``student.json``; loading one never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UsageError
from ..runs import Run
from ..storage import load_checkpoint
from .actions import DEFAULT_BINS, ActionSpec, action_spec
from .envs import EnvProbe, EnvRecipe, resolve_env

__all__ = [
    "CNNStudent",
    "DistilledRun",
    "MLPStudent",
    "StudentSpec",
    "build_student",
    "conv_trunk",
    "greedy_actions",
    "load_run",
    "load_student",
    "make_student",
    "sample_actions",
    "save_student",
    "split_logits",
    "student_actor",
]


@dataclass(frozen=True)
class StudentSpec:
    """Architecture of a student: enough to rebuild it from a checkpoint."""

    arch: Literal["mlp", "cnn", "small-cnn"]
    """Network kind."""
    obs_shape: tuple[int, ...]
    """Shape of one observation as the env returns it."""
    nvec: tuple[int, ...]
    """Choices per action dimension."""
    width: int = 64
    """Hidden units per dense layer."""
    depth: int = 2
    """Dense hidden layers."""
    channels: int = 32
    """CNN only: channels of the first convolution."""
    heads: tuple[tuple[int, ...], ...] = ()
    """Multi-task: the choices per action dimension of each task's head (``nvec`` is their concatenation)."""
    head_shapes: tuple[tuple[int, ...], ...] = ()
    """Multi-task: each task's own observation shape (zero-padded to ``obs_shape`` on the way in)."""


def _mlp(d_in: int, spec: StudentSpec, act: type[nn.Module]) -> nn.Sequential:
    """``spec.depth`` hidden layers of ``spec.width`` units, then one logit per action of every dimension."""
    layers: list[nn.Module] = []
    for _ in range(spec.depth):
        layers += [nn.Linear(d_in, spec.width), act()]
        d_in = spec.width
    layers.append(nn.Linear(d_in, sum(spec.nvec)))
    return nn.Sequential(*layers)


class MLPStudent(nn.Module):
    """``depth`` Tanh layers of ``width`` units on the flattened observation (uint8 frames scaled to [0, 1],
    as SB3's ``MlpPolicy`` scales image observations)."""

    def __init__(self, spec: StudentSpec) -> None:
        super().__init__()
        obs_dim = 1
        for s in spec.obs_shape:
            obs_dim *= s
        self.net = nn.Sequential(nn.Flatten(), *_mlp(obs_dim, spec, nn.Tanh))

    def forward(self, obs: Tensor) -> Tensor:  # (B, *obs_shape) -> (B, sum K)
        return self.net(self.inputs(obs))

    @staticmethod
    def inputs(obs: Tensor, batch_dims: int = 1) -> Tensor:
        """Observations as the network takes them: floats, uint8 frames (``batch_dims`` leading dimensions, then
        H, W, C) scaled to [0, 1]."""
        frames = obs.dtype == torch.uint8 and obs.dim() == batch_dims + 3
        return obs.float() / 255.0 if frames else obs.float()


SMALL_FRAMES = 36
"""Frames smaller than this (in height or width) do not fit the Nature-DQN convolutions: ``small-cnn``."""


def conv_trunk(arch: str, in_ch: int, ch: int) -> nn.Sequential:
    """The convolutions of a CNN, ``(B, in_ch, H, W)`` floats -> ``(B, features)``: Nature-DQN's (8x8 stride 4,
    4x4 stride 2, 3x3; ``ch``, 2 ch, 2 ch channels) for ``cnn``, or two 3x3 stride-1 convolutions (``ch``, 2 ch)
    for ``small-cnn``, which fit MinAtar's 10x10 planes (10 -> 8 -> 6), as in Young and Tian's (2019) networks."""
    if arch == "small-cnn":
        return nn.Sequential(nn.Conv2d(in_ch, ch, 3), nn.ReLU(), nn.Conv2d(ch, 2 * ch, 3), nn.ReLU(), nn.Flatten())
    return nn.Sequential(
        nn.Conv2d(in_ch, ch, 8, stride=4), nn.ReLU(),
        nn.Conv2d(ch, 2 * ch, 4, stride=2), nn.ReLU(),
        nn.Conv2d(2 * ch, 2 * ch, 3, stride=1), nn.ReLU(),
        nn.Flatten(),
    )


class CNNStudent(nn.Module):
    """Convolutions (:func:`conv_trunk`, ``channels`` wide) and a dense head, for uint8 images.

    Accepts (B, H, W, C) or (B, C, H, W) frames, whichever the env returns (decided from the spec:
    a last dimension of 1, 3 or 4 that is smaller than the first is taken as channels-last).
    """

    def __init__(self, spec: StudentSpec) -> None:
        super().__init__()
        h, w, c = spec.obs_shape
        self.channels_last = c in (1, 3, 4) and c < h
        in_ch, hh, ww = (c, h, w) if self.channels_last else spec.obs_shape
        self.conv = conv_trunk(spec.arch, in_ch, spec.channels)
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, in_ch, hh, ww)).shape[1]
        self.head = _mlp(n_flat, spec, nn.ReLU)

    def forward(self, obs: Tensor) -> Tensor:  # (B, H, W, C) or (B, C, H, W) uint8 -> (B, sum K)
        x = obs.float() / 255.0
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        return self.head(self.conv(x))


def make_student(arch: str, env: EnvProbe, width: int, depth: int,
                 channels: int | None) -> tuple[nn.Module, StudentSpec]:
    """The student network for ``env`` (``arch`` ``auto``: a CNN for uint8 frames, ``small-cnn`` for frames
    under 36 pixels, an MLP otherwise), its initial weights drawn from torch's global RNG."""
    arch = arch if arch != "auto" else auto_arch(env.obs_kind, env.obs_shape)
    spec = StudentSpec(arch, env.obs_shape, env.spec.nvec, width, depth, channels or 32)  # type: ignore[arg-type]
    return build_student(spec), spec


def auto_arch(obs_kind: str, obs_shape: tuple[int, ...]) -> str:
    """What ``--arch auto`` picks for observations of ``obs_kind`` and ``obs_shape``."""
    if obs_kind != "image":
        return "mlp"
    return "small-cnn" if sorted(obs_shape)[1] < SMALL_FRAMES else "cnn"  # the middle size: H or W, not channels


def build_student(spec: StudentSpec) -> nn.Module:
    if spec.arch == "mlp":
        return MLPStudent(spec)
    if len(spec.obs_shape) != 3:
        raise UsageError(f"--arch {spec.arch} needs image observations (H, W, C) or (C, H, W), got shape "
                         f"{spec.obs_shape}")
    try:
        return CNNStudent(spec)
    except RuntimeError:  # the convolutions do not fit in the frame
        smallest = SMALL_FRAMES if spec.arch == "cnn" else 5
        raise UsageError(f"--arch {spec.arch} needs frames of at least {smallest}x{smallest}, got {spec.obs_shape}; "
                         f"use --arch {'small-cnn' if spec.arch == 'cnn' else 'mlp'}") from None


# ----------------------------------------------------------------------- per-dimension helpers

def split_logits(logits: Tensor, nvec: tuple[int, ...]) -> tuple[Tensor, ...]:
    """(B, sum K) -> one (B, K_d) block per action dimension."""
    return torch.split(logits, list(nvec), dim=-1)


def greedy_actions(logits: Tensor, nvec: tuple[int, ...]) -> Tensor:
    """Per-dimension argmax, (..., sum K) -> (..., D) long."""
    return torch.stack([b.argmax(-1) for b in split_logits(logits, nvec)], dim=-1)


def sample_actions(logits: Tensor, nvec: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
    """Per-dimension samples, (B, sum K) -> (B, D) long."""
    cols = [torch.multinomial(torch.softmax(b.float(), -1), 1, generator=generator).squeeze(-1)
            for b in split_logits(logits, nvec)]
    return torch.stack(cols, dim=-1)


def student_actor(student: nn.Module, nvec: tuple[int, ...], spec_to_env: Callable[[np.ndarray], np.ndarray],
                  device: str | torch.device, sample: bool = False,
                  generator: torch.Generator | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A greedy (or sampling) ``obs -> env actions`` function for a student."""

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        logits = student(torch.as_tensor(obs, device=device))  # (N, sum K)
        idx = sample_actions(logits.cpu(), nvec, generator) if sample else greedy_actions(logits, nvec).cpu()
        return spec_to_env(idx.numpy())

    return act


# -------------------------------------------------------------------------------- checkpoints

def save_student(run: Run, student: nn.Module, spec: StudentSpec, config: dict[str, Any]) -> Path:
    """The run's student checkpoint (weights + spec + config) and its readable JSON summary."""
    spec_dict = dataclasses.asdict(spec)
    return run.save_student({"spec": spec_dict, "config": config, "state_dict": student.state_dict()},
                            {"spec": spec_dict, "config": config})


def load_student(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, StudentSpec,
                                                                                       dict[str, Any]]:
    """Rebuild a student from its checkpoint (a file, or a run dir holding one)."""
    path = Path(path)
    if path.is_dir():
        path = Run(path).student_file
    state = load_checkpoint(path, map_location=device)
    try:
        raw = state["spec"]
        spec = StudentSpec(arch=raw["arch"], obs_shape=tuple(raw["obs_shape"]), nvec=tuple(raw["nvec"]),
                           width=raw["width"], depth=raw["depth"], channels=raw["channels"],
                           heads=tuple(tuple(h) for h in raw.get("heads", ())),
                           head_shapes=tuple(tuple(h) for h in raw.get("head_shapes", ())))
        student = build_student(spec).to(device)
        student.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise UsageError(f"{path} is not a student checkpoint this version can load "
                         f"({type(e).__name__}: {e})") from None
    student.eval()
    return student, spec, dict(state.get("config", {}))


@dataclass(frozen=True)
class DistilledRun:
    """A run directory written by ``distill``: its student (on the CPU), the student's spec, the run's
    config and the env recipe it ran on."""

    run: Run
    student: nn.Module
    spec: StudentSpec
    config: dict[str, Any]
    recipe: EnvRecipe
    task: str | None = None
    """The env of a multi-task run this is the head of (None for a single-task run)."""

    @property
    def run_dir(self) -> Path:
        return self.run.path

    def action_spec(self, space: Any) -> ActionSpec:
        """How the student's choices map onto ``space`` (the env's action space), with the run's bins and bounds."""
        c = self.config
        return action_spec(space, self.recipe.name, int(c.get("bins") or DEFAULT_BINS), c.get("action_low"),
                           c.get("action_high"))


def load_run(run_dir: str | os.PathLike, task: str | None = None) -> DistilledRun:
    """The student of ``run_dir`` with its run config and env (for a multi-task run: the head of ``task``, one
    of its envs); :class:`UsageError` naming the folder when it is not a finished distillation run."""
    run = Run.open(run_dir, kind="distill")
    if not run.student_file.is_file():
        raise UsageError(f"RUN_DIR {run.path} has no student yet: the distill run did not finish (rerun it)")
    student, spec, config = load_student(run.student_file)
    if "env" not in config:
        raise UsageError(f"{run.student_file} holds no run config; it was not written by 'distill'")
    if spec.heads:
        from .tasks import task_head

        return task_head(run, student, spec, config, task)
    if task is not None and task != config["env"]:
        raise UsageError(f"--env {task}: {run.path} learned {config['env']} only")
    return DistilledRun(run, student, spec, config, resolve_env(config["env"]))
