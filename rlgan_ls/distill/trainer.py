"""BC and DAgger: ``distill(cfg, teacher)``, from a config to ``metrics.json``.

Set-up (probe the env; resolve the teacher; seed; build the student, its optimizer, objective and
dataset; resolve the config and create the run directory), then the loop. DAgger round i (Ross et
al., 2011): roll out the beta_i-mixed policy, have the teacher label every state, aggregate, measure
the student that acted on the states it has not trained on yet, fit on minibatches of everything so
far. BC collects the same number of teacher-driven states first and trains afterwards. The
:class:`~rlgan_ls.distill.recorder.DistillRecorder` owns the run's I/O and the final evaluation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import tags
from ..errors import TrainingDiverged
from ..runs import Run
from ..seeding import Seeds
from .actions import DEFAULT_BINS
from .config import DistillConfig
from .dataset import LabelledStates, corrupt
from .envs import EnvProbe, make_vec, probe_env, resolve_env
from .objective import DistillLoss
from .recorder import DistillRecorder, measure
from .rollouts import Collector, eval_seed, evaluate
from .rounds import Round, RoundCollector, student_chooser
from .students import StudentSpec, make_student, student_actor
from .teachers import ResolvedTeacher, resolve_teacher

__all__ = ["DistillResult", "Learner", "Member", "distill", "note_student", "train_members"]


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
    task_datasets: list[LabelledStates] = field(default_factory=list)
    """A multi-task run: each env's labelled states (``dataset`` is the first env's)."""


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
    noise: tuple[float, torch.Generator]
    """The label-noise rate and the generator of its flips."""

    @classmethod
    def create(cls, cfg: DistillConfig, env: EnvProbe, teacher: ResolvedTeacher, seeds: Seeds) -> Learner:
        seeds.seed_global("weights")  # the student's initial weights
        student, spec = make_student(cfg.arch, env, cfg.width, cfg.depth, cfg.channels)
        student = student.to(cfg.device)
        keeps_probs = teacher.teacher.soft or cfg.target == "soft"
        data = LabelledStates(cfg.demos or cfg.rounds * cfg.steps_per_round * cfg.n_envs, env.obs_shape,
                              env.obs_dtype, len(env.spec.nvec), env.spec.total if keeps_probs else None, cfg.device)
        return cls(student, spec, torch.optim.Adam(student.parameters(), lr=cfg.lr),
                   DistillLoss.from_config(cfg, env.spec.nvec), data, seeds.torch("minibatches"),
                   (cfg.label_noise, seeds.torch("label_noise")))

    def add(self, batch: Round, round_idx: int) -> None:
        """A round's states and the teacher's labels, flipped at the label-noise rate, into the dataset."""
        eps, gen = self.noise
        labels = corrupt(batch.labels, eps, self.spec.nvec, gen) if eps > 0 else batch.labels
        self.data.add(batch.obs, labels, round_idx)

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
    (trained first if missing, unless ``cfg.train_teacher`` is false). Several envs (``cfg.tasks``) train
    one multi-task student (:mod:`rlgan_ls.distill.multitask`; ``teacher``: one per env, in order).
    """
    if len(cfg.tasks) > 1:
        from .multitask import distill_multitask

        return distill_multitask(cfg, teacher)
    Run.check_logdir(cfg.logdir)  # before the teacher, which may take minutes
    env = probe_env(resolve_env(cfg.env), cfg.bins or DEFAULT_BINS, cfg.action_low, cfg.action_high)
    resolved = resolve_teacher(cfg, env, teacher)
    torch.set_num_threads(cfg.threads)
    seeds = Seeds(cfg.seed)
    learner = Learner.create(cfg, env, resolved, seeds)
    note_student(learner.spec, env.obs_kind)
    cfg = cfg.resolved(env.spec.box is not None, learner.spec.arch, resolved.algo, resolved.steps)
    rec = DistillRecorder.create(cfg, env, resolved, learner.spec)
    envs = make_vec(env.recipe, cfg.n_envs, cfg.vectorization)
    eval_envs = make_vec(env.recipe, min(cfg.eval_envs, cfg.eval_episodes), cfg.vectorization)
    try:
        rec.start_clock()  # the first env step: the reset below
        choose = student_chooser(learner.student, env.spec.nvec, learner.gen, cfg.act, cfg.device)
        rounds = RoundCollector(env, resolved.teacher, Collector(envs, seeds.of("envs")), choose,
                                [seeds.numpy("dagger")], cfg.tau)
        train_members(cfg, rounds, [Member(learner, rec, learner.student)],
                      lambda: [learner.fit(cfg.updates_per_round, cfg.batch_size)])
        learner.student.eval()
        ev = evaluate(eval_envs, student_actor(learner.student, env.spec.nvec, env.spec.to_env, cfg.device),
                      cfg.eval_episodes, eval_seed(cfg.seed))

        def teacher_return() -> float:
            return float(np.mean(evaluate(eval_envs, resolved.teacher.act, cfg.eval_episodes, eval_seed(cfg.seed))
                                 .returns))

        metrics = rec.finish(learner.student, learner.spec, ev, learner.data.size, teacher_return)
    finally:
        rec.close()
        envs.close()
        eval_envs.close()
    return DistillResult(rec.run.path, learner.student, metrics, learner.data, rec.betas, rec.shares)


def note_student(spec: StudentSpec, obs_kind: str) -> None:
    """Say what an MLP student does with image observations (allowed: a baseline without convolutions)."""
    if spec.arch == "mlp" and obs_kind == "image":
        inputs = int(np.prod(spec.obs_shape))
        print(f"--arch mlp on image observations: the student flattens each {spec.obs_shape} frame into {inputs} "
              f"inputs scaled to [0, 1], without convolutions (--arch auto picks a CNN)", file=sys.stderr)


@dataclass
class Member:
    """One run being trained: its learner, its recorder, and its student as a function of states (an
    ensemble trains several members at once; a solo run is one)."""

    learner: Learner
    rec: DistillRecorder
    forward: Callable[[Tensor], Tensor]
    """The member's current student: states ``(N, *obs_shape)`` -> logits ``(N, sum K)``."""
    failed: TrainingDiverged | None = None
    """Why the member stopped early, if it did (its run stays unfinished)."""


Fit = Callable[[], list[dict[str, Tensor]]]
"""One round of updates for every member; each member's mean loss terms (empty for a failed member)."""


def train_members(cfg: DistillConfig, rounds: RoundCollector, members: list[Member], fit: Fit) -> None:
    """The rounds of BC or DAgger (``cfg.method``) for ``members``, collected together by ``rounds``."""
    (_dagger if cfg.method == "dagger" else _bc)(cfg, rounds, members, fit)


def _dagger(cfg: DistillConfig, rounds: RoundCollector, members: list[Member], fit: Fit) -> None:
    """Each round: roll out the beta-mixed policies, label, aggregate, measure the acting students, fit."""
    for r in range(cfg.rounds):
        scalars = []
        for m, batch in zip(members, rounds.collect(cfg.beta(r), cfg.steps_per_round)):
            m.learner.add(batch, r)
            s = m.rec.collected(batch, m.learner.data.size)
            if m.failed is None:  # held-out: the student that acted, on the states it has not trained on yet
                s.update(measure(m.forward, batch.obs, batch.labels, rounds.env, cfg.device))
            scalars.append(s)
        for m, s, losses in zip(members, scalars, fit()):
            if m.failed is None:
                m.rec.log(s | losses)
                m.rec.tick()


def _bc(cfg: DistillConfig, rounds: RoundCollector, members: list[Member], fit: Fit) -> None:
    """Collect every round with the teacher acting, then fit for as many rounds of updates."""
    for r in range(cfg.rounds):
        for m, batch in zip(members, rounds.collect(1.0, cfg.steps_per_round)):
            m.learner.add(batch, r)
            m.rec.log(m.rec.collected(batch, m.learner.data.size))
            m.rec.tick()
    for _ in range(cfg.rounds):
        losses = fit()
        for m in members:
            m.rec.tick()
    for m, loss in zip(members, losses):
        if m.failed is None:
            m.rec.log(loss, throughput=False)
