"""``rlgan-ls core-demo``: a worked example of the loss core on a small batch.

It prints, for K = 5 classes and a few smoothing strengths, the smoothed targets, the loss and
both terms of its decomposition, and checks the identity numerically so the user sees it hold.
"""

from __future__ import annotations

import argparse
import math

import torch

from .losses import discriminator_loss, smoothed_cross_entropy
from .metrics import entropy
from .smoothing import ordinal_prior, smooth_targets


def run(alphas: list[float], num_classes: int = 5, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, num_classes, generator=gen, dtype=torch.float64)  # (N, K)
    labels = torch.tensor([0, 1, 2, 3]) % num_classes
    torch.set_printoptions(precision=4, sci_mode=False)
    print(f"Student logits (N=4, K={num_classes}), labels {labels.tolist()}; "
          f"student entropy {entropy(logits).mean():.4f} nats (max log K = {math.log(num_classes):.4f})\n")
    for alpha in alphas:
        p = smooth_targets(labels[:1], num_classes, alpha, dtype=torch.float64)
        loss, parts = smoothed_cross_entropy(logits, labels, alpha, return_parts=True)
        recon = (1 - alpha) * parts.ce_base + alpha * (parts.kl_prior + parts.entropy_prior)
        print(f"alpha = {alpha}")
        print(f"  smoothed target for class {int(labels[0])}: {p[0]}")
        print(f"  CE(p, q)                   = {loss:.6f}")
        print(f"  (1-a)*CE(onehot, q)        = {(1 - alpha) * parts.ce_base:.6f}")
        print(f"  a*(KL(u||q) + log K)       = {alpha * (parts.kl_prior + parts.entropy_prior):.6f}"
              f"   [KL(u||q) = {parts.kl_prior:.6f}]")
        print(f"  identity error             = {abs(float(loss - recon)):.2e}\n")
    alpha = alphas[-1]
    ordinal = ordinal_prior(num_classes)
    print(f"Ordinal prior (adjacent classes), alpha = {alpha}, class 2: "
          f"{smooth_targets(torch.tensor([2]), num_classes, alpha, ordinal, dtype=torch.float64)[0]}\n")
    real = torch.full((8,), 4.0, dtype=torch.float64)  # D is very sure the reals are real
    fake = torch.full((8,), -4.0, dtype=torch.float64)
    print("GAN discriminator on confident logits (+4 for reals, -4 for fakes):")
    for mode in ("none", "one-sided"):
        print(f"  {mode:>9}: loss {discriminator_loss(real, fake, alpha, mode=mode):.4f}; "
              f"the real target is {1.0 if mode == 'none' else 1 - alpha}, so D's optimum on reals is capped "
              f"at {'1' if mode == 'none' else f'{1 - alpha}'}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("core-demo", help="print smoothed targets, losses and the KL-to-uniform identity",
                       description="A worked example of the loss core: smoothed targets for each --alpha, the "
                                   "smoothed cross-entropy and its split into CE + KL(uniform || q) + log K "
                                   "checked numerically, an ordinal prior, and the capped discriminator.")
    p.add_argument("--alpha", type=float, nargs="+", default=[0.0, 0.1, 0.3],
                   help="smoothing strengths to show (default: 0 0.1 0.3)")
    p.add_argument("--classes", type=int, default=5, help="number of classes K (default: 5)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from .errors import UsageError
    from .smoothing import check_alpha, check_num_classes

    for a in args.alpha:
        check_alpha(a, "--alpha", UsageError)
    check_num_classes(args.classes, "--classes", UsageError)
    run(args.alpha, args.classes)
    return 0
