"""Multi-task distillation (Rusu et al., 2016): one student for several envs, ``distill(cfg)`` with ``--env A B C``.

Set-up as for one task, once per env: probe it, resolve its teacher (``--teacher T1 T2 T3`` in the order of
``--env``, or each env's cached one), and give it its own training and evaluation envs, its own
aggregated dataset and its own objective (its action space). The student is one network
(:mod:`rlgan_ls.distill.tasks`: a shared trunk, a head per task) with one Adam optimizer. Each round, every
task rolls out its beta-mixed policy (its teacher, or the student through its head) and its teacher labels
its states; every update then draws ``batch_size / tasks`` states from each task's dataset (balanced
minibatches, whatever the datasets' sizes) and steps on the mean of the tasks' losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import tags
from ..errors import TrainingDiverged, UsageError
from ..runs import Run
from ..seeding import Seeds
from .actions import DEFAULT_BINS
from .config import DistillConfig
from .dataset import LabelledStates
from .envs import EnvProbe, make_vec, probe_env, resolve_env
from .objective import DistillLoss
from .recorder import measure
from .rollouts import Collector, eval_seed, evaluate
from .rounds import RoundCollector, student_chooser
from .students import StudentSpec, build_student, student_actor
from .task_recorder import TaskRecorder
from .tasks import TaskHead, head_spec, multitask_spec
from .teachers import ResolvedTeacher, resolve_teacher
from .trainer import DistillResult, Learner, note_student

__all__ = ["distill_multitask"]


def distill_multitask(cfg: DistillConfig, teachers: Sequence[Any] | None = None) -> DistillResult:
    """Train one student on every env of ``cfg.tasks``; ``teachers`` (optional) gives each env's teacher, in
    order (an SB3 model, a :class:`~rlgan_ls.distill.teachers.Teacher` or a callable each)."""
    Run.check_logdir(cfg.logdir)
    tasks = cfg.tasks
    if teachers is not None and len(teachers) != len(tasks):
        raise UsageError(f"teacher: {len(teachers)} teachers for {len(tasks)} envs; pass one per env, in order")
    envs = [probe_env(resolve_env(t), cfg.bins or DEFAULT_BINS, cfg.action_low, cfg.action_high) for t in tasks]
    spec = multitask_spec(envs, cfg.arch, cfg.width, cfg.depth, cfg.channels)  # before any teacher is trained
    resolved = [resolve_teacher(cfg.task_config(i), env, teachers[i] if teachers is not None else None)
                for i, env in enumerate(envs)]
    torch.set_num_threads(cfg.threads)
    seeds = Seeds(cfg.seed)
    seeds.seed_global("weights")
    student = build_student(spec).to(cfg.device)
    note_student(spec, envs[0].obs_kind)
    learners = _learners(cfg, student, spec, envs, resolved, seeds)
    box = any(e.spec.box is not None for e in envs)
    rec = TaskRecorder.create(cfg.resolved(box, spec.arch, None, None), envs, resolved, spec)
    vecs = [make_vec(e.recipe, cfg.n_envs, cfg.vectorization) for e in envs]
    eval_vecs = [make_vec(e.recipe, min(cfg.eval_envs, cfg.eval_episodes), cfg.vectorization) for e in envs]
    try:
        rec.start_clock()
        rounds = [RoundCollector(env, r.teacher, Collector(v, seeds.of("envs")),
                                 student_chooser(lr.student, env.spec.nvec, lr.gen, cfg.act, cfg.device),
                                 [np.random.default_rng((seeds.of("dagger"), i))], cfg.tau)
                  for i, (env, r, v, lr) in enumerate(zip(envs, resolved, vecs, learners))]
        _train(cfg, rounds, learners, rec)
        student.eval()
        evals = [evaluate(v, student_actor(lr.student, env.spec.nvec, env.spec.to_env, cfg.device), cfg.eval_episodes,
                          eval_seed(cfg.seed)) for v, lr, env in zip(eval_vecs, learners, envs)]
        metrics = rec.finish(student, [lr.student for lr in learners], evals, [lr.data.size for lr in learners],
                             eval_vecs)
    finally:
        rec.close()
        for v in [*vecs, *eval_vecs]:
            v.close()
    return DistillResult(rec.run.path, student, metrics, learners[0].data, rec.betas, rec.shares,
                         [lr.data for lr in learners])


def _learners(cfg: DistillConfig, student: nn.Module, spec: StudentSpec, envs: list[EnvProbe],
              resolved: list[ResolvedTeacher], seeds: Seeds) -> list[Learner]:
    """One learner per task: its head of the shared student, the shared optimizer and generators, its own
    objective and dataset."""
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    gen, noise = seeds.torch("minibatches"), seeds.torch("label_noise")
    learners = []
    for i, (env, r) in enumerate(zip(envs, resolved)):
        keeps_probs = r.teacher.soft or cfg.target == "soft"
        data = LabelledStates(cfg.demos or cfg.rounds * cfg.steps_per_round * cfg.n_envs, env.obs_shape,
                              env.obs_dtype, len(env.spec.nvec), env.spec.total if keeps_probs else None, cfg.device)
        learners.append(Learner(TaskHead(student, spec, i), head_spec(spec, i), opt,
                                DistillLoss.from_config(cfg, env.spec.nvec), data, gen, (cfg.label_noise, noise)))
    return learners


def _train(cfg: DistillConfig, rounds: list[RoundCollector], learners: list[Learner], rec: TaskRecorder) -> None:
    """DAgger (collect every task's round, measure, fit, each round) or BC (collect everything, then fit)."""
    dagger = cfg.method == "dagger"
    for r in range(cfg.rounds):
        scalars: dict[str, Any] = {}
        for t, (collector, lr) in enumerate(zip(rounds, learners)):
            (batch,) = collector.collect(cfg.beta(r), cfg.steps_per_round)
            lr.add(batch, r)
            s = rec.collected(t, batch, lr.data.size)
            if dagger:  # held-out: the head that acted, on the states it has not trained on yet
                s.update(measure(lr.student, batch.obs, batch.labels, collector.env, cfg.device))
            scalars.update(rec.of_task(t, s))
        rec.log(scalars | (_fit(learners, rec.labels, cfg) if dagger else {}))
        rec.tick()
    if not dagger:
        for _ in range(cfg.rounds):
            losses = _fit(learners, rec.labels, cfg)
            rec.tick()
        rec.log(losses, throughput=False)


def _fit(learners: list[Learner], labels: list[str], cfg: DistillConfig) -> dict[str, Tensor]:
    """``updates_per_round`` Adam steps, each on ``batch_size / tasks`` states of every task and the mean of
    the tasks' losses; each task's mean loss terms (``loss/<task>/...``) and the mean objective (``loss/total``).
    :class:`TrainingDiverged` if the loss or the weights stopped being finite."""
    per = max(1, cfg.batch_size // len(learners))
    opt, student = learners[0].opt, learners[0].student
    sums: list[dict[str, Tensor]] = [{} for _ in learners]
    total_sum = torch.zeros((), device=cfg.device)
    for _ in range(cfg.updates_per_round):
        total = torch.zeros((), device=cfg.device)
        for lr, s in zip(learners, sums):
            obs, actions, probs = lr.data.sample(per, lr.gen)
            loss, parts = lr.loss_fn(lr.student(obs), actions, probs)
            total = total + loss / len(learners)
            for k, v in parts.items():
                s[k] = s[k] + v if k in s else v
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        total_sum = total_sum + total.detach()
    out = {tags.LOSS_TOTAL: total_sum / cfg.updates_per_round}
    for label, s in zip(labels, sums):
        out.update({tags.per_task(k, label): v / cfg.updates_per_round for k, v in s.items()})
    checks = torch.stack([out[tags.LOSS_TOTAL].isfinite(), *(p.isfinite().all() for p in student.parameters())])
    if not bool(checks.all()):
        raise TrainingDiverged("the student's loss or weights became NaN/inf; training stopped and nothing was "
                               "saved (try a lower --lr)")
    return out
