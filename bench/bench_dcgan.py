"""DCGAN training throughput: our trainer vs a plain reference loop, side by side in one run.

The reference is written the way the PyTorch DCGAN example trains (same architecture, a Sigmoid at
the end of D and ``nn.BCELoss``, two backward passes for D, D's weight gradients computed during the
G step, and ``.item()`` on five numbers every step), in a fresh Python process with PyTorch's
defaults, as a user would run the example. Ours is :class:`~rlgan_ls.dcgan.step.GANStep` set up the way
``rlgan-ls gan`` sets it up (logits + the loss core, per-step metrics kept on the device,
channels_last, fused Adam, no D weight gradients in the G step).

Each loop lives in its own worker process; the parent alternates blocks of steps between them, so
machine noise hits both equally, and reports median images/s and the spread of the per-round
ratios. Both see the same batches; data loading is excluded on both sides (the batches are ready tensors).

    python bench/bench_dcgan.py [--device cpu|cuda] [--image-size 64] [--batch-size 64] [--rounds 8]
    python bench/bench_dcgan.py --no-channels-last   # ours in the NCHW layout
    python bench/bench_dcgan.py --profile 10   # then where each side's time goes: torch.profiler's top ops
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import torch
from torch import nn

from rlgan_ls.dcgan import Discriminator, GANConfig, GANState, GANStep, Generator, load_dataset
from rlgan_ls.dcgan.data import BatchOrder
from rlgan_ls.dcgan.distributed import DistInfo
from rlgan_ls.events import MetricRows


class ReferenceLoop:
    """DCGAN as the classic example trains it: probabilities, BCELoss, a host read-back per number."""

    def __init__(self, cfg: GANConfig, channels: int, device: torch.device) -> None:
        torch.manual_seed(cfg.seed)
        self.g = Generator(cfg.z_dim, channels, cfg.image_size, cfg.g_width).to(device)
        self.d = nn.Sequential(Discriminator(channels, cfg.image_size, cfg.d_width), nn.Sigmoid()).to(device)
        self.criterion = nn.BCELoss()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.z_dim, self.device = cfg.z_dim, device
        self.log: list[tuple[float, ...]] = []

    def step(self, real: torch.Tensor) -> None:
        b = real.shape[0]
        # D: maximise log D(x) + log(1 - D(G(z))), one backward per half
        self.d.zero_grad()
        target = torch.full((b,), 1.0, device=self.device)
        out_real = self.d(real)
        err_real = self.criterion(out_real, target)
        err_real.backward()
        d_x = out_real.mean().item()
        z = torch.randn(b, self.z_dim, 1, 1, device=self.device)
        fake = self.g(z)
        target.fill_(0.0)
        out_fake = self.d(fake.detach())
        err_fake = self.criterion(out_fake, target)
        err_fake.backward()
        d_g_z1 = out_fake.mean().item()
        self.opt_d.step()
        # G: maximise log D(G(z)); gradients flow into D's weights too and are thrown away
        self.g.zero_grad()
        target.fill_(1.0)
        out = self.d(fake)
        err_g = self.criterion(out, target)
        err_g.backward()
        d_g_z2 = out.mean().item()
        self.opt_g.step()
        self.log.append(((err_real + err_fake).item(), err_g.item(), d_x, d_g_z1, d_g_z2))


def _config(args: argparse.Namespace) -> GANConfig:
    layout = {} if args.channels_last is None else {"channels_last": args.channels_last}  # None: the default
    return GANConfig(dataset="digits", image_size=args.image_size, channels=3, batch_size=args.batch_size,
                     g_width=args.width, d_width=args.width, device=args.device, precision=args.precision,
                     compile=args.compile, progress=False, **layout)


def _build(side: str, args: argparse.Namespace) -> tuple[Callable[[int], None], str]:
    """The step function of one side (``step index -> None``) and a description of its settings."""
    device = torch.device(args.device)
    cfg = _config(args)
    data = load_dataset("digits", cfg.image_size, channels=3)
    order = BatchOrder(len(data), cfg.batch_size, cfg.seed)
    if side == "reference":
        ref = ReferenceLoop(cfg, data.channels, device)
        return (lambda step: ref.step(data.batch(order.indices(step), device))), "defaults"
    info = DistInfo(0, 1, device)
    cfg = cfg.resolved(device, data.channels)
    ours = GANStep(cfg, GANState.create(cfg, data.channels, info), info)
    rows = MetricRows()

    def run(step: int) -> None:
        rows.append(ours(data.batch(order.indices(step), device, ours.memory_format)))  # the reference's batches
        if len(rows) >= cfg.log_every:  # the training loop's read-back cadence
            rows.take().cpu()

    return run, f"precision {cfg.precision}, channels_last {cfg.channels_last}, compile {cfg.compile}"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _worker(side: str, args: argparse.Namespace, conn: Connection) -> None:
    """Build one side, warm it up, then run blocks of steps on request and send back their seconds."""
    step, settings = _build(side, args)
    for i in range(3):  # warm-up: allocator, oneDNN primitives, compilation
        step(i)
    _sync(args.device)
    conn.send(f"{settings}, threads {torch.get_num_threads()}")
    while (msg := conn.recv()) is not None:
        if msg[0] == "profile":
            conn.send(_profile(step, *msg[1:], args.device))
            continue
        start, n = msg
        t0 = time.perf_counter()
        for i in range(n):
            step(start + i)
        _sync(args.device)
        conn.send(time.perf_counter() - t0)


def _profile(step: Callable[[int], None], start: int, n: int, device: str) -> str:
    """torch.profiler's table of the ops that took the most time over ``n`` steps (device time on CUDA)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        for i in range(n):
            step(start + i)
        _sync(device)
    key = "device_time_total" if device.startswith("cuda") else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="ours: NHWC layout (default: what rlgan-ls gan uses on the device)")
    parser.add_argument("--compile", action="store_true", help="ours: torch.compile G and D")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each worker (default: torch's)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps-per-round", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after timing, profile N steps of each side and print the top ops")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the spawned workers

    ctx = mp.get_context("spawn")  # fresh interpreters: neither side inherits the other's memory state
    workers: dict[str, tuple[mp.process.BaseProcess, Connection]] = {}
    settings: dict[str, str] = {}
    for side in ("ours", "reference"):
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(side, args, there), daemon=True)
        proc.start()
        workers[side] = (proc, here)
    for side, (_, conn) in workers.items():  # workers build and warm up in parallel, then wait
        settings[side] = conn.recv()

    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for r in range(args.rounds):  # alternate which side goes first, one side at a time
        sides = ["ours", "reference"] if r % 2 == 0 else ["reference", "ours"]
        for side in sides:
            conn = workers[side][1]
            conn.send((3 + r * args.steps_per_round, args.steps_per_round))
            times[side].append(conn.recv() / args.steps_per_round)
    tables = {}
    for side, (proc, conn) in workers.items():
        if args.profile:
            conn.send(("profile", 3 + args.rounds * args.steps_per_round, args.profile))
            tables[side] = conn.recv()
        conn.send(None)
        proc.join()

    ips = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, "
          f"{args.image_size}x{args.image_size}x3, batch {args.batch_size}, width {args.width}, "
          f"{args.rounds} rounds x {args.steps_per_round} steps")
    print(f"reference (Sigmoid+BCELoss, .item() per step; {settings['reference']}): {ips['reference']:8.1f} images/s")
    print(f"ours (GANStep; {settings['ours']}): {ips['ours']:8.1f} images/s")
    # Each round times both sides back to back, so its ratio is paired against the machine's drift.
    ratios = sorted(b / a for a, b in zip(times["ours"], times["reference"]))
    print(f"speed-up: {ips['ours'] / ips['reference']:.2f}x (per-round ratios {ratios[0]:.2f}-{ratios[-1]:.2f}, "
          f"median {statistics.median(ratios):.2f})")
    for side, table in tables.items():
        print(f"\n{side}, {args.profile} steps under torch.profiler:\n{table}")


if __name__ == "__main__":
    main()
