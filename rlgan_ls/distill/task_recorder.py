"""What a multi-task distillation run records: one run directory, every task's scalars, the final evaluation.

Each task's scalars carry its name after their namespace (``eval/<task>/normalized_return``,
``explore/<task>/entropy``, ``distill/<task>/agreement``, ``loss/<task>/ce_teacher`` ...; the task is the
env with ``/`` written ``-``). The run's own ``eval/normalized_return`` is the geometric mean of the
tasks' normalized returns (each floored at 0: a task at or below random makes it 0), the summary Rusu et
al. (2016) give as "geometric mean of % of teacher"; ``explore/entropy`` and the ``distill/`` agreement
metrics are the tasks' means. The run directory is a distill run like any other (``kind: distill``, its
task ``A+B+C``), so ``compare`` reads it; ``evaluate --env TASK`` and ``--video`` act with one task's head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import gymnasium as gym
import numpy as np
from torch import nn

from .. import tags
from ..runs import Run
from .config import DistillConfig
from .envs import EnvProbe
from .recorder import RoundsLog, measure, return_metrics
from .rollouts import EvalResult, eval_seed, evaluate
from .rounds import Round
from .students import StudentSpec, save_student
from .tasks import geometric_mean, task_label
from .teachers import ResolvedTeacher, random_return

__all__ = ["TaskRecorder"]

MEANS = (tags.ENTROPY, tags.AGREEMENT, tags.KL_TEACHER_STUDENT, tags.ECE)
"""Metrics whose run-level value is the mean over tasks."""


class TaskRecorder(RoundsLog):
    """The I/O of one multi-task run. Make it with :meth:`create` (which writes ``config.json``).

    Args:
        cfg: the resolved run config.
        envs: the tasks' environments, in order.
        teachers: each task's teacher.
        run: the run directory, with ``config.json`` written.
        spec: the multi-task student's spec.
    """

    def __init__(self, cfg: DistillConfig, envs: list[EnvProbe], teachers: list[ResolvedTeacher], run: Run,
                 spec: StudentSpec) -> None:
        labels = [task_label(e.recipe.name) for e in envs]
        per_task = [tags.per_task(t, lb) for t in (tags.NORMALIZED_RETURN, tags.ENTROPY) for lb in labels]
        super().__init__(cfg, run, [*tags.LAYOUT["distill"], *per_task])  # shares: the mean over tasks
        self.envs, self.teachers, self.spec, self.labels = envs, teachers, spec, labels

    @classmethod
    def create(cls, cfg: DistillConfig, envs: list[EnvProbe], teachers: list[ResolvedTeacher],
               spec: StudentSpec) -> TaskRecorder:
        """A new run directory for ``cfg`` with its ``config.json``: the resolved config and, per task, what the
        run found (env id, teacher, actions)."""
        run = Run.create(cfg.logdir, cfg.run_name or cfg.default_run_name)
        facts = {"tasks": list(cfg.tasks), "env_id": [e.recipe.env_id for e in envs],
                 "teacher_source": [t.source for t in teachers], "teacher_kind": [t.teacher.kind for t in teachers],
                 "teacher_algos": [t.algo for t in teachers], "teacher_budgets": [t.steps for t in teachers],
                 "nvec": [list(e.spec.nvec) for e in envs], "student": asdict(spec)}
        run.write_config("distill", {**cfg.record(), **facts})
        return cls(cfg, envs, teachers, run, spec)

    def of_task(self, t: int, scalars: dict[str, Any]) -> dict[str, Any]:
        """``scalars`` of task ``t`` under its own tags."""
        return {tags.per_task(k, self.labels[t]): v for k, v in scalars.items()}

    def collected(self, t: int, batch: Round, dataset_size: int) -> dict[str, Any]:
        """Note task ``t``'s collected round; its scalars (the teacher's share, the dataset size, the return)."""
        if t == 0:
            self.betas.append(batch.beta)
            self.shares.append(0.0)
        self.shares[-1] += batch.teacher_share / len(self.envs)
        self.env_steps += batch.env_steps
        scalars: dict[str, Any] = {tags.DAGGER_TEACHER_FRACTION: batch.teacher_share,
                                   tags.DAGGER_DATASET_SIZE: dataset_size}
        if batch.episode_returns:
            scalars[tags.ROLLOUT_RETURN] = float(np.mean(batch.episode_returns))
        return scalars

    def log(self, scalars: dict[str, Any], throughput: bool = True) -> None:
        """Write ``scalars`` (and beta; ``charts/SPS`` when ``throughput``) at the current env step."""
        scalars = {tags.DAGGER_BETA: self.betas[-1], **scalars}
        if throughput:
            scalars[tags.SPS] = self.env_steps / self.run.seconds
        self.last = self.logger.scalars(scalars, self.env_steps)

    def finish(self, student: nn.Module, heads: list[nn.Module], evals: list[EvalResult], sizes: list[int],
               eval_envs: list[gym.vector.VectorEnv]) -> dict[str, float]:
        """From each head's greedy evaluation: its agreement with its teacher on the states it visited, its
        returns beside its teacher's and a random policy's; the tasks' summaries; save the student; write
        ``metrics.json`` and the HParams row."""
        cfg = self.cfg
        measured = [measure(head, ev.obs, teacher.teacher.label(ev.obs, cfg.tau), env, cfg.device)
                    for head, ev, teacher, env in zip(heads, evals, self.teachers, self.envs)]
        env_steps = self.env_steps + sum(int(ev.lengths.sum()) for ev in evals)
        wall = self.run.seconds
        final: dict[str, Any] = {tags.SPS: env_steps / wall}
        for t, (ev, env, teacher) in enumerate(zip(evals, self.envs, self.teachers)):
            returns = return_metrics(ev.returns, teacher, self._teacher_return(t, eval_envs[t]),
                                     random_return(env.recipe, cfg.cache_dir))
            final.update(self.of_task(t, {**returns, **measured[t]}))
        values = self.logger.scalars(final, env_steps)
        summary = {tags.NORMALIZED_RETURN: geometric_mean([values[tags.per_task(tags.NORMALIZED_RETURN, lb)]
                                                           for lb in self.labels])}
        summary.update({m: float(np.mean([values[tags.per_task(m, lb)] for lb in self.labels])) for m in MEANS})
        metrics = {k: v for k, v in self.last.items() if k.startswith("loss/")}
        metrics.update(values)
        metrics.update(self.logger.scalars(summary, env_steps))
        metrics.update({tags.WALL_S: wall, tags.ENV_STEPS: env_steps, tags.DATASET_SIZE: sum(sizes),
                        tags.LOSS_TOTAL: self.last.get(tags.LOSS_TOTAL, math.nan)})
        save_student(self.run, student, self.spec, self.run.config)
        self.run.finish(metrics, cfg.hparams(), tags.HPARAM_METRICS["distill"])
        return metrics

    def _teacher_return(self, t: int, envs: gym.vector.VectorEnv) -> Callable[[], float]:
        """Task ``t``'s teacher's mean return on its evaluation episodes (measured when not cached)."""
        cfg, teacher = self.cfg, self.teachers[t].teacher

        def measured() -> float:
            return float(np.mean(evaluate(envs, teacher.act, cfg.eval_episodes, eval_seed(cfg.seed)).returns))

        return measured
