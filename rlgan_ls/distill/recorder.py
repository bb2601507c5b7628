"""What a distillation run records: the run directory, per-round scalars, progress, the final evaluation.

Per round (DAgger) ``explore/entropy`` and ``distill/*`` are measured on the round's fresh rollout with
the student that acted in it, before it trains on those states. Their final values (``metrics.json``)
are measured on the states the final, greedy student visited in its evaluation episodes.

Wall time is measured from the first environment step (the training envs' reset) to the end of the
final evaluation (including labelling its states for the ``distill/*`` metrics).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import tags
from ..runs import Run
from .config import DistillConfig
from .envs import EnvProbe
from .objective import agreement_metrics
from .rollouts import eval_seed, evaluate
from .rounds import Round
from .students import StudentSpec, save_student, student_actor
from .teachers import Labels, ResolvedTeacher, random_return

__all__ = ["DistillRecorder", "measure"]

LOSS_TAGS = (tags.LOSS_TOTAL, tags.LOSS_CE_TEACHER, tags.LOSS_KL_UNIFORM, tags.LOSS_KL_PRIOR)


@torch.no_grad()
def measure(student: nn.Module, obs: np.ndarray, labels: Labels, env: EnvProbe, device: str) -> dict[str, Tensor]:
    """The student against the teacher's ``labels`` on ``obs``: agreement, KL, ECE, entropy (device tensors)."""
    logits = student(torch.as_tensor(obs, device=device))  # (M, sum K)
    probs = labels.probs.to(device) if labels.probs is not None else None
    box, taught = env.spec.box, labels.env_actions
    centres = torch.as_tensor(box.centres(), dtype=torch.float32, device=device) if box is not None else None
    return agreement_metrics(logits, labels.actions.to(device), probs, env.spec.nvec, centres,
                             taught.to(device) if taught is not None else None)


class DistillRecorder:
    """The I/O of one distillation run. Make it with :meth:`create` (which writes ``config.json``).

    Args:
        cfg: the resolved run config.
        env: the environment the run learns in.
        teacher: the teacher and where it came from.
        run: the run directory, with ``config.json`` written.
    """

    def __init__(self, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, run: Run) -> None:
        self.cfg, self.env, self.teacher, self.run = cfg, env, teacher, run
        self.logger = run.open_logger(tags.LAYOUT["distill"])
        self.bar = run.progress(cfg.rounds * (2 if cfg.method == "bc" else 1), enabled=cfg.progress)
        self.betas: list[float] = []
        """beta of each round."""
        self.shares: list[float] = []
        """Fraction of steps where the teacher acted, per round."""
        self.env_steps = 0
        self.last: dict[str, float] = {}
        """The scalars logged last (the final loss terms come from here)."""

    @classmethod
    def create(cls, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, spec: StudentSpec) -> DistillRecorder:
        """A new run directory for ``cfg`` with its ``config.json``: the resolved config and what the run found."""
        run = Run.create(cfg.logdir, cfg.run_name or cfg.default_run_name)
        run.write_config("distill", {**cfg.record(), "env_id": env.recipe.env_id, "teacher_source": teacher.source,
                                     "teacher_kind": teacher.teacher.kind, "nvec": list(env.spec.nvec),
                                     "student": asdict(spec)})
        return cls(cfg, env, teacher, run)

    def start_clock(self) -> None:
        """The first environment step happens next."""
        self.run.start_clock()

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

    def tick(self) -> None:
        """One round (of collection or of fitting) done: the progress bar moves."""
        self.bar.update(1)
        if self.cfg.method == "dagger":
            self.bar.set_postfix(beta=f"{self.betas[-1]:.2f}", loss=f"{self.last.get(tags.LOSS_TOTAL, math.nan):.3f}")

    def finish(self, student: nn.Module, spec: StudentSpec, eval_envs: Any, dataset_size: int) -> dict[str, float]:
        """Evaluate the greedy student, save it, and write the final metrics (``metrics.json``, HParams)."""
        cfg, env, teacher = self.cfg, self.env, self.teacher
        student.eval()
        ev = evaluate(eval_envs, student_actor(student, env.spec.nvec, env.spec.to_env, cfg.device),
                      cfg.eval_episodes, eval_seed(cfg.seed))
        final_tensors = measure(student, ev.obs, teacher.teacher.label(ev.obs, cfg.tau), env, cfg.device)
        env_steps = self.env_steps + int(ev.lengths.sum())
        wall = self.run.seconds
        final: dict[str, float | Tensor] = {**self._returns(ev.returns, eval_envs), tags.SPS: env_steps / wall,
                                            **final_tensors}
        metrics = {tag: self.last.get(tag, math.nan) for tag in LOSS_TAGS}
        metrics.update(self.logger.scalars(final, env_steps))
        metrics.update({tags.WALL_S: wall, tags.ENV_STEPS: env_steps, tags.DATASET_SIZE: dataset_size})
        save_student(self.run, student, spec, self.run.config)
        self.run.finish(metrics, cfg.hparams(), tags.HPARAM_METRICS["distill"])
        return metrics

    def _returns(self, returns: np.ndarray, eval_envs: Any) -> dict[str, float]:
        """The student's returns beside the teacher's and a random policy's (measured after the clock stopped
        when not cached)."""
        cfg, resolved = self.cfg, self.teacher
        teacher_return = resolved.return_mean
        if teacher_return is None:
            teacher_return = float(np.mean(evaluate(eval_envs, resolved.teacher.act, cfg.eval_episodes,
                                                    eval_seed(cfg.seed)).returns))
        ret_mean, ret_std = float(np.mean(returns)), float(np.std(returns))
        random = random_return(self.env.recipe, cfg.cache_dir)
        span = teacher_return - random
        return {tags.RETURN_MEAN: ret_mean, tags.RETURN_STD: ret_std,
                tags.RETURN_VS_TEACHER: ret_mean / teacher_return if teacher_return else math.nan,
                tags.NORMALIZED_RETURN: (ret_mean - random) / span if span else math.nan,
                tags.TEACHER_RETURN: teacher_return, tags.RANDOM_RETURN: random}

    def close(self) -> None:
        self.bar.close()
        self.run.close()
