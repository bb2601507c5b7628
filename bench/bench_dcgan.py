"""DCGAN training throughput: our trainer vs a plain reference loop, side by side in one process.

The reference is written the way the PyTorch DCGAN example trains (same architecture, a Sigmoid at
the end of D and ``nn.BCELoss``, two backward passes for D, D's weight gradients computed during the
G step, and ``.item()`` on five numbers every step). Ours is :meth:`GANTrainer.train_step` as the CLI
runs it (logits + the loss core, per-step metrics kept on the device). Both see the same batches;
blocks of steps alternate so machine noise hits both equally; we report median images/s.

    python bench/bench_dcgan.py [--device cpu|cuda] [--image-size 64] [--batch-size 64] [--rounds 4]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from rlgan_ls.dcgan.config import GANConfig
from rlgan_ls.dcgan.data import load_dataset
from rlgan_ls.dcgan.distributed import DistInfo
from rlgan_ls.dcgan.models import Discriminator, Generator
from rlgan_ls.dcgan.trainer import GANTrainer


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps-per-round", type=int, default=5)
    args = parser.parse_args()

    device = torch.device(args.device)
    cfg = GANConfig(dataset="digits", image_size=args.image_size, channels=3, batch_size=args.batch_size,
                    g_width=args.width, d_width=args.width, device=args.device, precision=args.precision,
                    channels_last=args.channels_last, compile=args.compile, progress=False)
    data = load_dataset("digits", cfg.image_size, channels=3)
    ours = GANTrainer(cfg, data, Path("unused"), DistInfo(0, 1, device))
    ref = ReferenceLoop(cfg, data.channels, device)

    def run_ours(step: int) -> None:
        real = data.batch(ours.order.indices(step), device).contiguous(memory_format=ours.memory_format)
        ours._rows.append(ours.train_step(real))
        if len(ours._rows) >= cfg.log_every:  # the trainer's read-back cadence
            torch.stack(ours._rows).cpu()
            ours._rows = []

    def run_ref(step: int) -> None:
        ref.step(data.batch(ours.order.indices(step), device))

    for fn in (run_ours, run_ref):  # warm-up (allocator, oneDNN primitives, compilation)
        for i in range(3):
            fn(i)
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for r in range(args.rounds):
        order = [("ours", run_ours), ("reference", run_ref)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            _sync(device)
            t0 = time.perf_counter()
            for i in range(args.steps_per_round):
                fn(r * args.steps_per_round + i)
            _sync(device)
            times[name].append((time.perf_counter() - t0) / args.steps_per_round)
    ips = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {device}, "
          f"threads {torch.get_num_threads()}, {args.image_size}x{args.image_size}x3, batch {args.batch_size}, "
          f"width {args.width}, precision {cfg.precision}, channels_last {ours.memory_format == torch.channels_last}, "
          f"compile {args.compile}")
    print(f"reference (Sigmoid+BCELoss, .item() per step): {ips['reference']:8.1f} images/s")
    print(f"ours (GANTrainer.train_step):                  {ips['ours']:8.1f} images/s")
    print(f"speed-up: {ips['ours'] / ips['reference']:.2f}x")


if __name__ == "__main__":
    main()
