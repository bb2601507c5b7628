"""Sample quality without downloads: a small classifier trained on the dataset's own labels.

The classifier (:mod:`rlgan_ls.dcgan.classifier`: trained once per dataset, cached) gives, through its
penultimate features and its predictions, three numbers per evaluation:

``eval/fd``
    Fréchet distance between Gaussians fitted to the features of real and generated images (the
    FID recipe with a dataset-specific network in place of Inception; values are comparable only
    between runs that use the same classifier).
``eval/class_coverage``
    Number of classes covered. A generated sample counts when the classifier's top probability is at
    least ``CONFIDENT`` (0.5); class ``c`` is covered when it receives at least ``SHARE`` (25%) of the
    share it has among real images: ``n_c / n_confident >= 0.25 * p_real(c)``. With 10 balanced
    classes a class needs 2.5% of the confident samples, so a collapsed generator scores low.
``eval/class_kl``
    KL(p_gen || p_real) between the histogram of predicted classes (all samples, argmax) and the
    real label histogram, in nats; 0 when the generator's class mix matches the data.

Stacked MNIST (:mod:`rlgan_ls.dcgan.mnist`) is scored as in PacGAN (Lin et al., 2018): the classifier
learns single digits, each channel of a sample is classified on its own, the three digits name the
sample's mode, and

``eval/modes``
    the number of the 1000 modes that receive at least one sample (PacGAN counts them over 26,000
    samples: ``--eval-samples 26000``, as in ``gan/stacked-mnist-5k.toml``);
``eval/modes_robust``
    the number of modes that hold at least ``k = robust_threshold(N)`` of the N samples (below);
``eval/mode_kl``
    KL(p_gen || uniform) between the generated mode histogram and the uniform one over 1000 modes, in
    nats (0: every mode equally often; log 1000 = 6.91: a single mode).

``eval/fd`` then uses the three channels' features side by side (3 x 128 dimensions).

Why a robust count. A misread channel moves a sample into a mode that differs in that digit, a mode the
generator may not have at all: one misread is one more hit. On 26,000 stacks of real digits 0-4 only
(125 modes exist), the version-1 classifier (96.6 % held-out) read 538 modes hit; this one (99.4 %) reads
179, and 201 when every stack is made of held-out digits. ``eval/modes_robust`` counts a mode when it holds
at least ``k = max(1, ceil(N / 3000))`` of the N samples: a third (``ROBUST_SHARE``) of the ``N / 1000``
that a uniform generator gives each mode, so k follows ``--eval-samples`` (9 at N = 26,000; 1, the
hit-once count, for N <= 3000). Measured at N = 26,000 (``bench/bench_modes.py``; ``bench/RESULTS.md``, "A
mode count you can trust"): real stacked images keep 1000 modes (994 when every stack is of held-out
digits), real digits 0-4 read 125 (129), 125 fixed images repeated 125, one image repeated 1. Why a
third: misreads put at most 3 samples (14 with held-out digits, each reused about 350 times) into a mode
that has none, while the modes of real stacked images hold at least 10 (7); k = 7 lets 140 modes of the
held-out 0-4 set through and k = 10 already drops 10 real modes of the held-out set; a perfect uniform
generator's modes (Poisson, mean 26) fall below 9 with probability 4e-5. A generator whose images the
classifier misreads more often than real digits still inflates the count, by less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor

from .. import tags
from ..metrics import frechet_distance
from .classifier import EvalClassifier, get_classifier
from .data import ImageData
from .mnist import mode_ids

__all__ = ["CONFIDENT", "MODES", "ROBUST_SHARE", "SHARE", "Evaluator", "EvalClassifier", "class_stats",
           "get_classifier", "mode_histogram", "mode_stats", "robust_threshold"]

CONFIDENT = 0.5
SHARE = 0.25
MODES = 1000  # of Stacked MNIST
ROBUST_SHARE = Fraction(1, 3)
"""A mode counts in ``eval/modes_robust`` when it holds this share of a uniform generator's N / 1000."""


def class_stats(probs: Tensor, real_hist: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Coverage count, KL(p_gen || p_real) and the confident fraction, from ``(N, K)`` probabilities.

    ``real_hist`` is the ``(K,)`` real class distribution. See the module docstring for the rule.
    """
    k = probs.shape[-1]
    conf, pred = probs.max(-1)  # (N,)
    confident = conf >= CONFIDENT
    counts = torch.bincount(pred[confident], minlength=k).double()  # (K,)
    n_conf = counts.sum().clamp_min(1.0)
    covered = (counts / n_conf >= SHARE * real_hist.double()) & (counts > 0)
    gen_hist = torch.bincount(pred, minlength=k).double() / max(pred.numel(), 1)  # (K,)
    real = real_hist.double()
    kl = (torch.xlogy(gen_hist, gen_hist) - gen_hist * real.clamp_min(1e-12).log()).sum()
    return covered.sum().double(), kl, confident.double().mean()


def robust_threshold(n: int) -> int:
    """``k``: the samples of ``n`` a Stacked MNIST mode must hold to count in ``eval/modes_robust``."""
    return max(1, math.ceil(ROBUST_SHARE * n / MODES))


def mode_histogram(digits: Tensor) -> Tensor:
    """Stacked MNIST: samples per mode ``(1000,)`` (int64) from per-channel digits ``(N, 3)``."""
    return torch.bincount(mode_ids(digits), minlength=MODES)


def mode_stats(digits: Tensor) -> dict[str, Tensor]:
    """Stacked MNIST from per-channel digits ``(N, 3)``: ``eval/modes`` (hit at least once),
    ``eval/modes_robust`` (holding at least :func:`robust_threshold` ``(N)``) and ``eval/mode_kl``
    (KL(p_gen || uniform over 1000))."""
    counts = mode_histogram(digits)  # (1000,)
    n = len(digits)
    p = counts.double() / max(n, 1)
    return {tags.MODES: (counts > 0).sum().double(),
            tags.MODES_ROBUST: (counts >= robust_threshold(n)).sum().double(),
            tags.MODE_KL: (torch.xlogy(p, p) + p * math.log(MODES)).sum()}


@dataclass
class Evaluator:
    """Scores a generator against the real images with a fixed classifier.

    Build it once per run; real-image feature statistics are computed once. For a stacked dataset the
    classifier learns the single digits and every channel is scored on its own (module docstring).
    """

    classifier: EvalClassifier
    real_feats: Tensor  # (N_real, FEATURES * channels scored), CPU float64
    real_hist: Tensor  # (K,)
    accuracy: float
    stacked: bool = False

    @classmethod
    def build(cls, data: ImageData, steps: int, max_real: int = 5000) -> Evaluator:
        model, acc, _ = get_classifier(data.components or data, steps)
        stacked = data.components is not None
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:max_real]
        with torch.no_grad():
            feats = torch.cat([_features(model, data.batch(i), stacked)[0] for i in idx.split(512)])
        hist = torch.bincount(data.labels, minlength=data.num_classes).double() / len(data)
        return cls(model, feats.double(), hist, acc, stacked)

    @torch.no_grad()
    def score(self, images: Tensor) -> dict[str, Tensor]:
        """``(N, C, S, S)`` images (CPU), float in [-1, 1] or uint8 in [0, 255] -> eval/fd and the class or
        mode metrics."""
        feats, probs = zip(*(_features(self.classifier, _as_float(chunk), self.stacked) for chunk in images.split(512)))
        f_gen, p_gen = torch.cat(feats), torch.cat(probs)  # (N, F), (N, [C,] K)
        fd = frechet_distance(self.real_feats, f_gen.double())
        if self.stacked:
            return {tags.FD: fd, **mode_stats(p_gen.argmax(-1))}
        coverage, kl, confident = class_stats(p_gen, self.real_hist)
        return {tags.FD: fd, tags.CLASS_COVERAGE: coverage, tags.CLASS_KL: kl, tags.CONFIDENT_FRAC: confident}

    @torch.no_grad()
    def digits(self, images: Tensor) -> Tensor:
        """Stacked MNIST: the digit the classifier reads in each channel, ``(N, C)``, of ``(N, C, S, S)`` images
        (float in [-1, 1] or uint8); what :meth:`score` counts modes from."""
        return torch.cat([_features(self.classifier, _as_float(chunk), True)[1].argmax(-1)
                          for chunk in images.split(512)])


def _as_float(x: Tensor) -> Tensor:
    """uint8 in [0, 255] to float in [-1, 1] (as :meth:`ImageData.batch` does); float stays float32."""
    return x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x.float()


def _features(model: EvalClassifier, x: Tensor, stacked: bool) -> tuple[Tensor, Tensor]:
    """Features ``(B, F)`` and class probabilities ``(B, K)``; stacked: every channel on its own, the
    features side by side ``(B, F C)`` and the probabilities ``(B, C, K)``."""
    if not stacked:
        f = model.features(x)
        return f, model.head(f).softmax(-1)
    per_channel = [model.features(x[:, c:c + 1]) for c in range(x.shape[1])]  # C x (B, F)
    probs = torch.stack([model.head(f).softmax(-1) for f in per_channel], dim=1)  # (B, C, K)
    return torch.cat(per_channel, dim=1), probs
