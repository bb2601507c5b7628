"""Fine-tuning a distilled student with PPO (issue 15): with and without the critic warm-up, and from scratch.

    python bench/bench_finetune.py [--env LunarLander-v3] [--steps 50000] [--warmup 10000] [--seeds 0 1 2]

Distils one DAgger student (alpha 0.1, the env's agent recipe, its cached teacher), then runs
`rlgan_ls.distill.finetune.finetune` for every seed in three ways on the same budget of environment
steps: from the exported student after `--warmup` steps of critic-only training, from the exported
student straight away, and from SB3's initialisation. The PPO settings are the env recipe's [ppo]
table (rl-baselines3-zoo's). Prints the greedy return (10 episodes) after 0, 10k and `--steps` steps per
variant (mean and range over seeds) and writes the curves to `<logdir>/finetune.png`.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.config import agent_recipe_name
from rlgan_ls.distill.finetune import FinetuneConfig, finetune
from rlgan_ls.recipes import find_recipe

VARIANTS = {"student + critic warm-up": {}, "student, no warm-up": {"critic_warmup": 0},
            "from scratch": {"critic_warmup": 0, "from_scratch": True}}


def _at(returns: dict[int, float], step: int) -> float:
    """The return evaluated first at or after ``step``."""
    return returns[min(s for s in returns if s >= step)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="LunarLander-v3")
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--warmup", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--logdir", default="runs/bench-finetune")
    args = ap.parse_args()
    source = f"agents/{agent_recipe_name(args.env)}.toml" if find_recipe("agents", agent_recipe_name(args.env)) \
        else "default"
    cfg = DistillConfig.from_recipe(args.env, alpha=0.1, logdir=args.logdir, progress=False,
                                    run_name=f"{args.env}-student")
    student = distill(cfg)
    print(f"student: {student.run_dir} (return {student.metrics['eval/return_mean']:.1f}, normalized "
          f"{student.metrics['eval/normalized_return']:.3f})")
    curves: dict[str, list[dict[int, float]]] = {}
    for name, kw in VARIANTS.items():
        for seed in args.seeds:
            result = finetune(student.run_dir, FinetuneConfig("ppo", args.steps, kw.get("critic_warmup", args.warmup),
                                                              seed, 10_000, 10, kw.get("from_scratch", False)))
            curves.setdefault(name, []).append(result.returns)
            print(f"  {name}, seed {seed}: " + ", ".join(f"{r:.0f}@{s}" for s, r in sorted(result.returns.items())))
    print(f"\n{args.env}, PPO ({source} student, envs/{args.env}.toml [ppo]), greedy return over 10 episodes, "
          f"mean [min, max] over seeds {args.seeds}:\n")
    print(f"| start | 0 steps | 10k steps | {args.steps // 1000}k steps |\n|---|---:|---:|---:|")
    for name, runs in curves.items():
        cells = []
        for step in (0, 10_000, args.steps):
            values = [_at(r, step) for r in runs]
            cells.append(f"{statistics.fmean(values):.1f} [{min(values):.0f}, {max(values):.0f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")
    _plot(curves, Path(args.logdir) / "finetune.png", args.env)


def _plot(curves: dict[str, list[dict[int, float]]], path: Path, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=110)
    for name, runs in curves.items():
        steps = sorted(set.intersection(*(set(r) for r in runs)))
        values = np.array([[r[s] for s in steps] for r in runs])  # (seeds, steps)
        line, = ax.plot(steps, values.mean(0), label=name)
        ax.fill_between(steps, values.min(0), values.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy return (10 episodes)")
    ax.set_title(f"PPO on {env}: mean and range over seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"\ncurves: {path}")


if __name__ == "__main__":
    main()
