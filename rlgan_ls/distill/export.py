"""A distilled student as a Stable-Baselines3 PPO or A2C model, for reinforcement learning to take over.

The student's layers map one to one onto SB3's actor-critic policy, so the exported actor computes
exactly the student's logits:

- MLP student (``depth`` Tanh layers of ``width``): ``MlpPolicy`` with ``net_arch = {pi: [width] * depth}``
  and Tanh; its hidden layers are ``mlp_extractor.policy_net``, its last layer ``action_net``.
- CNN student (Nature-DQN convolutions, ReLU): ``CnnPolicy``, whose ``NatureCNN`` has the same
  convolutions when the student's ``channels`` is 32 (the default) and whose linear layer (``features_dim
  = width``) is the student's first dense layer; the other dense layers are ``policy_net``. Both
  divide uint8 frames by 255 and move channels first.

The critic (``value_net`` and its MLP) is SB3's fresh initialisation: untrained. A student of binned Box
actions has no SB3 equivalent (SB3's Box policies are Gaussians), so it is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .envs import make_env
from .students import CNNStudent, DistilledRun, MLPStudent, StudentSpec, load_run
from .teachers.sb3 import sb3_class

__all__ = ["EXPORT_ALGOS", "export_student", "exported_model"]

EXPORT_ALGOS = ("ppo", "a2c")


def _policy_kwargs(student: nn.Module, spec: StudentSpec, critic: list[int]) -> tuple[str, dict[str, Any]]:
    if isinstance(student, MLPStudent):
        return "MlpPolicy", {"net_arch": {"pi": [spec.width] * spec.depth, "vf": critic}, "activation_fn": nn.Tanh}
    if not isinstance(student, CNNStudent) or spec.arch != "cnn":
        what = "one head of a multi-task student" if not isinstance(student, CNNStudent) else "a small-cnn student"
        raise UsageError(f"export: {what} has no SB3 policy equivalent (export takes single-task MLP and Nature-CNN "
                         f"students)")
    if spec.channels != 32:
        raise UsageError(f"export: a CNN student with --channels {spec.channels} has no SB3 equivalent (SB3's "
                         f"NatureCNN has 32 channels); train the student with --channels 32 to export it")
    return "CnnPolicy", {"net_arch": {"pi": [spec.width] * (spec.depth - 1), "vf": critic},
                         "activation_fn": nn.ReLU, "features_extractor_kwargs": {"features_dim": spec.width}}


def _layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)]


@torch.no_grad()
def _copy_actor(student: nn.Module, policy: Any) -> None:
    """Copy the student's weights into the policy's actor (features extractor, policy_net, action_net)."""
    actor = [*_layers(policy.mlp_extractor.policy_net, nn.Linear), policy.action_net]
    if isinstance(student, CNNStudent):  # NatureCNN: the convolutions, then its linear layer is the first dense one
        pairs = list(zip(_layers(student.conv, nn.Conv2d), _layers(policy.features_extractor.cnn, nn.Conv2d),
                         strict=True))
        pairs += zip(_layers(student.head, nn.Linear), [policy.features_extractor.linear[0], *actor], strict=True)
    else:
        pairs = list(zip(_layers(student, nn.Linear), actor, strict=True))
    for src, dst in pairs:
        dst.load_state_dict(src.state_dict())  # weight and bias


def exported_model(run: str | os.PathLike | DistilledRun, algo: str = "ppo", seed: int = 0,
                   critic: list[int] | None = None, n_envs: int = 1, **kwargs: Any) -> Any:
    """An SB3 ``algo`` model on the run's env whose actor is the student of ``run`` (a run directory, or
    one loaded with :func:`~rlgan_ls.distill.students.load_run`).

    ``critic`` is the value network's hidden layers (default [64, 64]); ``kwargs`` go to the SB3 class.
    """
    if algo not in EXPORT_ALGOS:
        raise UsageError(f"--algo must be one of {', '.join(EXPORT_ALGOS)} (actor-critic), got {algo!r}")
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env

    run = run if isinstance(run, DistilledRun) else load_run(run)
    policy, policy_kwargs = _policy_kwargs(run.student, run.spec, critic or [64, 64])
    venv = make_vec_env(lambda: make_env(run.recipe), n_envs=n_envs, seed=seed)
    if isinstance(venv.action_space, gym.spaces.Box):
        raise UsageError(f"export: {run.run_dir} holds a student of binned Box actions; SB3's policies for Box "
                         f"actions are Gaussians, so it has no SB3 equivalent (use rlgan_ls.distill.load_student)")
    model = sb3_class(algo)(policy, venv, policy_kwargs=policy_kwargs, seed=seed, device="cpu", verbose=0, **kwargs)
    _copy_actor(run.student, model.policy)
    return model


def export_student(run_dir: str | os.PathLike | DistilledRun, out: str | os.PathLike, algo: str = "ppo") -> Path:
    """Write the student of ``run_dir`` (a run directory, or one loaded with
    :func:`~rlgan_ls.distill.students.load_run`) as an SB3 ``algo`` zip at ``out`` (loadable with
    ``PPO.load``/``A2C.load``)."""
    out = Path(out)
    model = exported_model(run_dir, algo)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out if out.suffix == ".zip" else out.with_suffix(out.suffix + ".zip")
