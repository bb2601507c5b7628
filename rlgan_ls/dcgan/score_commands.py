"""``rlgan-ls score``: images from anywhere scored with the suite's evaluator (torch-fidelity's convention).

    rlgan-ls score samples/ --dataset stacked-mnist-5k                 # a folder of PNGs
    rlgan-ls score samples.npz --dataset stacked-mnist-5k --json       # one JSON object, metrics.json's keys
    rlgan-ls score fake.npy --dataset mnist-5k                         # uint8 [0, 255] or float [-1, 1]

Users with their own GANs get the numbers a run of this suite would log for the same images. The work is
:func:`rlgan_ls.dcgan.scoring.score`'s; every check (dataset, settings, the images) comes before the
classifier is trained or loaded.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import tags

__all__ = ["register"]

_NOTES = {tags.MODES: "modes hit at least once (PacGAN's count)", tags.MODE_KL: "nats, KL to uniform over 1000",
          tags.CLASSIFIER_ACCURACY: "of held-out real images"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score images from anywhere (PNG folder, .npy, .npz) with the suite's evaluator",
                       description="Score N images with the evaluator a GAN run on --dataset at their size uses (the "
                                   "same cached classifier): eval/fd and the class metrics, or for Stacked MNIST "
                                   "eval/modes, eval/modes_robust and eval/mode_kl. SAMPLES is a folder of PNG files, "
                                   "a .npy array or a .npz archive (one array, or one named 'images'; never "
                                   "unpickled) of N x C x H x W images, uint8 in [0, 255] or float in [-1, 1].")
    p.add_argument("samples", metavar="SAMPLES", help="a folder of PNGs, FILE.npy or FILE.npz")
    p.add_argument("--dataset", required=True, help="the dataset whose evaluator scores them (e.g. stacked-mnist-5k)")
    p.add_argument("--json", action="store_true", help="print one JSON object with metrics.json's keys")
    p.add_argument("--classifier-steps", type=int, default=None,
                   help="the classifier's training budget (default: the dataset recipe's, as its runs use)")
    p.add_argument("--max-images", type=int, default=None,
                   help="the dataset's first N images only, as a run with --max-images N")
    p.add_argument("--data-root", default=None, help="where torchvision datasets live (as 'rlgan-ls gan')")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download a missing torchvision dataset")
    p.set_defaults(func=_score)


def _score(args: argparse.Namespace) -> int:
    from .evaluation import robust_threshold
    from .scoring import evaluate, prepare

    images, cfg = prepare(args.samples, args.dataset, classifier_steps=args.classifier_steps,
                          data_root=args.data_root, download=args.download, max_images=args.max_images)
    n, c, h, w = images.shape
    print(f"scoring {n} images ({c}x{h}x{w}) from {args.samples} with the {cfg.dataset} evaluator (its classifier: "
          f"{cfg.classifier_steps} steps, trained on first use, then cached)", file=sys.stderr, flush=True)
    metrics = evaluate(images, cfg)
    if args.json:
        print(json.dumps(metrics))
        return 0
    notes = {**_NOTES, tags.MODES_ROBUST: f"modes holding at least k = {robust_threshold(n)} of the {n} images"}
    width = max(map(len, metrics))
    for key, value in metrics.items():
        note = f"   ({notes[key]})" if key in notes else ""
        print(f"{key:<{width}}  {value:.6g}{note}")
    return 0
