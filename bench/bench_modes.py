"""A mode count you can trust (issue 20): what the Stacked MNIST evaluator reads on sets whose modes are known.

    python bench/bench_modes.py [--steps 2000] [--n 26000] [--threads 1]

Builds the evaluator a `stacked-mnist-5k` run builds (`Evaluator.build(load_dataset("stacked-mnist-5k", 32),
steps)`; its classifier trained, or loaded from $RLGAN_LS_CACHE), reports its held-out accuracy and training
time, then scores sets of real stacked digits whose modes are known:

- real stacked images: the 25,600 training images (1000 modes), and N fresh stacks of held-out digits only;
- digits 0-4 only, diverse: N stacks of real digits 0-4 (125 modes), from all 2500 such digits and from the
  held-out ones only (about 250, digits the classifier never saw);
- 125 fixed images (one stack per 0-4 mode) repeated to N; one image repeated to N.

The classifier reads each channel on its own (``Evaluator.digits``), so every digit image is read once and
a stack's digits are its three images' reads; the first 2000 stacks are also read as images to check that.
For each set it prints `eval/modes` (hit at least once), `eval/modes_robust` at the chosen k, the count at
other thresholds, the fewest samples in a mode that exists and the most in one that does not; then
`Evaluator.score` on the 25,600 training images end to end, and how long it takes.
"""

from __future__ import annotations

import argparse
import time

import torch

from rlgan_ls import tags
from rlgan_ls.dcgan.classifier import get_classifier, split
from rlgan_ls.dcgan.data import load_dataset
from rlgan_ls.dcgan.evaluation import Evaluator, mode_histogram, mode_stats, robust_threshold
from rlgan_ls.dcgan.mnist import mode_ids, stack_digits

THRESHOLDS = (1, 2, 3, 5, 7, 8, 9, 10, 12, 15, 20)


def _stacks(pool: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``(n, 3)`` indices of digit images, each drawn uniformly from ``pool``."""
    return pool[torch.randint(len(pool), (n, 3), generator=torch.Generator().manual_seed(seed))]


def _row(name: str, reads: torch.Tensor, truth: torch.Tensor) -> str:
    """One table row: ``reads`` and ``truth`` are ``(N, 3)`` digits (what the classifier read, what is there)."""
    counts, exists = mode_histogram(reads), mode_histogram(truth) > 0
    stats = {k: float(v) for k, v in mode_stats(reads).items()}
    at = " | ".join(str(int((counts >= k).sum())) for k in THRESHOLDS)
    fewest = int(counts[exists].min())
    most_spurious = int(counts[~exists].max()) if (~exists).any() else 0
    return (f"| {name} | {len(reads)} | {int(exists.sum())} | {stats[tags.MODES]:.0f} | "
            f"{stats[tags.MODES_ROBUST]:.0f} | {at} | {fewest} | {most_spurious} | {stats[tags.MODE_KL]:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000, help="the classifier's budget (the recipes': 2000)")
    ap.add_argument("--n", type=int, default=26_000, help="samples per set (PacGAN's 26,000)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("stacked-mnist-5k", 32)
    digits = data.components
    assert digits is not None
    t0, c0 = time.perf_counter(), time.process_time()
    _, _, path = get_classifier(digits, args.steps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = Evaluator.build(data, args.steps)
    print(f"classifier: {args.steps} steps, held-out accuracy {ev.accuracy:.4f} (500 digits), "
          f"{wall:.1f} s wall / {cpu:.1f} s CPU to train or load ({path.name}); k = {robust_threshold(args.n)} "
          f"at N = {args.n}\n")

    images, labels = digits.images, digits.labels
    read = torch.cat([ev.digits(images[i]) for i in torch.arange(len(images)).split(1000)])[:, 0]  # (5000,)
    held_out = split(len(images))[0]
    low_all = torch.nonzero(labels < 5).squeeze(1)
    low_held = held_out[labels[held_out] < 5]
    _, _, pick = stack_digits(images, torch.arange(len(images)))  # the training set's (25,600, 3) digit images
    check = ev.digits(data.images[:2000])
    assert torch.equal(check, read[pick[:2000]]), "a stack's reads differ from its three digits' reads"

    fixed = _stacks(low_all, 20_000, seed=3)
    modes = mode_ids(labels[fixed])
    first = torch.stack([fixed[modes == m][0] for m in torch.unique(modes)])  # (125, 3): one stack per mode
    repeated = first.repeat((args.n + 124) // 125, 1)[:args.n]
    sets = {
        "real stacked images (the 25,600 training images)": pick,
        "real stacked, held-out digits only": _stacks(held_out, args.n, seed=1),
        "digits 0-4, diverse (all 2500)": _stacks(low_all, args.n, seed=2),
        f"digits 0-4, diverse (held-out only, {len(low_held)})": _stacks(low_held, args.n, seed=2),
        "125 fixed images repeated": repeated,
        "one image repeated": first[:1].repeat(args.n, 1),
    }
    print("| set | N | modes there | `eval/modes` | `eval/modes_robust` | "
          + " | ".join(f"≥ {k}" for k in THRESHOLDS) + " | fewest in a mode there | most in a mode not there | "
          "`eval/mode_kl` |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(THRESHOLDS) + "---:|---:|---:|")
    for name, idx in sets.items():
        print(_row(name, read[idx], labels[idx]))
    t0 = time.perf_counter()
    end_to_end = {k: round(float(v), 3) for k, v in ev.score(data.images).items()}  # uint8, as `rlgan-ls score`
    print(f"Evaluator.score on the 25,600 training images themselves: {end_to_end} in "
          f"{time.perf_counter() - t0:.1f} s\n")
    wrong = read != labels
    low = sets["digits 0-4, diverse (all 2500)"]
    print(f"\nmisread digits: {wrong.float().mean():.4f} of all 5000, {wrong[held_out].float().mean():.4f} of the "
          f"held-out 500; stacks of 0-4 digits with a misread channel: {wrong[low].any(1).float().mean():.4f}")


if __name__ == "__main__":
    main()
