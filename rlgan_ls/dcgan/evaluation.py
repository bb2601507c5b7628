"""Sample quality without downloads: a small classifier trained on the dataset's own labels.

The classifier is trained once per (dataset content, image size, channels, budget) and cached as
safetensors under ``$RLGAN_LS_CACHE`` (default ``~/.cache/rlgan-ls``). Its penultimate features and
its predictions give three numbers per evaluation:

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
``eval/mode_kl``
    KL(p_gen || uniform) between the generated mode histogram and the uniform one over 1000 modes, in
    nats (0: every mode equally often; log 1000 = 6.91: a single mode).

``eval/fd`` then uses the three channels' features side by side (3 x 64 dimensions).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import tags
from ..metrics import frechet_distance
from ..storage import cache_root, load_checkpoint, save_checkpoint
from .data import ImageData
from .mnist import mode_ids

__all__ = ["CONFIDENT", "MODES", "SHARE", "Evaluator", "EvalClassifier", "class_stats", "get_classifier", "mode_stats"]

CONFIDENT = 0.5
SHARE = 0.25
MODES = 1000  # of Stacked MNIST
_VERSION = 1  # bump when the architecture or the training recipe changes (invalidates caches)


class EvalClassifier(nn.Module):
    """Conv net ``(B, C, S, S) -> (B, K)``; ``features`` gives the ``(B, 64)`` penultimate layer."""

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size = channels, image_size
        for c_out in (16, 32, 64):  # each block halves H and W
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(True)]
            c_in, size = c_out, size // 2
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 64)
        self.head = nn.Linear(64, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def _fingerprint(data: ImageData, steps: int) -> str:
    h = hashlib.sha256()
    h.update(f"v{_VERSION}:{tuple(data.images.shape)}:{data.num_classes}:{steps}".encode())
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return h.hexdigest()[:20]


def _train(data: ImageData, steps: int, seed: int = 0) -> tuple[EvalClassifier, float]:
    """Train on 90% of the images; return the model and its accuracy on the other 10%."""
    gen = torch.Generator().manual_seed(seed)
    n = len(data)
    perm = torch.randperm(n, generator=gen)
    n_test = max(1, n // 10)
    test, train = perm[:n_test], perm[n_test:]
    with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
        torch.manual_seed(seed)
        model = EvalClassifier(data.channels, data.num_classes, data.images.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=steps)
    model.train()
    for _ in range(steps):
        idx = train[torch.randint(len(train), (min(128, len(train)),), generator=gen)]
        x = data.batch(idx)  # (B, C, S, S) in [-1, 1]
        shift = torch.randint(-2, 3, (2,), generator=gen).tolist()  # small translations
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        loss = F.cross_entropy(model(x), data.labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        acc = (model(data.batch(test)).argmax(-1) == data.labels[test]).float().mean().item()
    return model, acc


def get_classifier(data: ImageData, steps: int) -> tuple[EvalClassifier, float, Path]:
    """The cached classifier for ``data`` (trained and cached on first use): model, held-out accuracy, path."""
    path = cache_root() / "classifiers" / f"{data.name.split(':')[0]}-{_fingerprint(data, steps)}.safetensors"
    with torch.random.fork_rng(devices=[]):  # scoring never moves the run's global random state
        model = EvalClassifier(data.channels, data.num_classes, data.images.shape[-1])
    if path.is_file():
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        model.eval()
        return model, float(state["accuracy"]), path
    model, acc = _train(data, steps)
    save_checkpoint(path, {"model": model.state_dict(), "accuracy": acc, "dataset": data.name,
                           "num_classes": data.num_classes, "steps": steps, "version": _VERSION})
    return model, acc, path


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


def mode_stats(digits: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked MNIST: modes hit and KL(p_gen || uniform over 1000) from per-channel digits ``(N, 3)``."""
    ids = mode_ids(digits)  # (N,) mode of each sample
    p = torch.bincount(ids, minlength=MODES).double() / max(ids.numel(), 1)  # (1000,)
    return (p > 0).sum().double(), (torch.xlogy(p, p) + p * math.log(MODES)).sum()


@dataclass
class Evaluator:
    """Scores a generator against the real images with a fixed classifier.

    Build it once per run; real-image feature statistics are computed once. For a stacked dataset the
    classifier learns the single digits and every channel is scored on its own (module docstring).
    """

    classifier: EvalClassifier
    real_feats: Tensor  # (N_real, 64 * channels scored), CPU float64
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
        """``(N, C, S, S)`` generated images in [-1, 1] (CPU) -> eval/fd and the class or mode metrics."""
        feats, probs = zip(*(_features(self.classifier, chunk.float(), self.stacked) for chunk in images.split(512)))
        f_gen, p_gen = torch.cat(feats), torch.cat(probs)  # (N, F), (N, [C,] K)
        fd = frechet_distance(self.real_feats, f_gen.double())
        if self.stacked:
            modes, kl = mode_stats(p_gen.argmax(-1))
            return {tags.FD: fd, tags.MODES: modes, tags.MODE_KL: kl}
        coverage, kl, confident = class_stats(p_gen, self.real_hist)
        return {tags.FD: fd, tags.CLASS_COVERAGE: coverage, tags.CLASS_KL: kl, tags.CONFIDENT_FRAC: confident}


def _features(model: EvalClassifier, x: Tensor, stacked: bool) -> tuple[Tensor, Tensor]:
    """Features ``(B, 64)`` and class probabilities ``(B, K)``; stacked: every channel on its own, the
    features side by side ``(B, 64 C)`` and the probabilities ``(B, C, K)``."""
    if not stacked:
        f = model.features(x)
        return f, model.head(f).softmax(-1)
    per_channel = [model.features(x[:, c:c + 1]) for c in range(x.shape[1])]  # C x (B, 64)
    probs = torch.stack([model.head(f).softmax(-1) for f in per_channel], dim=1)  # (B, C, K)
    return torch.cat(per_channel, dim=1), probs
