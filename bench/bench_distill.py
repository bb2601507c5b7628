"""Acceptance measurements for policy distillation (issue 3).

    python bench/bench_distill.py acceptance [--env CartPole-v1] [--seeds 0 1 2]
        DAgger, alpha = 0.1, the env's cached teacher (trained first if missing), 20 evaluation episodes:
        mean return, return / teacher's, and in-process wall time (first env step to final evaluation).
        CartPole-v1 target: >= 495 in <= 8 s; LunarLander-v3 (box2d extra): >= 95 % of the teacher.
    python bench/bench_distill.py entropy [--envs CartPole-v1 Acrobot-v1] [--seeds 0 1 2]
        mean explore/entropy over seeds for alpha in {0, 0.1, 0.3}; must be strictly increasing.
    python bench/bench_distill.py devices [--batches 256 4096 32768]
        one student update (forward, smoothed loss, backward, Adam) on the CPU and on CUDA, side by
        side in one process: an MLP student (8 -> 4 actions, 2 x 256) and a CNN student (84x84x4
        uint8 frames -> 18 actions); median ms per update and the CUDA speed-up, to say when
        --device cuda pays. Without a GPU it prints the CPU column alone.

Runs go one after another (never in parallel) into --logdir (default: a temporary directory), each
with the agent recipe's settings for its env, exactly as `rlgan-ls distill` would resolve them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import torch

from rlgan_ls.distill import DistillConfig, distill
from rlgan_ls.distill.objective import DistillLoss
from rlgan_ls.distill.students import StudentSpec, build_student


def _config(env: str, **flags) -> DistillConfig:
    return DistillConfig.from_recipe(env, progress=False, **flags)


def acceptance(env: str, seeds: list[int], logdir: str) -> None:
    print(f"{env} DAgger alpha=0.1, cached teacher, 20 eval episodes ({platform.machine()}, torch threads 1):")
    print(f"{'seed':>4} {'return':>14} {'teacher':>8} {'vs teacher':>10} {'wall s':>7} {'env steps':>9} {'entropy':>8}")
    for seed in seeds:
        m = distill(_config(env, method="dagger", alpha=0.1, seed=seed, eval_episodes=20,
                            logdir=logdir, run_name=f"acceptance-s{seed}")).metrics
        print(f"{seed:>4} {m['eval/return_mean']:>7.1f} ± {m['eval/return_std']:<5.1f} "
              f"{m['teacher/return_mean']:>8.1f} "
              f"{m['eval/return_vs_teacher']:>10.3f} {m['time/wall_s']:>7.2f} {m['train/env_steps']:>9.0f} "
              f"{m['explore/entropy']:>8.4f}")


def entropy(envs: list[str], seeds: list[int], alphas: list[float], logdir: str) -> None:
    for env in envs:
        means = []
        for alpha in alphas:
            vals, rets = [], []
            for seed in seeds:
                m = distill(_config(env, method="dagger", alpha=alpha, seed=seed, logdir=logdir,
                                    run_name=f"entropy-{env}-a{alpha}-s{seed}")).metrics
                vals.append(m["explore/entropy"])
                rets.append(m["eval/return_mean"])
            means.append(statistics.mean(vals))
            print(f"{env} alpha={alpha:<4} explore/entropy mean {means[-1]:.4f} "
                  f"(seeds: {', '.join(f'{v:.4f}' for v in vals)}); return mean {statistics.mean(rets):.1f}")
        ok = all(a < b for a, b in zip(means, means[1:]))
        print(f"{env}: strictly increasing in alpha: {ok}")


def _update_ms(spec: StudentSpec, batch: int, device: torch.device, rounds: int = 15) -> float:
    """Median wall time (ms) of one distillation update of a fresh student on ``device``."""
    torch.manual_seed(0)
    student = build_student(spec).to(device)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    loss_fn = DistillLoss(spec.nvec, alpha=0.1)
    if spec.arch == "cnn":
        obs = torch.randint(0, 256, (batch, *spec.obs_shape), dtype=torch.uint8, device=device)
    else:
        obs = torch.randn(batch, *spec.obs_shape, device=device)
    actions = torch.randint(0, spec.nvec[0], (batch, 1), device=device)
    times = []
    for i in range(rounds + 3):  # three warm-up updates (allocator, cuDNN's algorithm choice)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        loss, _ = loss_fn(student(obs), actions, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def devices(batches: list[int]) -> None:
    gpu = torch.device("cuda") if torch.cuda.is_available() else None
    name = torch.cuda.get_device_name(gpu) if gpu else "none"
    print(f"one update, median of 15 (torch {torch.__version__}, CPU threads {torch.get_num_threads()}, GPU {name}):")
    print("| student | batch | CPU ms | CUDA ms | CUDA speed-up |\n|---|---:|---:|---:|---:|")
    students = (StudentSpec("mlp", (8,), (4,), width=256), StudentSpec("cnn", (84, 84, 4), (18,)))
    for spec in students:
        for batch in batches if spec.arch == "mlp" else [b for b in batches if b <= 4096]:
            cpu = _update_ms(spec, batch, torch.device("cpu"))
            cuda = _update_ms(spec, batch, gpu) if gpu else None
            cells = f"{cuda:.3f} | {cpu / cuda:.1f}x" if cuda else "- | -"
            print(f"| {spec.arch} | {batch} | {cpu:.3f} | {cells} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("acceptance", "entropy", "devices"))
    ap.add_argument("--env", default="CartPole-v1", help="acceptance: the env")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1"])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--logdir", default=None, help="where run dirs go (default: a temporary directory)")
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 4096, 32768], help="devices: batch sizes")
    args = ap.parse_args()
    if args.what == "devices":
        devices(args.batches)
        return
    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir or tmp
        if args.what == "acceptance":
            acceptance(args.env, args.seeds, logdir)
        else:
            entropy(args.envs, args.seeds, args.alphas, logdir)


if __name__ == "__main__":
    main()
