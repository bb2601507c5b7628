"""Stacked MNIST (issue 12): mode collapse under label smoothing, beside PacGAN's published rows.

    python bench/bench_stacked.py [--steps 5000] [--seeds 0 1 2] [--workers 2] [--d-width 32] [--logdir DIR]

Runs `rlgan-ls sweep gan --dataset stacked-mnist-5k` (the recipe: DCGAN widths 32, 32x32, batch 64, no
DiffAugment, 26,000 samples per evaluation) for alpha in {0, 0.1, 0.2, 0.3} with one-sided smoothing and
alpha in {0.1, 0.2, 0.3} with two-sided smoothing. alpha = 0 is the unsmoothed objective (targets 1 and
0), which is what --smoothing none trains, so it is one row. Prints modes hit (of 1000), KL to the
uniform mode distribution, FD and the mean generator gradient norm: mean ± standard deviation over seeds.
--d-width 8 gives the weak-discriminator setting (D a quarter of G's width, as PacGAN's Table 3).
Rerunning with the same --logdir skips finished cells.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rlgan_ls import tags
from rlgan_ls.runs import Run
from rlgan_ls.study.sweep import SweepPlan, cell_name, run_sweep

COLUMNS = (tags.MODES, tags.MODE_KL, tags.FD, tags.GRAD_G_MEAN)
PUBLISHED = (  # PacGAN (Lin et al., 2018), Table 2: DCGAN-sized networks; Table 3: D a quarter of G
    ("DCGAN (PacGAN Table 2)", "99", "3.40"), ("ALI", "16", "5.40"), ("Unrolled GAN", "48.7", "4.32"),
    ("VEEGAN", "150", "2.95"), ("PacDCGAN2", "1000", "0.06"), ("DCGAN, D = ¼ G (PacGAN Table 3)", "30.6", "5.99"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--d-width", type=int, default=32, help="discriminator width (G's is 32; 8 is the weak D)")
    ap.add_argument("--logdir", default="runs/bench-stacked")
    args = ap.parse_args()
    root = Path(args.logdir) / f"d{args.d_width}-steps{args.steps}"
    common = ["--steps", str(args.steps), "--augment", "", "--d-width", str(args.d_width)]
    grid = [("one-sided", [0.0, 0.1, 0.2, 0.3]), ("two-sided", [0.1, 0.2, 0.3])]
    rows = []
    for smoothing, alphas in grid:
        exp = root / smoothing
        run_sweep(SweepPlan("gan", alphas, args.seeds, exp, ["stacked-mnist-5k"], [*common, "--smoothing", smoothing],
                            args.workers))
        for a in alphas:
            runs = [r.metrics for s in args.seeds if (r := Run(exp / cell_name("stacked-mnist-5k", a, s))).finished]
            label = "none (α = 0)" if a == 0 else f"{smoothing}, α = {a:g}"
            cells = [f"{statistics.fmean(r[c] for r in runs):.3g} ± {statistics.pstdev(r[c] for r in runs):.2g}"
                     if runs else "failed" for c in COLUMNS]
            rows.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    print(f"Stacked MNIST (5000 offline digits), {args.steps} steps, G width 32, D width {args.d_width}, "
          f"seeds {args.seeds}:\n")
    print("| setting | seeds | " + " | ".join(f"`{c}`" for c in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    print("\n".join(rows))
    print("\nPublished (PacGAN, Lin et al., 2018; other networks, data and budgets):\n")
    print("| method | modes | KL |\n|---|---:|---:|")
    print("\n".join(f"| {m} | {n} | {k} |" for m, n, k in PUBLISHED))


if __name__ == "__main__":
    main()
