"""``rlgan-ls export`` and ``rlgan-ls finetune``: hand a distilled student to Stable-Baselines3.

    rlgan-ls export runs/LunarLander-v3-dagger-a0.1-s0 --algo ppo --out student.zip
    rlgan-ls finetune runs/LunarLander-v3-dagger-a0.1-s0 --algo ppo --steps 50000 [--critic-warmup 10000]

The zip loads with ``PPO.load``/``A2C.load`` and no rlgan-ls import (:mod:`rlgan_ls.distill.export`);
``finetune`` warms the critic up with the actor frozen, then trains everything
(:mod:`rlgan_ls.distill.finetune`).
"""

from __future__ import annotations

import argparse

from .export import EXPORT_ALGOS

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="write a student as a Stable-Baselines3 PPO/A2C zip (critic untrained)",
                       description="Write the student of RUN_DIR as an SB3 model whose actor is the student, "
                                   "loadable with PPO.load / A2C.load without rlgan-ls.")
    e.add_argument("run_dir", help="a run directory written by 'rlgan-ls distill'")
    e.add_argument("--algo", choices=EXPORT_ALGOS, default="ppo", help="SB3 algorithm (default: ppo)")
    e.add_argument("--out", default=None, help="the zip to write (default: RUN_DIR/student-<algo>.zip)")
    e.set_defaults(func=_export)

    f = sub.add_parser("finetune", help="fine-tune a student with PPO/A2C after warming its critic up",
                       description="Export the student, train the critic alone for --critic-warmup env steps "
                                   "(actor frozen), then train everything up to --steps env steps (rounded up to "
                                   "whole rollouts). Logs and the model go to a new folder "
                                   "RUN_DIR/finetune/<algo>-<start>-s<seed>/.")
    f.add_argument("run_dir", help="a run directory written by 'rlgan-ls distill'")
    f.add_argument("--algo", choices=EXPORT_ALGOS, default="ppo", help="SB3 algorithm (default: ppo)")
    f.add_argument("--steps", type=int, default=50_000, help="env steps in all, warm-up included (default: 50000)")
    f.add_argument("--critic-warmup", type=int, default=10_000,
                   help="env steps training only the critic (default: 10000; 0: none)")
    f.add_argument("--from-scratch", action="store_true", help="the same network from SB3's initialisation "
                                                                "(the baseline of a fine-tuning study)")
    f.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    f.add_argument("--eval-every", type=int, default=10_000,
                   help="env steps between greedy evaluations (default: 10000)")
    f.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default: 10)")
    f.set_defaults(func=_finetune)


def _export(args: argparse.Namespace) -> int:
    from ..storage import writable_file
    from .export import export_student
    from .students import load_run

    run = load_run(args.run_dir)  # a folder that is not a finished distill run: said first
    out = writable_file(args.out or run.run.export_file(f"student-{args.algo}.zip"), "--out")
    out = export_student(run, out, args.algo)
    print(f"wrote {out}: {args.algo.upper()}.load('{out}') gives the student's actor and an untrained critic")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from .finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(args.algo, args.steps, 0 if args.from_scratch else args.critic_warmup, args.seed,
                         args.eval_every, args.eval_episodes, args.from_scratch)
    result = finetune(args.run_dir, cfg)
    rounded = (f" ({result.env_steps} env steps: {args.algo.upper()} collects whole rollouts of {result.rollout}, "
               f"so --steps {args.steps} rounds up)" if result.env_steps > args.steps else "")
    print(f"{result.path}: greedy return " + ", ".join(f"{r:.1f} at {s}" for s, r in sorted(result.returns.items()))
          + rounded)
    return 0
