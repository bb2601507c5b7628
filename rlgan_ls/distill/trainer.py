"""BC and DAgger: ``distill(cfg, teacher)``, its two loops, and the final evaluation.

DAgger round i (Ross et al., 2011): with probability beta_i (schedule in the config) the teacher
acts at a step, otherwise the student does; the teacher labels every visited state; the labelled
states join the aggregated dataset; the student trains on minibatches of everything so far.
BC collects the same number of teacher-driven states first and trains afterwards.

Wall time is measured in-process from the first environment step (the training envs' reset) to
the end of the final evaluation (including labelling its states for the distill/* metrics).

Per round (DAgger) ``explore/entropy`` and ``distill/*`` are measured on the round's fresh rollout with
the student that acted in it, before it trains on those states. Their final values (metrics.json)
are measured on the states the final, greedy student visited in its evaluation episodes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from .. import tags
from ..envs import EnvProbe, make_vec, probe_env, resolve_env
from ..runs import RunLogger, new_run_dir, write_json
from .config import DistillConfig
from .dataset import LabelledStates
from .objective import DistillLoss, agreement_metrics
from .rollouts import Collector, eval_seed, evaluate
from .setup import ResolvedTeacher, make_student, resolve_teacher, seed_everything
from .students import StudentSpec, greedy_actions, sample_actions, save_student, student_actor
from .teacher_train import random_return
from .teachers import Labels, Teacher, executed_actions

__all__ = ["DistillResult", "FINAL_TAGS", "distill"]

FINAL_TAGS = (tags.ENTROPY, tags.LOSS_TOTAL, tags.LOSS_CE_TEACHER, tags.LOSS_KL_UNIFORM, tags.RETURN_MEAN,
              tags.RETURN_STD, tags.RETURN_VS_TEACHER, tags.AGREEMENT, tags.KL_TEACHER_STUDENT, tags.ECE, tags.SPS)


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
class _Learner:
    """The student, its optimizer and objective, and the aggregated labelled states it trains on."""

    student: nn.Module
    student_spec: StudentSpec
    opt: torch.optim.Optimizer
    loss_fn: DistillLoss
    data: LabelledStates
    gen: torch.Generator
    """Draws minibatches and the student's sampled actions."""

    def fit(self, updates: int, batch_size: int) -> dict[str, Tensor]:
        """``updates`` Adam steps on minibatches of everything aggregated; mean of the logged loss terms."""
        sums: dict[str, Tensor] = {}
        for _ in range(updates):
            obs, actions, probs = self.data.sample(batch_size, self.gen)
            loss, parts = self.loss_fn(self.student(obs), actions, probs)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            for k, v in parts.items():
                sums[k] = sums[k] + v if k in sums else v
        return {k: v / updates for k, v in sums.items()}


@dataclass
class _History:
    """What the rounds did, for the result and the final metrics."""

    betas: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    env_steps: int = 0
    last: dict[str, float] = field(default_factory=dict)
    """The scalars logged last (the final loss terms come from here)."""


def distill(cfg: DistillConfig, teacher: Any = None) -> DistillResult:
    """Run BC or DAgger as configured; writes one run directory and returns its final metrics.

    ``teacher`` (optional) is an SB3 model, a :class:`~rlgan_ls.distill.teachers.Teacher` or any
    callable ``obs -> actions or probabilities``; without it the env recipe's cached teacher is used
    (trained first if missing, unless ``cfg.train_teacher`` is false).
    """
    env = probe_env(resolve_env(cfg.env), cfg.bins, cfg.action_low, cfg.action_high)
    resolved = resolve_teacher(cfg, env, teacher)
    gen, rng = seed_everything(cfg.seed, cfg.threads)
    learner = _make_learner(cfg, env, resolved, gen)
    run_dir = new_run_dir(cfg.logdir, cfg.run_name or cfg.default_run_name)
    config = _resolved_config(cfg, env, resolved, learner.student_spec)
    write_json(run_dir / "config.json", config)
    logger = RunLogger(run_dir)
    logger.layout(tags.LAYOUT["distill"])
    envs = make_vec(env.recipe, cfg.n_envs, cfg.vectorization)
    eval_envs = make_vec(env.recipe, min(cfg.eval_envs, cfg.eval_episodes), cfg.vectorization)
    bar = tqdm(total=cfg.rounds * (2 if cfg.method == "bc" else 1), desc=f"{cfg.method} {cfg.env}",
               disable=not cfg.progress, leave=False)
    try:
        t0 = time.perf_counter()  # first env step: the reset below
        collector = Collector(envs, cfg.seed)
        loop = _dagger if cfg.method == "dagger" else _bc
        history = loop(cfg, env, resolved.teacher, collector, learner, rng, logger, bar, t0)
        metrics = _final_evaluation(cfg, env, resolved, learner, eval_envs, logger, history, t0)
        save_student(run_dir, learner.student, learner.student_spec, config)
        write_json(run_dir / "metrics.json", metrics)
        logger.hparams({"env": cfg.env, "method": cfg.method, "alpha": cfg.alpha, "prior": cfg.prior,
                        "seed": cfg.seed, "loss": cfg.loss, "target": cfg.target},
                       {k: metrics[k] for k in tags.HPARAM_METRICS["distill"]})
    finally:
        bar.close()
        logger.close()
        envs.close()
        eval_envs.close()
    return DistillResult(run_dir, learner.student, metrics, learner.data, history.betas, history.shares)


def _make_learner(cfg: DistillConfig, env: EnvProbe, resolved: ResolvedTeacher,
                  gen: torch.Generator) -> _Learner:
    student, spec = make_student(cfg, env)  # draws the initial weights from the seeded global RNG
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    loss_fn = DistillLoss(env.spec.nvec, cfg.alpha, cfg.prior, cfg.target, cfg.loss, cfg.entropy_beta, cfg.device,
                          cfg.prior_width)
    keeps_probs = resolved.teacher.soft or cfg.target == "soft"
    data = LabelledStates(cfg.rounds * cfg.steps_per_round * cfg.n_envs, env.obs_shape, env.obs_dtype,
                          len(env.spec.nvec), env.spec.total if keeps_probs else None, cfg.device)
    return _Learner(student, spec, opt, loss_fn, data, gen)


def _resolved_config(cfg: DistillConfig, env: EnvProbe, resolved: ResolvedTeacher,
                     spec: StudentSpec) -> dict[str, Any]:
    """config.json: the config with every "auto"/"default" replaced by what the run used, plus facts."""
    cfg = dataclasses.replace(cfg, arch=spec.arch, teacher_algo=resolved.algo or cfg.teacher_algo,  # type: ignore[arg-type]
                              teacher_steps=resolved.steps or cfg.teacher_steps)
    return {"kind": "distill", **dataclasses.asdict(cfg), "env_id": env.recipe.env_id,
            "teacher_source": resolved.source, "teacher_kind": resolved.teacher.kind, "nvec": list(env.spec.nvec),
            "student": dataclasses.asdict(spec)}


# ----------------------------------------------------------------------------------- the loops

def _dagger(cfg: DistillConfig, env: EnvProbe, teacher: Teacher, collector: Collector, learner: _Learner,
            rng: np.random.Generator, logger: RunLogger, bar: tqdm, t0: float) -> _History:
    """Each round: roll out the beta-mixed policy, label, aggregate, measure the acting student, fit."""
    h = _History()
    for r in range(cfg.rounds):
        obs, labels, ep_returns = _collect_round(cfg, env, teacher, collector, learner, rng, cfg.beta(r), h)
        learner.data.add(obs, labels, r)
        scalars = _round_scalars(h, learner.data, ep_returns, t0)
        # held-out: the student that acted, on the states it has not trained on yet
        scalars.update(_rollout_metrics(learner.student, obs, labels, env, cfg.device))
        scalars.update(learner.fit(cfg.updates_per_round, cfg.batch_size))
        scalars[tags.SPS] = h.env_steps / (time.perf_counter() - t0)
        h.last = logger.scalars(scalars, h.env_steps)
        bar.update(1)
        bar.set_postfix(beta=f"{h.betas[-1]:.2f}", loss=f"{h.last.get(tags.LOSS_TOTAL, math.nan):.3f}")
    return h


def _bc(cfg: DistillConfig, env: EnvProbe, teacher: Teacher, collector: Collector, learner: _Learner,
        rng: np.random.Generator, logger: RunLogger, bar: tqdm, t0: float) -> _History:
    """Collect every round with the teacher acting, then fit for as many rounds of updates."""
    h = _History()
    for r in range(cfg.rounds):
        obs, labels, ep_returns = _collect_round(cfg, env, teacher, collector, learner, rng, 1.0, h)
        learner.data.add(obs, labels, r)
        scalars = _round_scalars(h, learner.data, ep_returns, t0)
        scalars[tags.SPS] = h.env_steps / (time.perf_counter() - t0)
        h.last = logger.scalars(scalars, h.env_steps)
        bar.update(1)
    for _ in range(cfg.rounds):
        losses = learner.fit(cfg.updates_per_round, cfg.batch_size)
        bar.update(1)
    h.last = logger.scalars(losses, h.env_steps)
    return h


def _round_scalars(h: _History, data: LabelledStates, ep_returns: list[float], t0: float) -> dict[str, Any]:
    scalars: dict[str, Any] = {tags.DAGGER_BETA: h.betas[-1], tags.DAGGER_TEACHER_FRACTION: h.shares[-1],
                               tags.DAGGER_DATASET_SIZE: data.size}
    if ep_returns:
        scalars[tags.ROLLOUT_RETURN] = float(np.mean(ep_returns))
    return scalars


def _collect_round(cfg: DistillConfig, env: EnvProbe, teacher: Teacher, collector: Collector, learner: _Learner,
                   rng: np.random.Generator, beta: float, h: _History) -> tuple[np.ndarray, Labels, list[float]]:
    """One rollout where the teacher acts with probability ``beta`` per env and step, the student
    otherwise; the teacher labels every state. Records beta, the teacher's share and the env steps in ``h``."""
    spec, student = env.spec, learner.student
    step_labels: list[Labels] = []
    teacher_steps = 0

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        nonlocal teacher_steps
        n: int = obs.shape[0]
        use_teacher = rng.random(n) < beta  # (N,) which envs follow the teacher this step
        labels = teacher.label(obs, cfg.tau) if beta > 0 else None
        if labels is not None:
            step_labels.append(labels)
        teacher_steps += int(use_teacher.sum())
        if use_teacher.all():
            return executed_actions(labels, spec)  # type: ignore[arg-type]
        logits = student(torch.as_tensor(obs, device=cfg.device)).cpu()  # (N, sum K)
        idx = (sample_actions(logits, spec.nvec, learner.gen) if cfg.act == "sample"
               else greedy_actions(logits, spec.nvec))
        actions = spec.to_env(idx.numpy())
        if labels is not None and use_teacher.any():  # the teacher's own actions where it acts
            mask = use_teacher.reshape(n, *([1] * (actions.ndim - 1)))
            actions = np.where(mask, executed_actions(labels, spec), actions)
        return actions

    rollout = collector.collect(act, cfg.steps_per_round)
    if beta > 0:
        probs = [lb.probs for lb in step_labels]
        labels = Labels(torch.cat([lb.actions for lb in step_labels]),
                        torch.cat(probs) if probs[0] is not None else None)  # type: ignore[arg-type]
    else:  # the teacher never acts: label the whole rollout in one batch
        labels = teacher.label(rollout.obs, cfg.tau)
    h.betas.append(beta)
    h.shares.append(teacher_steps / rollout.env_steps)
    h.env_steps += rollout.env_steps
    return rollout.obs, labels, rollout.episode_returns


@torch.no_grad()
def _rollout_metrics(student: nn.Module, obs: np.ndarray, labels: Labels, env: EnvProbe,
                     device: str) -> dict[str, Tensor]:
    logits = student(torch.as_tensor(obs, device=device))  # (M, sum K)
    probs = labels.probs.to(device) if labels.probs is not None else None
    box, taught = env.spec.box, labels.env_actions
    centres = torch.as_tensor(box.centres(), dtype=torch.float32, device=device) if box is not None else None
    return agreement_metrics(logits, labels.actions.to(device), probs, env.spec.nvec, centres,
                             taught.to(device) if taught is not None else None)


# ---------------------------------------------------------------------------- final evaluation

def _final_evaluation(cfg: DistillConfig, env: EnvProbe, resolved: ResolvedTeacher, learner: _Learner,
                      eval_envs: Any, logger: RunLogger, h: _History, t0: float) -> dict[str, float]:
    """The greedy student's episodes, its distill/* metrics on the states it visited, the run's final
    metrics. The clock stops after labelling those states; the teacher's own return, when not cached,
    is measured after that."""
    student = learner.student
    student.eval()
    ev = evaluate(eval_envs, student_actor(student, env.spec.nvec, env.spec.to_env, cfg.device),
                  cfg.eval_episodes, eval_seed(cfg.seed))
    final_tensors = _rollout_metrics(student, ev.obs, resolved.teacher.label(ev.obs, cfg.tau), env, cfg.device)
    env_steps = h.env_steps + int(ev.lengths.sum())
    wall = time.perf_counter() - t0

    teacher_return = resolved.return_mean
    if teacher_return is None:
        teacher_return = float(np.mean(evaluate(eval_envs, resolved.teacher.act, cfg.eval_episodes,
                                                eval_seed(cfg.seed)).returns))
    ret_mean, ret_std = float(np.mean(ev.returns)), float(np.std(ev.returns))
    random = random_return(env.recipe, cfg.cache_dir)
    span = teacher_return - random
    final: dict[str, float | Tensor] = {
        tags.RETURN_MEAN: ret_mean, tags.RETURN_STD: ret_std,
        tags.RETURN_VS_TEACHER: ret_mean / teacher_return if teacher_return else math.nan,
        tags.NORMALIZED_RETURN: (ret_mean - random) / span if span else math.nan,
        tags.TEACHER_RETURN: teacher_return, tags.RANDOM_RETURN: random, tags.SPS: env_steps / wall, **final_tensors}
    metrics = {tag: h.last.get(tag, math.nan)
               for tag in (tags.LOSS_TOTAL, tags.LOSS_CE_TEACHER, tags.LOSS_KL_UNIFORM, tags.LOSS_KL_PRIOR)}
    metrics.update(logger.scalars(final, env_steps))
    metrics.update({tags.WALL_S: wall, tags.ENV_STEPS: env_steps, tags.DATASET_SIZE: learner.data.size})
    return metrics
