"""Forward + backward of rlgan_ls.smoothed_cross_entropy vs F.cross_entropy(label_smoothing=α).

Both run side by side in one process on the same inputs, interleaved round by round so that
machine noise hits both equally; we report the ratio of median times (ours / PyTorch's).

Also the achieved memory bandwidth of ours: fwd+bwd must at least read the (N, K) float32 logits twice
(forward, backward) and write their gradient once, 12·N·K bytes; that over the median time, and as a
fraction of the device's peak when it is known (``--peak-gbs``, or the datasheet figure of a GPU this
script knows by name).

    python bench/bench_loss.py [--device cpu|cuda] [--repeats 30] [--classes 2 1000 32768 131072] [--peak-gbs G]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from rlgan_ls import smoothed_cross_entropy


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def bench(n: int, k: int, alpha: float, device: torch.device, repeats: int) -> tuple[float, float]:
    gen = torch.Generator(device="cpu").manual_seed(k)
    logits = torch.randn(n, k, generator=gen).to(device).requires_grad_(True)
    labels = torch.randint(0, k, (n,), generator=gen).to(device)

    def ours() -> None:
        smoothed_cross_entropy(logits, labels, alpha).backward()
        logits.grad = None

    def theirs() -> None:
        F.cross_entropy(logits, labels, label_smoothing=alpha).backward()
        logits.grad = None

    for _ in range(3):  # warm-up (allocator, lazy init)
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for i in range(repeats):  # alternate the order each round
        pair = (ours, theirs) if i % 2 == 0 else (theirs, ours)
        for fn in pair:
            (t_ours if fn is ours else t_theirs).append(_time(fn, device))
    return statistics.median(t_ours), statistics.median(t_theirs)


PEAK_GBS = {  # HBM bandwidth from the vendors' datasheets, GB/s
    "H100 80GB HBM3": 3350.0,  # H100 SXM5
    "H100 PCIe": 2000.0,
    "H100 NVL": 3900.0,
    "H200": 4800.0,
    "A100-SXM4-80GB": 2039.0,
    "A100-SXM4-40GB": 1555.0,
}


def peak_bandwidth(name: str) -> float | None:
    """The datasheet peak (GB/s) of a GPU whose name contains a known key, else None."""
    return next((v for k, v in PEAK_GBS.items() if k in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 18, 1000, 32000])
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--peak-gbs", type=float, default=None, help="the device's peak memory bandwidth, GB/s")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak = args.peak_gbs or (peak_bandwidth(name) if device.type == "cuda" else None)
    print(f"# torch {torch.__version__}, device {device} ({name}), threads {torch.get_num_threads()}, "
          f"N={args.n}, float32, alpha={args.alpha}, {args.repeats} rounds, peak {peak or 'unknown'} GB/s")
    print("| K | rlgan_ls median (ms) | F.cross_entropy median (ms) | ratio (ours / torch) | ours GB/s | of peak |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in args.classes:
        ours, theirs = bench(args.n, k, args.alpha, device, args.repeats)
        gbs = 12 * args.n * k / ours / 1e9
        share = f"{gbs / peak:.0%}" if peak else "-"
        row = f"| {k} | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | {ours / theirs:.3f} | {gbs:.1f} | {share} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
