"""Ensembles: distillation runs whose shapes agree, trained together as one stacked student.

A study's cells on one task differ in alpha, seed, prior, loss or label noise, not in the networks or
the data they see. Trained one after another, each small student leaves the machine mostly idle; trained
together they become one program: the members' parameters are stacked along a new first dimension
(``torch.func.stack_module_state``), the forward and backward run once for all of them (an MLP's
layers as one batched matmul each, other students through ``functional_call`` under ``vmap``), members
with the same objective share one loss call, the members' datasets share one buffer (one gather draws
every minibatch), and one Adam step updates every member (Adam works element by element, so this is each
member's own Adam). Each member keeps everything that makes it its own run: its
seed (initial weights, minibatches, sampled actions, its coin for who acts, its block of envs in one
vector env of members x n_envs), its objective (alpha, prior, loss) and its run directory, written as a
solo run writes it, with ``"ensemble": M`` in its ``config.json``. The teacher labels every member's states
in one batch. A member whose loss or weights stop being finite is stopped and reported; the others go on.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from .. import tags
from ..errors import TrainingDiverged, UsageError
from ..runs import Run
from ..seeding import Seeds
from .actions import DEFAULT_BINS
from .config import DistillConfig
from .dataset import StackedStates
from .envs import EnvProbe, make_vec, probe_env, resolve_env
from .objective import DistillLoss
from .recorder import DistillRecorder
from .rollouts import Collector, eval_seed, evaluate_members
from .rounds import RoundCollector
from .students import MLPStudent, greedy_actions, sample_actions
from .teachers import ResolvedTeacher, resolve_teacher
from .trainer import DistillResult, Learner, Member, train_members

__all__ = ["MEMBER_SETTINGS", "StackedStudents", "distill_ensemble", "shape_key"]

MEMBER_SETTINGS = frozenset({"alpha", "seed", "prior", "prior_width", "loss", "entropy_beta", "label_noise", "demos",
                             "run_name", "progress"})
"""What the members of one ensemble may differ in; every other setting must agree."""


def shape_key(cfg: DistillConfig) -> tuple:
    """The settings a run shares with the runs it can be trained with."""
    return tuple((f.name, repr(getattr(cfg, f.name))) for f in dataclasses.fields(cfg)
                 if f.name not in MEMBER_SETTINGS)


class StackedStudents:
    """M students of one architecture with their parameters stacked: one forward for all of them."""

    def __init__(self, students: Sequence[nn.Module]) -> None:
        self.params, self.buffers = stack_module_state(list(students))  # (M, ...) each, params trainable
        self._base = copy.deepcopy(students[0]).to("meta")  # the architecture, without weights
        self._dense = _dense_layers(students[0])

    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], obs: Tensor) -> Tensor:
        return functional_call(self._base, (params, buffers), (obs,))

    def __call__(self, obs: Tensor) -> Tensor:
        """``(M, B, *obs_shape)`` -> logits ``(M, B, sum K)``: member m's student on its own batch."""
        if obs.shape[0] == 1:
            # One member: its own forward. (vmap over a batch of one computes the weight gradients with batched
            # matmuls, whose rounding differs from the solo run's in the last bit; this keeps M = 1 exact.)
            return self.member(0)(obs[0])[None]
        if self._dense is not None:
            return self._grouped(obs)
        return vmap(self._call)(self.params, self.buffers, obs)

    def _grouped(self, obs: Tensor) -> Tensor:
        """An MLP student's forward as grouped layers: one batched matmul per layer for every member (what vmap
        computes, without its per-call overhead, which is most of the time of a small student's forward)."""
        assert self._dense is not None
        h = MLPStudent.inputs(obs, batch_dims=2).flatten(2)  # (M, B, D)
        for weight, bias, tanh in self._dense:
            h = torch.baddbmm(self.params[bias].unsqueeze(1), h, self.params[weight].transpose(1, 2))  # (M, B, out)
            if tanh:
                h = torch.tanh(h)
        return h

    def member(self, m: int) -> Callable[[Tensor], Tensor]:
        """Member ``m``'s student alone, as a function of a batch of states."""
        def forward(obs: Tensor) -> Tensor:
            return self._call({k: v[m] for k, v in self.params.items()}, {k: v[m] for k, v in self.buffers.items()},
                              obs)
        return forward

    def write_back(self, students: Sequence[nn.Module]) -> None:
        """Copy each member's trained weights into its own module (to save or evaluate it as a solo student)."""
        with torch.no_grad():
            for m, student in enumerate(students):
                student.load_state_dict({k: v[m] for k, v in {**self.params, **self.buffers}.items()})


def _dense_layers(student: nn.Module) -> list[tuple[str, str, bool]] | None:
    """An :class:`MLPStudent`'s layers as (weight name, bias name, tanh after it), or None for other students."""
    if type(student) is not MLPStudent:
        return None
    layers: list[tuple[str, str, bool]] = []
    for name, module in student.net.named_children():
        if isinstance(module, nn.Linear):
            layers.append((f"net.{name}.weight", f"net.{name}.bias", False))
        elif isinstance(module, nn.Tanh) and layers:
            layers[-1] = (*layers[-1][:2], True)
        elif not isinstance(module, nn.Flatten):
            return None
    return layers


def _fit_members(stacked: StackedStudents, opt: torch.optim.Optimizer, members: list[Member], data: StackedStates,
                 cfg: DistillConfig) -> list[dict[str, Tensor]]:
    """One round of updates for every member still training: per-member minibatches and losses, one
    backward and one Adam step for all. Members with the same objective (alpha, prior, loss ...) share one
    loss call over their rows, each member's loss the mean over its own rows. A member whose loss or
    weights become NaN/inf is stopped."""
    live = [i for i, m in enumerate(members) if m.failed is None]
    groups: dict[tuple, list[int]] = {}
    for i in live:
        groups.setdefault(members[i].learner.loss_fn.key, []).append(i)
    sums: dict[tuple, dict[str, Tensor]] = {key: {} for key in groups}  # per group: tag -> (G,) sums
    for _ in range(cfg.updates_per_round):
        obs, actions, probs = data.sample(cfg.batch_size, [m.learner.gen for m in members])  # (M, B, ...) each
        logits = stacked(obs)  # (M, B, sum K)
        total = torch.zeros((), device=logits.device)
        for key, idx in groups.items():
            loss, parts = _group_loss(members[idx[0]].learner.loss_fn, logits, actions, probs, idx)
            total = total + loss.sum()
            for k, v in parts.items():
                sums[key][k] = sums[key][k] + v if k in sums[key] else v
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    means: list[dict[str, Tensor]] = [{} for _ in members]
    for key, idx in groups.items():
        for j, i in enumerate(idx):
            means[i] = {k: v[j] / cfg.updates_per_round for k, v in sums[key].items()}
    finite = torch.stack([torch.stack([means[i][tags.LOSS_TOTAL].isfinite(),
                                       *(p[i].isfinite().all() for p in stacked.params.values())]).all()
                          for i in live]) if live else torch.ones(0, dtype=torch.bool)
    for i, ok in zip(live, finite.tolist()):
        if not ok:
            members[i].failed = TrainingDiverged("the student's loss or weights became NaN/inf; this member stopped "
                                                 "and nothing was saved (try a lower --lr)")
            means[i] = {}
    return means


def _group_loss(loss_fn: DistillLoss, logits: Tensor, actions: Tensor, probs: Tensor | None,
                idx: list[int]) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss and logged terms ``(G,)`` of members ``idx``, who share ``loss_fn``, on their own minibatches
    (``logits``, ``actions`` and ``probs`` hold every member's, ``(M, B, ...)``)."""
    if len(idx) == 1:  # as the solo run computes it (the mean inside the loss), which keeps M = 1 exact
        i = idx[0]
        loss, parts = loss_fn(logits[i], actions[i], probs[i] if probs is not None else None)
        return loss[None], {k: v[None] for k, v in parts.items()}

    def rows(t: Tensor) -> Tensor:
        return t[idx].reshape(-1, t.shape[-1])  # (G * B, ...)

    loss, parts = loss_fn(rows(logits), rows(actions), rows(probs) if probs is not None else None, reduction="none")

    def per_member(t: Tensor) -> Tensor:
        return t.reshape(len(idx), -1).mean(1)  # (G,)

    return per_member(loss), {k: per_member(v) for k, v in parts.items()}


def _chooser(stacked: StackedStudents, members: list[Member], env: EnvProbe, act: str | None,
             device: str) -> Callable[[np.ndarray], Tensor]:
    """Every member's choices for its block of states, ``(M * N, D)``; a stopped member's are zeros."""
    nvec = env.spec.nvec

    @torch.no_grad()
    def choose(obs: np.ndarray) -> Tensor:
        x = torch.as_tensor(obs, device=device)
        logits = stacked(x.reshape(len(members), -1, *x.shape[1:])).cpu()  # (M, N, sum K)
        if act == "sample":  # each member draws from its own generator
            picks = torch.stack([sample_actions(lg, nvec, m.learner.gen) if m.failed is None
                                 else torch.zeros(logits.shape[1], len(nvec), dtype=torch.long)
                                 for lg, m in zip(logits, members)])
        else:
            picks = greedy_actions(logits, nvec)  # (M, N, D), every member at once
            picks[[i for i, m in enumerate(members) if m.failed is not None]] = 0
        return picks.reshape(-1, len(nvec))

    return choose


def distill_ensemble(cfgs: Sequence[DistillConfig], teacher: Any = None) -> list[DistillResult | TrainingDiverged]:
    """Train the runs ``cfgs`` (one task, one shape: :func:`shape_key`) together; one result per member,
    in order: its :class:`DistillResult`, or why it stopped."""
    cfgs = list(cfgs)
    if len({shape_key(c) for c in cfgs}) > 1:
        raise UsageError("an ensemble's runs must agree in every setting but "
                         f"{', '.join(sorted(MEMBER_SETTINGS))}; train the others in an ensemble of their own")
    first = cfgs[0]
    if len(first.tasks) > 1:
        raise UsageError(f"--ensemble trains single-task runs; train the multi-task student {first.env} without it")
    for c in cfgs:
        Run.check_logdir(c.logdir)
    env = probe_env(resolve_env(first.env), first.bins or DEFAULT_BINS, first.action_low, first.action_high)
    resolved = resolve_teacher(first, env, teacher)
    torch.set_num_threads(first.threads)
    seeds = [Seeds(c.seed) for c in cfgs]
    learners = [Learner.create(c, env, resolved, s) for c, s in zip(cfgs, seeds)]
    return _train(cfgs, env, resolved, learners, seeds)


def _train(cfgs: list[DistillConfig], env: EnvProbe, resolved: ResolvedTeacher, learners: list[Learner],
           seeds: list[Seeds]) -> list[DistillResult | TrainingDiverged]:
    first, spec = cfgs[0], learners[0].spec
    stacked = StackedStudents([lr.student for lr in learners])
    opt = torch.optim.Adam(list(stacked.params.values()), lr=first.lr)
    recs = [DistillRecorder.create(c.resolved(env.spec.box is not None, spec.arch, resolved.algo, resolved.steps),
                                   env, resolved, spec, ensemble=len(cfgs)) for c in cfgs]
    members = [Member(lr, rec, stacked.member(m)) for m, (lr, rec) in enumerate(zip(learners, recs))]
    envs = make_vec(env.recipe, len(cfgs) * first.n_envs, first.vectorization)
    eval_envs = make_vec(env.recipe, len(cfgs) * min(first.eval_envs, first.eval_episodes), first.vectorization)
    try:
        for rec in recs:
            rec.start_clock()
        rounds = RoundCollector(env, resolved.teacher, Collector(envs, [s.of("envs") for s in seeds]),
                                _chooser(stacked, members, env, first.act, first.device),
                                [s.numpy("dagger") for s in seeds], first.tau)
        data = StackedStates([lr.data for lr in learners])
        train_members(first, rounds, members, lambda: _fit_members(stacked, opt, members, data, first))
        return _finish(first, members, stacked, eval_envs, resolved)
    finally:
        for rec in recs:
            rec.close()
        envs.close()
        eval_envs.close()


def _finish(cfg: DistillConfig, members: list[Member], stacked: StackedStudents, eval_envs: Any,
            resolved: ResolvedTeacher) -> list[DistillResult | TrainingDiverged]:
    """Evaluate every member's greedy student at once, then let each recorder finish its own run."""
    students = [m.learner.student for m in members]
    stacked.write_back(students)
    spec, action_spec = members[0].learner.spec, members[0].rec.env.spec
    eval_seeds = [eval_seed(m.rec.cfg.seed) for m in members]

    @torch.no_grad()
    def greedy(obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(obs, device=cfg.device)
        logits = stacked(x.reshape(len(members), -1, *x.shape[1:]))  # (M, N, sum K)
        return action_spec.to_env(greedy_actions(logits, spec.nvec).reshape(-1, len(spec.nvec)).cpu().numpy())

    evals = evaluate_members(eval_envs, greedy, cfg.eval_episodes, eval_seeds)
    teacher_returns: list[float] = []

    def teacher_return(m: int) -> float:
        if not teacher_returns:  # measured once for every member, each on its own evaluation seed
            runs = evaluate_members(eval_envs, resolved.teacher.act, cfg.eval_episodes, eval_seeds)
            teacher_returns.extend(float(np.mean(r.returns)) for r in runs)
        return teacher_returns[m]

    results: list[DistillResult | TrainingDiverged] = []
    for i, (m, ev) in enumerate(zip(members, evals)):
        if m.failed is not None:
            results.append(m.failed)
            continue
        student = students[i].eval()
        metrics = m.rec.finish(student, spec, ev, m.learner.data.size, functools.partial(teacher_return, i))
        results.append(DistillResult(m.rec.run.path, student, metrics, m.learner.data, m.rec.betas, m.rec.shares))
    return results
