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
    python bench/bench_dcgan.py --sizes 32 64 128 256 --steps-per-round 1   # ours, a row per image size
    python bench/bench_dcgan.py --rounds 0 --sample 10000   # the time to sample 10,000 images at 64x64
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


def _parser() -> argparse.ArgumentParser:
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
    parser.add_argument("--sizes", type=int, nargs="+", default=None, metavar="S",
                        help="instead of ours vs the reference: ours at each image size, a row per size, side by side")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="then time `rlgan-ls sample` of N images at --image-size (a run trained 1 step)")
    return parser


def _start(specs: dict[str, argparse.Namespace]) -> tuple[dict[str, tuple[mp.process.BaseProcess, Connection]],
                                                           dict[str, str]]:
    """One spawned worker per spec (fresh interpreters: none inherits another's memory state); their settings."""
    ctx = mp.get_context("spawn")
    workers: dict[str, tuple[mp.process.BaseProcess, Connection]] = {}
    for name, spec in specs.items():
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(spec.side, spec, there), daemon=True)
        proc.start()
        workers[name] = (proc, here)
    return workers, {name: conn.recv() for name, (_, conn) in workers.items()}  # built and warmed up in parallel


def _time_rounds(workers: dict[str, tuple[mp.process.BaseProcess, Connection]],
                 args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per step of every worker in every round; each round runs them one at a time, in a rotated order."""
    names = list(workers)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            conn = workers[name][1]
            conn.send((3 + r * args.steps_per_round, args.steps_per_round))
            times[name].append(conn.recv() / args.steps_per_round)
    return times


def _sample_time(args: argparse.Namespace) -> None:
    """Seconds to draw ``args.sample`` images from a (1-step) run at ``--image-size``, and to write them."""
    import tempfile
    from pathlib import Path

    from rlgan_ls.dcgan import sample, train_gan
    from rlgan_ls.dcgan.sample_commands import write_images

    with tempfile.TemporaryDirectory() as tmp:
        cfg = GANConfig(dataset="digits", image_size=args.image_size, channels=3, g_width=args.width,
                        d_width=args.width, batch_size=args.batch_size, steps=1, eval_samples=64,
                        classifier_steps=5, device=args.device, progress=False, logdir=tmp, run_name="run")
        run_dir = train_gan(cfg).run_dir
        t0 = time.perf_counter()
        images = sample(run_dir, args.sample, device=args.device)
        t1 = time.perf_counter()
        write_images(images, Path(tmp) / "images.npz", "npz")
        t2 = time.perf_counter()
        write_images(images, Path(tmp) / "pngs", "folder")
        t3 = time.perf_counter()
    print(f"sample {args.sample} images at {args.image_size}x{args.image_size}x3 (width {args.width}, "
          f"{torch.get_num_threads()} threads): generate {t1 - t0:.1f} s ({args.sample / (t1 - t0):.0f} images/s), "
          f"write .npz {t2 - t1:.1f} s, write PNGs {t3 - t2:.1f} s")


def main() -> None:
    args = _parser().parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the spawned workers
        torch.set_num_threads(args.threads)
    if args.sizes:
        specs = {f"{s}x{s}": argparse.Namespace(**{**vars(args), "image_size": s, "side": "ours"}) for s in args.sizes}
    else:
        specs = {side: argparse.Namespace(**{**vars(args), "side": side}) for side in ("ours", "reference")}
    if args.rounds:
        workers, settings = _start(specs)
        times = _time_rounds(workers, args)
        tables = {}
        for name, (proc, conn) in workers.items():
            if args.profile:
                conn.send(("profile", 3 + args.rounds * args.steps_per_round, args.profile))
                tables[name] = conn.recv()
            conn.send(None)
            proc.join()
        _report(args, settings, times, tables)
    if args.sample:
        _sample_time(args)


def _report(args: argparse.Namespace, settings: dict[str, str], times: dict[str, list[float]],
            tables: dict[str, str]) -> None:
    ips = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    size = "sizes " + ", ".join(map(str, args.sizes)) if args.sizes else f"{args.image_size}x{args.image_size}"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, "
          f"{size}, 3 channels, batch {args.batch_size}, width {args.width}, "
          f"{args.rounds} rounds x {args.steps_per_round} steps")
    if args.sizes:
        first = next(iter(times))
        print(f"ours (GANStep; {settings[first]}), one training step (D and G update):")
        print("| size | images/s | s/step | time per image vs the first size (per-round ratios) |")
        print("|---|---:|---:|---:|")
        for name, ts in times.items():
            ratios = sorted(b / a for a, b in zip(times[first], ts))
            print(f"| {name} | {ips[name]:.1f} | {statistics.median(ts):.2f} | {statistics.median(ratios):.2f}x "
                  f"({ratios[0]:.2f}-{ratios[-1]:.2f}) |")
    else:
        print(f"reference (Sigmoid+BCELoss, .item() per step; {settings['reference']}): "
              f"{ips['reference']:8.1f} images/s")
        print(f"ours (GANStep; {settings['ours']}): {ips['ours']:8.1f} images/s")
        # Each round times both sides back to back, so its ratio is paired against the machine's drift.
        ratios = sorted(b / a for a, b in zip(times["ours"], times["reference"]))
        print(f"speed-up: {ips['ours'] / ips['reference']:.2f}x (per-round ratios {ratios[0]:.2f}-{ratios[-1]:.2f}, "
              f"median {statistics.median(ratios):.2f})")
    for name, table in tables.items():
        print(f"\n{name}, {args.profile} steps under torch.profiler:\n{table}")


if __name__ == "__main__":
    main()
