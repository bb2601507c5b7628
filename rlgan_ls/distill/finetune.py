"""Fine-tuning a distilled student with PPO or A2C, after warming its untrained critic up.

An exported student (:mod:`rlgan_ls.distill.export`) comes with a freshly initialised critic; its first
advantage estimates are noise, and the first policy updates can undo what the student learned. The
remedy here: for ``critic_warmup`` environment steps the actor is frozen (its parameters take no
gradient) while the algorithm runs as usual, so only the value network learns, on the student's own
rollouts; then every parameter trains. The warm-up steps count towards ``steps``: the budget is
environment steps, however they are spent.

Settings are the env recipe's ``[ppo]``/``[a2c]`` table (rl-baselines3-zoo's) or SB3's defaults.
Everything is logged into the run's own TensorBoard files under ``finetune/<variant>/`` (SB3's
``rollout/``, ``train/`` ... keys, prefixed), with ``eval_return``: the greedy return every ``eval_every``
steps, step 0 included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat

from ..errors import UsageError
from .envs import make_env
from .export import exported_model
from .rollouts import eval_seed
from .students import load_run
from .teachers.sb3 import sb3_class, schedule

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "warm_up_critic"]


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune a student (``rlgan-ls finetune``'s flags)."""

    algo: str = "ppo"
    """SB3 algorithm: ppo or a2c."""
    steps: int = 50_000
    """Environment steps in all, the critic's warm-up included."""
    critic_warmup: int = 10_000
    """Environment steps training only the critic (0: none)."""
    seed: int = 0
    """Seed of SB3's model and envs."""
    eval_every: int = 10_000
    """Environment steps between greedy evaluations."""
    eval_episodes: int = 10
    """Episodes per evaluation."""
    from_scratch: bool = False
    """Train the same network from SB3's initialisation instead (the baseline of a fine-tuning study)."""

    def __post_init__(self) -> None:
        if (self.steps < 1 or self.critic_warmup < 0 or self.critic_warmup >= self.steps or self.eval_every < 1
                or self.eval_episodes < 1):
            raise UsageError(f"finetune: need --steps >= 1, 0 <= --critic-warmup < --steps, --eval-every >= 1 and "
                             f"--eval-episodes >= 1 (got {self.steps}, {self.critic_warmup}, {self.eval_every}, "
                             f"{self.eval_episodes})")

    @property
    def variant(self) -> str:
        """Names the run's fine-tuning: algorithm, start and seed (e.g. ``ppo-warmup-s0``)."""
        start = "scratch" if self.from_scratch else ("warmup" if self.critic_warmup else "student")
        return f"{self.algo}-{start}-s{self.seed}"


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns."""

    model: Any
    """The fine-tuned SB3 model (also saved, as ``path``)."""
    path: Path
    """The saved zip: ``<run_dir>/finetune/<algo>-<start>-s<seed>/model.zip`` (``-2``, ... when run again)."""
    returns: dict[int, float] = field(default_factory=dict)
    """Greedy mean return at each evaluated environment step."""
    env_steps: int = 0
    """Environment steps taken: the budget rounded up to whole rollouts (n_steps x n_envs), as SB3 collects."""
    rollout: int = 0
    """Environment steps per rollout."""


def _settings(recipe: Any, algo: str) -> dict[str, Any]:
    """The recipe's settings for ``algo`` as SB3 keyword arguments (its budget and env count aside)."""
    table = recipe.teachers.get(algo, {})
    unsupported = {"net_arch", "policy_kwargs", "noise_type", "noise_std"} & set(table)
    if unsupported:
        raise UsageError(f"finetune: envs/{recipe.name}.toml [{algo}] sets {', '.join(sorted(unsupported))}, which "
                         f"would change the exported actor; fine-tune with SB3 directly")
    kw = {k: schedule(v) for k, v in table.items() if k not in ("steps", "n_envs")}
    return kw | {"n_envs": table.get("n_envs", 1)}


def _actor_parameters(policy: Any) -> list[Any]:
    """The parameters the actor's output depends on (the features extractor is the actor's: it holds the
    student's convolutions when the policy is a CNN)."""
    modules = [policy.features_extractor, policy.mlp_extractor.policy_net, policy.action_net]
    return [p for m in modules for p in m.parameters()]


def finetune(run_dir: str | os.PathLike, cfg: FinetuneConfig = FinetuneConfig()) -> FinetuneResult:
    """Fine-tune the student of ``run_dir`` for ``cfg.steps`` environment steps (see the module docstring).

    ``cfg.from_scratch`` trains the same architecture from SB3's initialisation instead; the critic's
    warm-up then does not apply. Everything goes into a new folder ``<run_dir>/finetune/<variant>/``
    (:attr:`FinetuneConfig.variant`; ``-2``, ``-3`` ... when that variant was run before): SB3's TensorBoard
    logs, ``eval_return``, and the model.
    """
    run = load_run(run_dir)
    kw = _settings(run.recipe, cfg.algo)
    model = exported_model(run, cfg.algo, cfg.seed, **kw)
    if cfg.from_scratch:  # the same architecture and settings, SB3's initialisation
        model = sb3_class(cfg.algo)(model.policy_class, model.env, policy_kwargs=model.policy_kwargs, seed=cfg.seed,
                                    device="cpu", verbose=0, **{k: v for k, v in kw.items() if k != "n_envs"})
    folder = run.run.tool_dir("finetune", cfg.variant)
    model.set_logger(Logger(str(folder), [TensorBoardOutputFormat(str(folder))]))
    evaluation = _Evaluation(model, run.recipe, cfg)
    evaluation.run()  # step 0: the exported student as it is
    if cfg.critic_warmup and not cfg.from_scratch:
        warm_up_critic(model, cfg.critic_warmup, evaluation)
    model.learn(max(cfg.steps - model.num_timesteps, 1), callback=evaluation, reset_num_timesteps=False)
    evaluation.run()
    path = folder / "model.zip"
    model.save(path)
    return FinetuneResult(model, path, evaluation.returns, int(model.num_timesteps), model.n_steps * model.n_envs)


def warm_up_critic(model: Any, steps: int, callback: BaseCallback | None = None) -> None:
    """Run ``model.learn`` for ``steps`` environment steps with the actor frozen: only the critic learns."""
    actor = _actor_parameters(model.policy)
    for p in actor:
        p.requires_grad_(False)
    try:
        model.learn(steps, callback=callback)
    finally:
        for p in actor:
            p.requires_grad_(True)


class _Evaluation(BaseCallback):
    """Greedy returns every ``every`` environment steps (and when :meth:`run` is called), logged as ``eval_return``."""

    def __init__(self, model: Any, recipe: Any, cfg: FinetuneConfig) -> None:
        from stable_baselines3.common.env_util import make_vec_env

        super().__init__()
        self.sb3_model, self.every, self.episodes = model, cfg.eval_every, cfg.eval_episodes
        self.returns: dict[int, float] = {}
        self.eval_env = make_vec_env(lambda: make_env(recipe), n_envs=1, seed=eval_seed(cfg.seed))

    def _on_step(self) -> bool:
        if self.sb3_model.num_timesteps // self.every > max(self.returns, default=0) // self.every:
            self.run()
        return True

    def run(self) -> None:
        mean = float(np.mean(evaluate_policy(self.sb3_model, self.eval_env, self.episodes, deterministic=True,
                                             return_episode_rewards=True)[0]))
        step = int(self.sb3_model.num_timesteps)
        self.returns[step] = float(mean)
        self.sb3_model.logger.record("eval_return", float(mean))
        self.sb3_model.logger.dump(step)
