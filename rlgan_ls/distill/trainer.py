"""BC and DAgger: ``distill(cfg, teacher)``, from a config to ``metrics.json``.

Set-up (probe the env; resolve the teacher; seed; build the student, its optimizer, objective and
dataset; resolve the config and create the run directory), then the loop. DAgger round i (Ross et
al., 2011): roll out the beta_i-mixed policy, have the teacher label every state, aggregate, measure
the student that acted on the states it has not trained on yet, fit on minibatches of everything so
far. BC collects the same number of teacher-driven states first and trains afterwards. The
:class:`~rlgan_ls.distill.recorder.DistillRecorder` owns the run's I/O and the final evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import tags
from ..errors import TrainingDiverged
from ..runs import Run
from ..seeding import Seeds
from .actions import DEFAULT_BINS
from .config import DistillConfig
from .dataset import LabelledStates
from .envs import EnvProbe, make_vec, probe_env, resolve_env
from .objective import DistillLoss
from .recorder import DistillRecorder, measure
from .rollouts import Collector
from .rounds import RoundCollector
from .students import StudentSpec, make_student
from .teachers import ResolvedTeacher, resolve_teacher

__all__ = ["DistillResult", "Learner", "distill"]


@dataclass
class DistillResult:
    """What :func:`distill` returns (the same run is on disk in ``run_dir``)."""

    run_dir: Path
    """The run directory (events, config.json, student checkpoint, metrics.json)."""
    student: nn.Module
    """The trained student."""
    metrics: dict[str, float]
    """The contents of metrics.json."""
    dataset: LabelledStates
    """The aggregated labelled states."""
    betas: list[float]
    """beta actually used in each round."""
    teacher_fraction: list[float]
    """Fraction of steps in each round where the teacher's action was executed."""


@dataclass
class Learner:
    """The student, its optimizer and objective, and the aggregated labelled states it trains on."""

    student: nn.Module
    spec: StudentSpec
    opt: torch.optim.Optimizer
    loss_fn: DistillLoss
    data: LabelledStates
    gen: torch.Generator
    """Draws minibatches and the student's sampled actions."""

    @classmethod
    def create(cls, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, seeds: Seeds) -> Learner:
        seeds.seed_global("weights")  # the student's initial weights
        student, spec = make_student(cfg.arch, env, cfg.width, cfg.depth, cfg.channels)
        student = student.to(cfg.device)
        keeps_probs = teacher.teacher.soft or cfg.target == "soft"
        data = LabelledStates(cfg.rounds * cfg.steps_per_round * cfg.n_envs, env.obs_shape, env.obs_dtype,
                              len(env.spec.nvec), env.spec.total if keeps_probs else None, cfg.device)
        return cls(student, spec, torch.optim.Adam(student.parameters(), lr=cfg.lr),
                   DistillLoss.from_config(cfg, env.spec.nvec), data, seeds.torch("minibatches"))

    def fit(self, updates: int, batch_size: int) -> dict[str, Tensor]:
        """``updates`` Adam steps on minibatches of everything aggregated; mean of the logged loss terms.
        :class:`TrainingDiverged` if the loss or the weights stopped being finite (one check per call)."""
        sums: dict[str, Tensor] = {}
        for _ in range(updates):
            obs, actions, probs = self.data.sample(batch_size, self.gen)
            loss, parts = self.loss_fn(self.student(obs), actions, probs)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            for k, v in parts.items():
                sums[k] = sums[k] + v if k in sums else v
        means = {k: v / updates for k, v in sums.items()}
        weights = [p.isfinite().all() for p in self.student.parameters()]
        checks = torch.stack([means[tags.LOSS_TOTAL].isfinite(), *weights])
        if not bool(checks.all()):
            raise TrainingDiverged("the student's loss or weights became NaN/inf; training stopped and nothing was "
                                   "saved (try a lower --lr)")
        return means


def distill(cfg: DistillConfig, teacher: Any = None) -> DistillResult:
    """Run BC or DAgger as configured; writes one run directory and returns its final metrics.

    ``teacher`` (optional) is an SB3 model, a :class:`~rlgan_ls.distill.teachers.Teacher` or any
    callable ``obs -> actions or probabilities``; without it the env recipe's cached teacher is used
    (trained first if missing, unless ``cfg.train_teacher`` is false).
    """
    Run.check_logdir(cfg.logdir)  # before the teacher, which may take minutes
    env = probe_env(resolve_env(cfg.env), cfg.bins or DEFAULT_BINS, cfg.action_low, cfg.action_high)
    resolved = resolve_teacher(cfg, env, teacher)
    torch.set_num_threads(cfg.threads)
    seeds = Seeds(cfg.seed)
    learner = Learner.create(cfg, env, resolved, seeds)
    cfg = cfg.resolved(env.spec.box is not None, learner.spec.arch, resolved.algo, resolved.steps)
    rec = DistillRecorder.create(cfg, env, resolved, learner.spec)
    envs = make_vec(env.recipe, cfg.n_envs, cfg.vectorization)
    eval_envs = make_vec(env.recipe, min(cfg.eval_envs, cfg.eval_episodes), cfg.vectorization)
    try:
        rec.start_clock()  # the first env step: the reset below
        rounds = RoundCollector(env, resolved.teacher, Collector(envs, seeds.of("envs")), learner.student,
                                learner.gen, seeds.numpy("dagger"), cfg.tau, cfg.act, cfg.device)
        (_dagger if cfg.method == "dagger" else _bc)(cfg, rounds, learner, rec)
        metrics = rec.finish(learner.student, learner.spec, eval_envs, learner.data.size)
    finally:
        rec.close()
        envs.close()
        eval_envs.close()
    return DistillResult(rec.run.path, learner.student, metrics, learner.data, rec.betas, rec.shares)


def _dagger(cfg: DistillConfig, rounds: RoundCollector, learner: Learner, rec: DistillRecorder) -> None:
    """Each round: roll out the beta-mixed policy, label, aggregate, measure the acting student, fit."""
    for r in range(cfg.rounds):
        batch = rounds.collect(cfg.beta(r), cfg.steps_per_round)
        learner.data.add(batch.obs, batch.labels, r)
        scalars = rec.collected(batch, learner.data.size)
        # held-out: the student that acted, on the states it has not trained on yet
        scalars.update(measure(learner.student, batch.obs, batch.labels, rounds.env, cfg.device))
        scalars.update(learner.fit(cfg.updates_per_round, cfg.batch_size))
        rec.log(scalars)
        rec.tick()


def _bc(cfg: DistillConfig, rounds: RoundCollector, learner: Learner, rec: DistillRecorder) -> None:
    """Collect every round with the teacher acting, then fit for as many rounds of updates."""
    for r in range(cfg.rounds):
        batch = rounds.collect(1.0, cfg.steps_per_round)
        learner.data.add(batch.obs, batch.labels, r)
        rec.log(rec.collected(batch, learner.data.size))
        rec.tick()
    for _ in range(cfg.rounds):
        losses = learner.fit(cfg.updates_per_round, cfg.batch_size)
        rec.tick()
    rec.log(losses, throughput=False)
