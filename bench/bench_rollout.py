"""Rollout collection throughput vs raw stepping of the same vector env, both under random actions.

"raw" is the bare loop ``envs.step(random actions)``; "collector" is
:class:`rlgan_ls.distill.rollouts.Collector` (observation buffer, episode-return bookkeeping, the
policy call) driven by the same random policy. Both run on one env instance, interleaved round by
round so that machine noise hits both equally; we report median steps per second and their ratio
(goal: collector >= 70 % of raw). A third line shows the collector with a real student MLP acting,
for context (that one pays for the network).

    python bench/bench_rollout.py [--env CartPole-v1] [--n-envs 8] [--mode sync|async] [--steps 2000]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from rlgan_ls.distill.actions import action_spec
from rlgan_ls.distill.envs import make_vec, resolve_env
from rlgan_ls.distill.rollouts import Collector
from rlgan_ls.distill.students import MLPStudent, StudentSpec, student_actor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--mode", choices=("sync", "async"), default="sync")
    ap.add_argument("--steps", type=int, default=2000, help="vector steps per timed round")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)

    recipe = resolve_env(args.env)
    envs = make_vec(recipe, args.n_envs, args.mode)
    spec = action_spec(envs.single_action_space, recipe.name)
    rng = np.random.default_rng(0)
    n = args.n_envs

    def random_actions(obs: np.ndarray) -> np.ndarray:
        idx = np.stack([rng.integers(0, k, size=n) for k in spec.nvec], axis=1)  # (N, D)
        return spec.to_env(idx)

    student = MLPStudent(StudentSpec("mlp", tuple(envs.single_observation_space.shape), spec.nvec, 64, 2))
    student_act = student_actor(student, spec.nvec, spec.to_env, "cpu")

    def raw() -> float:
        envs.reset(seed=0)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            envs.step(random_actions(None))
        return args.steps * n / (time.perf_counter() - t0)

    def collector(act) -> float:
        c = Collector(envs, seed=0)
        t0 = time.perf_counter()
        c.collect(act, args.steps)
        return args.steps * n / (time.perf_counter() - t0)

    raw(), collector(random_actions)  # warm-up
    rows: dict[str, list[float]] = {"raw": [], "collector": [], "ratio": [], "student": []}
    for _ in range(args.repeats):
        r, c = raw(), collector(random_actions)
        rows["raw"].append(r)
        rows["collector"].append(c)
        rows["ratio"].append(c / r)
        rows["student"].append(collector(student_act))
    envs.close()
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{platform.processor() or platform.machine()}, torch threads 1, {args.env} x{n} ({args.mode}), "
          f"{args.steps} vector steps per round, {args.repeats} rounds, medians:")
    print(f"  raw env.step, random actions        {med['raw']:10.0f} env steps/s")
    print(f"  Collector, random actions           {med['collector']:10.0f} env steps/s")
    print(f"  ratio collector / raw (per round)   {med['ratio']:10.3f}   (goal >= 0.70)")
    print(f"  Collector, MLP student acting       {med['student']:10.0f} env steps/s (context)")


if __name__ == "__main__":
    main()
