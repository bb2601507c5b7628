"""What a distillation run records: the run directory, per-round scalars, progress, the final evaluation.

Per round (DAgger) ``explore/entropy`` and ``distill/*`` are measured on the round's fresh rollout with
the student that acted in it, before it trains on those states. Their final values (``metrics.json``)
are measured on the states the final, greedy student visited in its evaluation episodes.

Wall time is measured from the first environment step (the training envs' reset) to the end of the
final evaluation (including labelling its states for the ``distill/*`` metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import tags
from ..metrics import reliability
from ..runs import Run
from ..storage import write_json
from .config import DistillConfig
from .envs import EnvProbe
from .objective import agreement_metrics
from .rollouts import EvalResult
from .rounds import Round
from .students import StudentSpec, save_student
from .teachers import Labels, ResolvedTeacher, random_return

__all__ = ["LOSS_TAGS", "DistillRecorder", "RoundsLog", "measure", "return_metrics"]

LOSS_TAGS = (tags.LOSS_TOTAL, tags.LOSS_CE_TEACHER, tags.LOSS_KL_UNIFORM, tags.LOSS_KL_PRIOR)


@torch.no_grad()
def measure(student: Callable[[Tensor], Tensor], obs: np.ndarray, labels: Labels, env: EnvProbe,
            device: str) -> dict[str, Tensor]:
    """The student (states -> logits) against the teacher's ``labels`` on ``obs``: agreement, KL, ECE,
    entropy (device tensors)."""
    logits = student(torch.as_tensor(obs, device=device))  # (M, sum K)
    probs = labels.probs.to(device) if labels.probs is not None else None
    box, taught = env.spec.box, labels.env_actions
    centres = torch.as_tensor(box.centres(), dtype=torch.float32, device=device) if box is not None else None
    return agreement_metrics(logits, labels.actions.to(device), probs, env.spec.nvec, centres,
                             taught.to(device) if taught is not None else None)


@torch.no_grad()
def _calibration(student: Callable[[Tensor], Tensor], obs: np.ndarray, labels: Labels, env: EnvProbe,
                 device: str) -> dict[str, Any]:
    """The greedy student's reliability diagram on the states it visited, every action dimension pooled: its
    confidence against the teacher's probability of the same action (a soft teacher) or against agreeing
    with the teacher's action."""
    logits = student(torch.as_tensor(obs, device=device)).cpu()  # (M, sum K)
    blocks = torch.split(logits, list(env.spec.nvec), dim=-1)
    probs = torch.split(labels.probs, list(env.spec.nvec), dim=-1) if labels.probs is not None else None
    bins = torch.stack([reliability(b, probs[d] if probs is not None else labels.actions[:, d])
                        for d, b in enumerate(blocks)]).sum(0)  # (3, bins): count, confidence, target
    count = bins[0].clamp_min(1)
    return {"against": "teacher probability" if probs is not None else "teacher action",
            "count": bins[0].tolist(), "confidence": (bins[1] / count).tolist(), "target": (bins[2] / count).tolist()}


def return_metrics(returns: np.ndarray, teacher: ResolvedTeacher, measured: Callable[[], float],
                   random: float) -> dict[str, float]:
    """A student's evaluation ``returns`` beside its teacher's (cached, or ``measured``) and a random policy's
    mean return ``random``: the ``eval/`` return metrics."""
    teacher_return = teacher.return_mean
    if teacher_return is None:
        teacher_return = measured()
    ret_mean, ret_std = float(np.mean(returns)), float(np.std(returns))
    span = teacher_return - random
    return {tags.RETURN_MEAN: ret_mean, tags.RETURN_STD: ret_std,
            tags.RETURN_VS_TEACHER: ret_mean / teacher_return if teacher_return else math.nan,
            tags.NORMALIZED_RETURN: (ret_mean - random) / span if span else math.nan,
            tags.TEACHER_RETURN: teacher_return, tags.RANDOM_RETURN: random}


class RoundsLog:
    """What a distillation run keeps while it trains: its TensorBoard writer (charts ``layout``), its progress,
    the beta and teacher's share of each round, the env steps so far and the scalars logged last."""

    def __init__(self, cfg: DistillConfig, run: Run, layout: Sequence[str]) -> None:
        self.cfg, self.run = cfg, run
        self.logger = run.open_logger(layout)
        self.bar = run.progress(cfg.rounds * (2 if cfg.method == "bc" else 1), enabled=cfg.progress)
        self.betas: list[float] = []
        """beta of each round."""
        self.shares: list[float] = []
        """Fraction of steps where the teacher acted, per round."""
        self.env_steps = 0
        self.last: dict[str, float] = {}
        """The scalars logged last (the final loss terms come from here)."""

    def start_clock(self) -> None:
        """The first environment step happens next."""
        self.run.start_clock()

    def tick(self) -> None:
        """One round (of collection or of fitting) done: the progress bar moves."""
        self.bar.update(1)
        if self.cfg.method == "dagger":
            self.bar.set_postfix(beta=f"{self.betas[-1]:.2f}", loss=f"{self.last.get(tags.LOSS_TOTAL, math.nan):.3f}")

    def close(self) -> None:
        self.bar.close()
        self.run.close()


class DistillRecorder(RoundsLog):
    """The I/O of one distillation run. Make it with :meth:`create` (which writes ``config.json``).

    Args:
        cfg: the resolved run config.
        env: the environment the run learns in.
        teacher: the teacher and where it came from.
        run: the run directory, with ``config.json`` written.
    """

    def __init__(self, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, run: Run) -> None:
        super().__init__(cfg, run, tags.LAYOUT["distill"])
        self.env, self.teacher = env, teacher

    @classmethod
    def create(cls, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, spec: StudentSpec,
               ensemble: int = 1) -> DistillRecorder:
        """A new run directory for ``cfg`` with its ``config.json``: the resolved config and what the run found
        (and, for a member of an ensemble, how many runs were trained together)."""
        run = Run.create(cfg.logdir, cfg.run_name or cfg.default_run_name)
        facts = {"env_id": env.recipe.env_id, "teacher_source": teacher.source, "teacher_kind": teacher.teacher.kind,
                 "nvec": list(env.spec.nvec), "student": asdict(spec)}
        run.write_config("distill", {**cfg.record(), **facts, **({"ensemble": ensemble} if ensemble > 1 else {})})
        return cls(cfg, env, teacher, run)

    def collected(self, batch: Round, dataset_size: int) -> dict[str, Any]:
        """Note a collected round; its scalars (beta, the teacher's share, the dataset size, the rollout return)."""
        self.betas.append(batch.beta)
        self.shares.append(batch.teacher_share)
        self.env_steps += batch.env_steps
        scalars: dict[str, Any] = {tags.DAGGER_BETA: batch.beta, tags.DAGGER_TEACHER_FRACTION: batch.teacher_share,
                                   tags.DAGGER_DATASET_SIZE: dataset_size}
        if batch.episode_returns:
            scalars[tags.ROLLOUT_RETURN] = float(np.mean(batch.episode_returns))
        return scalars

    def log(self, scalars: dict[str, Any], throughput: bool = True) -> None:
        """Write ``scalars`` at the current env step, with ``charts/SPS`` when ``throughput``."""
        if throughput:
            scalars[tags.SPS] = self.env_steps / self.run.seconds
        self.last = self.logger.scalars(scalars, self.env_steps)

    def finish(self, student: nn.Module, spec: StudentSpec, ev: EvalResult, dataset_size: int,
               teacher_return: Callable[[], float]) -> dict[str, float]:
        """From the greedy student's evaluation ``ev``: its agreement with the teacher on the states it visited,
        its returns beside the teacher's (``teacher_return``, called after the clock stops when the return
        is not cached) and a random policy's; save the student; write ``metrics.json`` and the HParams row."""
        cfg, env, teacher = self.cfg, self.env, self.teacher
        labels = teacher.teacher.label(ev.obs, cfg.tau)
        final_tensors = measure(student, ev.obs, labels, env, cfg.device)
        env_steps = self.env_steps + int(ev.lengths.sum())
        wall = self.run.seconds
        returns = self._returns(ev.returns, teacher_return)
        final: dict[str, float | Tensor] = {**returns, tags.SPS: env_steps / wall, **final_tensors}
        metrics = {tag: self.last.get(tag, math.nan) for tag in LOSS_TAGS}
        metrics.update(self.logger.scalars(final, env_steps))
        metrics.update({tags.WALL_S: wall, tags.ENV_STEPS: env_steps, tags.DATASET_SIZE: dataset_size})
        save_student(self.run, student, spec, self.run.config)
        write_json(self.run.calibration_file, _calibration(student, ev.obs, labels, env, cfg.device))
        self.run.finish(metrics, cfg.hparams(), tags.HPARAM_METRICS["distill"])
        return metrics

    def _returns(self, returns: np.ndarray, measured: Callable[[], float]) -> dict[str, float]:
        """The student's returns beside the teacher's (cached, or ``measured``) and a random policy's."""
        return return_metrics(returns, self.teacher, measured, random_return(self.env.recipe, self.cfg.cache_dir))
