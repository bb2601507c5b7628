"""BC and DAgger: the training loops, their logging, and the final evaluation.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..envs import make_vec
from ..runs import RunLogger, new_run_dir, write_json
from .config import DistillConfig
from .dataset import LabelledStates
from .objective import DistillLoss, agreement_metrics
from .rollouts import Collector, evaluate
from .setup import Resolved, make_student, resolve, seed_everything
from .students import greedy_actions, sample_actions, save_student
from .teachers import Labels

__all__ = ["DistillResult", "FINAL_TAGS", "distill", "student_actor"]

FINAL_TAGS = ("explore/entropy", "loss/total", "loss/ce_teacher", "loss/kl_uniform", "eval/return_mean",
              "eval/return_std", "eval/return_vs_teacher", "distill/agreement", "distill/kl_teacher_student",
              "distill/ece", "charts/SPS")


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


def student_actor(student: nn.Module, nvec: tuple[int, ...], spec_to_env: Any, device: str | torch.device,
                  sample: bool = False, generator: torch.Generator | None = None):
    """A greedy (or sampling) ``obs -> env actions`` function for a student."""

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        logits = student(torch.as_tensor(obs, device=device))  # (N, sum K)
        idx = sample_actions(logits.cpu(), nvec, generator) if sample else greedy_actions(logits, nvec).cpu()
        return spec_to_env(idx.numpy())

    return act


def _collect_round(collector: Collector, res: Resolved, student: nn.Module, cfg: DistillConfig, beta: float,
                   gen: torch.Generator, rng: np.random.Generator) -> tuple[np.ndarray, Labels, float, list[float]]:
    """One rollout of the beta-mixed policy; returns states, teacher labels, teacher share, episode returns."""
    spec, teacher = res.spec, res.teacher
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
        if use_teacher.all():
            idx = labels.actions  # type: ignore[union-attr]
        else:
            logits = student(torch.as_tensor(obs, device=cfg.device)).cpu()  # (N, sum K)
            idx = sample_actions(logits, spec.nvec, gen) if cfg.act == "sample" else greedy_actions(logits, spec.nvec)
            if labels is not None and use_teacher.any():
                idx = torch.where(torch.from_numpy(use_teacher)[:, None], labels.actions, idx)  # (N, D)
        teacher_steps += int(use_teacher.sum())
        return spec.to_env(idx.numpy())

    rollout = collector.collect(act, cfg.steps_per_round)
    if beta > 0:
        probs = [lb.probs for lb in step_labels]
        labels = Labels(torch.cat([lb.actions for lb in step_labels]),
                        torch.cat(probs) if probs[0] is not None else None)  # type: ignore[arg-type]
    else:  # the teacher never acts: label the whole rollout in one batch
        labels = res.teacher.label(rollout.obs, cfg.tau)
    return rollout.obs, labels, teacher_steps / rollout.env_steps, rollout.episode_returns


def _train(student: nn.Module, opt: torch.optim.Optimizer, loss_fn: DistillLoss, data: LabelledStates,
           updates: int, batch_size: int, gen: torch.Generator) -> dict[str, Tensor]:
    """``updates`` Adam steps on minibatches of the aggregated data; mean of the logged loss terms."""
    sums: dict[str, Tensor] = {}
    for _ in range(updates):
        obs, actions, probs = data.sample(batch_size, gen)
        loss, parts = loss_fn(student(obs), actions, probs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, v in parts.items():
            sums[k] = sums[k] + v if k in sums else v
    return {k: v / updates for k, v in sums.items()}


@torch.no_grad()
def _rollout_metrics(student: nn.Module, obs: np.ndarray, labels: Labels, res: Resolved,
                     device: str) -> dict[str, Tensor]:
    logits = student(torch.as_tensor(obs, device=device))  # (M, sum K)
    probs = labels.probs.to(device) if labels.probs is not None else None
    return agreement_metrics(logits, labels.actions.to(device), probs, res.spec.nvec)


def _finish(cfg: DistillConfig, res: Resolved, student: nn.Module, eval_envs: Any, logger: RunLogger,
            last: dict[str, float], env_steps: int, t0: float, bar: tqdm) -> dict[str, float]:
    """Final evaluation (greedy student), its distill/* metrics on the states it visited, and the
    run's final metrics. The clock stops after labelling those states; the teacher's own return, when
    not cached, is measured after that."""
    student.eval()
    ev = evaluate(eval_envs, student_actor(student, res.spec.nvec, res.spec.to_env, cfg.device),
                  cfg.eval_episodes, cfg.seed + 10_000)
    final_tensors = _rollout_metrics(student, ev.obs, res.teacher.label(ev.obs, cfg.tau), res, cfg.device)
    env_steps += int(ev.lengths.sum())
    wall = time.perf_counter() - t0
    bar.close()

    teacher_return = res.teacher_return
    if teacher_return is None:
        teacher_return = float(np.mean(evaluate(eval_envs, res.teacher.act, cfg.eval_episodes,
                                                cfg.seed + 10_000).returns))
    ret_mean, ret_std = float(np.mean(ev.returns)), float(np.std(ev.returns))
    final: dict[str, float | Tensor] = {
        "eval/return_mean": ret_mean, "eval/return_std": ret_std,
        "eval/return_vs_teacher": ret_mean / teacher_return if teacher_return else math.nan,
        "teacher/return_mean": teacher_return, "charts/SPS": env_steps / wall, **final_tensors}
    metrics = {tag: last.get(tag, math.nan) for tag in ("loss/total", "loss/ce_teacher", "loss/kl_uniform",
                                                          "loss/kl_prior")}
    metrics.update(logger.scalars(final, env_steps))
    metrics.update({"time/wall_s": wall, "train/env_steps": env_steps})
    return metrics


def distill(cfg: DistillConfig, teacher: Any = None) -> DistillResult:
    """Run BC or DAgger as configured; writes one run directory and returns its final metrics.

    ``teacher`` (optional) is an SB3 model, a :class:`~rlgan_ls.distill.teachers.Teacher` or any
    callable ``obs -> probabilities or actions``; without it the config's teacher is used.
    """
    res = resolve(cfg, teacher)
    gen = seed_everything(cfg.seed, cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    student, student_spec = make_student(cfg, res)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    loss_fn = DistillLoss(res.spec.nvec, cfg.alpha, cfg.prior, cfg.target, cfg.loss, cfg.entropy_beta, cfg.device)
    data = LabelledStates(cfg.rounds * cfg.steps_per_round * cfg.n_envs, res.obs_shape, res.obs_dtype,
                          len(res.spec.nvec), res.spec.total if res.teacher.soft or cfg.target == "soft" else None,
                          cfg.device)

    run_dir = new_run_dir(cfg.logdir, cfg.run_name or cfg.default_run_name)
    resolved_cfg = {**dataclasses.asdict(cfg), "env_id": res.recipe.env_id, "teacher_source": res.teacher_source,
                    "teacher_kind": res.teacher.kind, "nvec": list(res.spec.nvec),
                    "student": dataclasses.asdict(student_spec)}
    write_json(run_dir / "config.json", resolved_cfg)
    logger = RunLogger(run_dir)
    envs = make_vec(res.recipe, cfg.n_envs, cfg.vectorization)
    eval_envs = make_vec(res.recipe, min(cfg.eval_envs, cfg.eval_episodes), cfg.vectorization)
    bar = tqdm(total=cfg.rounds * (2 if cfg.method == "bc" else 1), desc=f"{cfg.method} {cfg.env}",
               disable=not cfg.progress, leave=False)
    betas: list[float] = []
    shares: list[float] = []
    env_steps = 0
    try:
        t0 = time.perf_counter()  # first env step: the reset below
        collector = Collector(envs, cfg.seed)
        last: dict[str, float] = {}
        for r in range(cfg.rounds):
            beta = cfg.beta(r)
            obs, labels, share, ep_returns = _collect_round(collector, res, student, cfg, beta, gen, rng)
            betas.append(beta)
            shares.append(share)
            env_steps += obs.shape[0]
            data.add(obs, labels, r)
            scalars: dict[str, float | Tensor] = {"dagger/beta": beta, "dagger/teacher_fraction": share,
                                                  "dagger/dataset_size": data.size}
            if cfg.method == "dagger":
                # held-out: the student that acted, on the states it has not trained on yet
                scalars.update(_rollout_metrics(student, obs, labels, res, cfg.device))
                scalars.update(_train(student, opt, loss_fn, data, cfg.updates_per_round, cfg.batch_size, gen))
            if ep_returns:
                scalars["rollout/episode_return_mean"] = float(np.mean(ep_returns))
            scalars["charts/SPS"] = env_steps / (time.perf_counter() - t0)
            last = logger.scalars(scalars, env_steps)
            bar.update(1)
            bar.set_postfix(beta=f"{beta:.2f}", loss=f"{last.get('loss/total', math.nan):.3f}")
        if cfg.method == "bc":
            for _ in range(cfg.rounds):
                losses = _train(student, opt, loss_fn, data, cfg.updates_per_round, cfg.batch_size, gen)
                bar.update(1)
            last = logger.scalars(losses, env_steps)

        metrics = _finish(cfg, res, student, eval_envs, logger, last, env_steps, t0, bar)
        metrics["train/dataset_size"] = data.size
        save_student(run_dir, student, student_spec, resolved_cfg)
        write_json(run_dir / "metrics.json", metrics)
        logger.hparams({"env": cfg.env, "method": cfg.method, "alpha": cfg.alpha, "prior": cfg.prior,
                        "seed": cfg.seed, "loss": cfg.loss, "target": cfg.target},
                       {"eval/return_mean": metrics["eval/return_mean"], "explore/entropy": metrics["explore/entropy"]})
    finally:
        bar.close()
        logger.close()
        envs.close()
        eval_envs.close()
    return DistillResult(run_dir, student, metrics, data, betas, shares)
