"""The distillation run's configuration: one typed dataclass, validated once, at the boundary.

Layers (later wins): dataclass defaults -> agent recipe ``agents/<env>.toml`` (or ``--recipe``) ->
command-line flags or keyword overrides (:meth:`DistillConfig.from_recipe`, which the CLI uses too).
Every field is also a flag (``--steps-per-round``), so a sweep runner can override any of them. Field
docstrings double as ``--help`` text. A run stores :meth:`DistillConfig.resolved`: what it used, with
None for the settings that do not apply to it (``--bins`` on a Discrete env, the DAgger schedule of a
BC run, ...).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..errors import UsageError
from ..recipes import RunConfig
from ..smoothing import check_alpha
from .actions import DEFAULT_BINS

__all__ = ["TASK_SEPARATOR", "DistillConfig", "agent_recipe_name", "task_name"]

TASK_SEPARATOR = "+"
"""Joins the envs of a multi-task run into its task name (``--env A B`` is the task ``A+B``)."""


def task_name(envs: str | Sequence[str]) -> str:
    """The task of ``--env``: one env, or several joined by :data:`TASK_SEPARATOR`."""
    return envs if isinstance(envs, str) else TASK_SEPARATOR.join(envs)


def agent_recipe_name(env: str) -> str:
    """The ``agents/`` recipe name of an env: its ``--env`` with ``module:EnvId`` written ``module-EnvId``."""
    return env.replace(":", "-")


@dataclass(frozen=True)
class DistillConfig(RunConfig):
    """Everything a ``bc`` or ``dagger`` run needs; written to ``config.json`` in the run dir."""

    RECIPES: ClassVar[str] = "agents"
    TASK: ClassVar[str] = "env"
    HPARAMS: ClassVar[tuple[str, ...]] = ("env", "method", "alpha", "prior", "seed", "loss", "target", "label_noise",
                                          "demos")

    env: str = "CartPole-v1"
    """Gymnasium id, ``module:EnvId`` or an ``envs/`` recipe name; several (``--env A B C``, stored as ``A+B+C``)
    train one multi-task student: a shared trunk over the observations padded to the most channels, one policy
    head per env, each env's teacher labelling its own states, minibatches balanced over the envs."""
    method: Literal["bc", "dagger"] = "dagger"
    """``bc``: train on teacher rollouts; ``dagger``: the student acts, the teacher labels, data aggregates."""
    alpha: float = 0.1
    """Label-smoothing strength in [0, 1) for the teacher's action targets."""
    prior: Literal["uniform", "ordinal", "gaussian"] = "uniform"
    """Where the smoothing mass goes: uniform over actions, to the adjacent (ordered) actions, or a Gaussian
    kernel over them (--prior-width)."""
    prior_width: float | None = 1.0
    """Width (standard deviation, in actions or bins) of --prior gaussian."""
    bins: int | None = DEFAULT_BINS
    """Box actions: bins per action dimension (the student picks one; it stands for the bin's centre)."""
    action_low: float | None = None
    """Box actions: lower bound of every dimension's bins (default: the space's own; needed if unbounded)."""
    action_high: float | None = None
    """Box actions: upper bound of every dimension's bins (default: the space's own)."""
    target: Literal["hard", "soft"] = "hard"
    """Teacher target: its greedy action (hard) or its action distribution tempered by tau (soft)."""
    tau: float = 1.0
    """Temperature of soft targets: softmax(log p / tau) for policies, softmax(Q / tau) for DQN."""
    loss: Literal["smoothed", "entropy-bonus"] = "smoothed"
    """``smoothed``: CE to smoothed targets; ``entropy-bonus``: CE(teacher) - entropy_beta * H (baseline)."""
    entropy_beta: float | None = 0.01
    """Entropy-bonus weight for ``--loss entropy-bonus``."""
    seed: int = 0
    """Seed for the student's initialisation, action sampling and the environments."""
    teacher: str | tuple[str, ...] | None = None
    """Path to an SB3 .zip teacher (loaded without unpickling; see --trust-teacher), one per --env in its
    order; default: each env's cached teacher."""
    trust_teacher: bool = False
    """Load --teacher SB3's way, unpickling the entries that cannot be rebuilt otherwise; a pickle can run any
    code, so only for a file you trust."""
    teacher_algo: Literal["ppo", "a2c", "dqn", "sac", "td3", "ddpg"] | None = None
    """Which cached teacher to use (default: the env recipe's algo; required for an env without a recipe)."""
    teacher_seed: int | None = 0
    """Seed of the cached teacher."""
    teacher_steps: int | None = None
    """Training steps of the cached teacher (default: the env recipe's)."""
    teacher_hyperparams: tuple[str, ...] | None = ()
    """key=value overrides of the cached teacher's SB3 settings, as given to 'rlgan-ls teacher --hyperparams'."""
    train_teacher: bool = True
    """Train the cached teacher when it is missing (announced; minutes). --no-train-teacher: stop instead."""
    cache_dir: str | None = None
    """Teacher cache (default $RLGAN_LS_CACHE/teachers or ~/.cache/rlgan-ls/teachers)."""
    label_noise: float = 0.0
    """Rate at which teacher labels are flipped to another action before training (the noisy-label regime):
    per state and action dimension, drawn from the run's seed; soft targets become a one-hot on that action."""
    demos: int | None = None
    """Budget of labelled states (the few-demonstration regime): BC keeps the teacher's first N states; DAgger
    stops aggregating at N (default: no budget)."""
    n_envs: int = 8
    """Parallel environments for rollouts."""
    vectorization: Literal["sync", "async"] = "sync"
    """Gymnasium vector mode: ``sync`` (one process) or ``async`` (one subprocess per env)."""
    rounds: int = 6
    """DAgger rounds (BC collects the same budget of teacher steps, then trains)."""
    steps_per_round: int = 64
    """Vector steps per round; each yields ``n_envs`` labelled states."""
    updates_per_round: int = 100
    """Gradient steps after each round, on minibatches of the aggregated dataset."""
    batch_size: int = 256
    """Minibatch size."""
    lr: float = 3e-3
    """Adam learning rate."""
    arch: Literal["auto", "mlp", "cnn", "small-cnn"] = "auto"
    """Student network: ``auto`` picks a CNN for uint8 image observations (``small-cnn``, 3x3 convolutions, for
    frames under 36 pixels, such as MinAtar's 10x10), an MLP otherwise."""
    width: int = 64
    """Hidden units per MLP layer (CNN: units of the dense head)."""
    depth: int = 2
    """Hidden layers of the MLP (CNN: dense layers after the convolutions)."""
    channels: int | None = 32
    """CNN: channels of the first convolution (later ones use twice as many)."""
    beta_schedule: Literal["linear", "exponential"] | None = "linear"
    """DAgger: probability that the teacher acts in round i: max(0, 1 - i / beta_rounds) or beta_p ** i."""
    beta_rounds: int | None = 3
    """Linear schedule: rounds until the teacher stops acting."""
    beta_p: float | None = 0.5
    """Exponential schedule: decay factor in (0, 1)."""
    act: Literal["sample", "greedy"] | None = "sample"
    """How the student acts during DAgger rollouts (evaluation is always greedy)."""
    eval_episodes: int = 20
    """Episodes for the final evaluation."""
    eval_envs: int = 10
    """Parallel environments for the evaluation."""
    threads: int = 1
    """torch CPU threads (1 is fastest for small MLPs)."""
    device: str = "cpu"
    """Torch device of the student (``cpu`` or ``cuda``)."""
    logdir: str = "runs"
    """Parent directory of run directories."""
    run_name: str | None = None
    """Run directory name (default ``<env>-<method>-a<alpha>-s<seed>``; ``eb<entropy_beta>`` for the bonus)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if self.teacher is not None:
            given = (self.teacher,) if isinstance(self.teacher, str) else tuple(self.teacher)
            if len(given) != len(self.tasks):
                raise UsageError(f"--teacher: {len(given)} teacher(s) for {len(self.tasks)} envs; give one per --env, "
                                 f"in the order of --env (or none: each env's cached teacher)")
            object.__setattr__(self, "teacher", given[0] if len(given) == 1 else given)
        if len(set(self.tasks)) != len(self.tasks) or not all(self.tasks):
            raise UsageError(f"--env {' '.join(self.tasks)}: name each env once")
        check_alpha(self.alpha, "--alpha", UsageError)
        if self.loss == "entropy-bonus" and self.alpha != 0.0:
            raise UsageError(f"--alpha {self.alpha} applies to --loss smoothed; with --loss entropy-bonus pass "
                             f"--alpha 0 and set the strength with --entropy-beta")
        if not (self.tau > 0.0) or math.isinf(self.tau):
            raise UsageError(f"--tau must be a positive number, got {self.tau}")
        if self.entropy_beta is not None and (self.entropy_beta < 0.0 or math.isnan(self.entropy_beta)):
            raise UsageError(f"--entropy-beta must be >= 0, got {self.entropy_beta}")
        if self.beta_p is not None and not (0.0 < self.beta_p < 1.0):
            raise UsageError(f"--beta-p must be in (0, 1), got {self.beta_p}")
        if not 0.0 < self.lr <= 1.0:
            raise UsageError(f"--lr must be in (0, 1] (Adam's step size), got {self.lr}")
        if self.prior_width is not None and (not (self.prior_width > 0.0) or math.isinf(self.prior_width)):
            raise UsageError(f"--prior-width must be a positive number of actions, got {self.prior_width}")
        if self.bins is not None and self.bins < 2:
            raise UsageError(f"--bins must be >= 2, got {self.bins}")
        check_alpha(self.label_noise, "--label-noise", UsageError)
        collectable = self.rounds * self.steps_per_round * self.n_envs
        if self.demos is not None and not 1 <= self.demos <= collectable:
            raise UsageError(f"--demos must be between 1 and the {collectable} states this run collects (rounds x "
                             f"steps per round x envs), got {self.demos}")
        for name in ("n_envs", "rounds", "steps_per_round", "updates_per_round", "batch_size", "width",
                     "depth", "channels", "beta_rounds", "eval_episodes", "eval_envs", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.teacher_steps is not None and self.teacher_steps < 1:
            raise UsageError(f"--teacher-steps must be >= 1, got {self.teacher_steps}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise UsageError(f"--device must be cpu or cuda[:N], got {self.device!r}")

    @property
    def tasks(self) -> tuple[str, ...]:
        """The envs this run learns: one, or several for a multi-task student."""
        return tuple(self.env.split(TASK_SEPARATOR))

    def task_config(self, i: int) -> DistillConfig:
        """This config for task ``i`` alone: its env and its teacher (for resolving the teacher)."""
        teacher = self.teacher[i] if isinstance(self.teacher, tuple) else self.teacher
        return dataclasses.replace(self, env=self.tasks[i], teacher=teacher)

    def beta(self, round_idx: int) -> float:
        """Probability that the teacher (not the student) acts in DAgger round ``round_idx`` (0-based).

        Round 0 is always 1 (the first dataset is the teacher's own, as in Ross et al., 2011).
        BC is the teacher acting throughout.
        """
        if self.method == "bc":
            return 1.0
        if self.beta_schedule == "linear":
            assert self.beta_rounds is not None  # None only where the schedule is not linear
            return max(0.0, 1.0 - round_idx / self.beta_rounds)
        assert self.beta_p is not None
        return self.beta_p ** round_idx

    @classmethod
    def recipe_name(cls, task: str) -> str:
        return agent_recipe_name(task)

    def inapplicable(self) -> tuple[str, ...]:
        """Settings this run does not use, given its method, prior, loss and architecture."""
        unused = []
        if self.method == "bc":
            unused += ["beta_schedule", "beta_rounds", "beta_p", "act"]
        elif self.beta_schedule == "linear":
            unused.append("beta_p")
        else:
            unused.append("beta_rounds")
        if self.prior != "gaussian":
            unused.append("prior_width")
        if self.loss != "entropy-bonus":
            unused.append("entropy_beta")
        if self.arch == "mlp":
            unused.append("channels")
        if self.teacher is not None:  # the cached teacher's settings
            unused += ["teacher_seed", "teacher_hyperparams"]
        return tuple(unused)

    def resolved(self, box: bool, arch: str, teacher_algo: str | None, teacher_steps: int | None) -> DistillConfig:
        """This config as the run uses it: the student's ``arch``, the teacher's algorithm and budget
        (when known), and None for every setting that does not apply (``box``: whether the env's
        actions are a Box, to which the bins and their bounds belong)."""
        changes: dict[str, Any] = {"arch": arch, "teacher_algo": teacher_algo or self.teacher_algo,
                                   "teacher_steps": teacher_steps or self.teacher_steps}
        if not box:
            changes.update(bins=None, action_low=None, action_high=None)
        else:
            changes["bins"] = self.bins or DEFAULT_BINS
        cfg = dataclasses.replace(self, **changes)
        unused: dict[str, Any] = dict.fromkeys(cfg.inapplicable())
        return dataclasses.replace(cfg, **unused)

    @property
    def default_run_name(self) -> str:
        strength = f"eb{self.entropy_beta:g}" if self.loss == "entropy-bonus" else f"a{self.alpha:g}"
        return f"{self.env}-{self.method}-{strength}-s{self.seed}"
