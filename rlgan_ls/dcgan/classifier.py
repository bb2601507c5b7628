"""The evaluation classifier: a small CNN trained once per dataset on its own labels, then cached.

It is trained once per (dataset content, image size, channels, budget) and cached as safetensors under
``$RLGAN_LS_CACHE/classifiers`` (default ``~/.cache/rlgan-ls``); ``_VERSION`` is part of the cache key,
so a change of the architecture or of the recipe never reuses an old file.

The recipe (version 3, issue 20): convolutions of 32 and 64 channels with stride 2, one more of 64 with
stride 1, one of 128 with stride 2 (BatchNorm and ReLU after each), global average pooling (the 128
features FD uses) and a linear head; trained on 90 % of the images (the other 10 % are held out:
:func:`split`) with Adam, a one-cycle learning rate (peak 5e-3), batches of 128, cross-entropy with
label smoothing 0.1, and a random affine transform of every training image (rotation up to 12 degrees,
scale within 10 %, shift up to 1/16 of the side, borders replicated). On the 5000 digits of ``mnist-5k``
at 32x32 it reads 99.4 % of the held-out digits at 2000 steps (the budget of ``gan/mnist-5k.toml`` and
``gan/stacked-mnist-5k.toml``; 99.2-99.4 % over three different held-out tenths), 99.0 % at 400 (the
default) and 98.8 % at 200; version 1 (convolutions of 16, 32 and 64 channels, 400 steps, shifts only)
read 96.6 %. The measurement is in ``bench/RESULTS.md`` ("A mode count you can trust").
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UsageError
from ..storage import cache_root, load_checkpoint, save_checkpoint
from .data import ImageData

__all__ = ["FEATURES", "EvalClassifier", "augment", "get_classifier", "split"]

WIDTHS = (32, 64, 128)
FEATURES = WIDTHS[-1]
"""Width of the penultimate layer (the features FD compares)."""
_VERSION = 3  # bump when the architecture or the training recipe changes (invalidates caches)
_BATCH = 128
_LR = 5e-3
_SMOOTHING = 0.1
_ROTATION = 12.0  # degrees
_SCALE = 0.1
_SHIFT = 1 / 16  # of the image side


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


class EvalClassifier(nn.Module):
    """Conv net ``(B, C, S, S) -> (B, K)``; ``features`` gives the ``(B, FEATURES)`` penultimate layer."""

    def __init__(self, channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        a, b, c = WIDTHS
        layers = [*_block(channels, a, 2), *_block(a, b, 2), *_block(b, b, 1), *_block(b, c, 2)]  # S -> S / 8
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, FEATURES)
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def augment(x: Tensor, gen: torch.Generator) -> Tensor:
    """A random rotation, scale and shift of every image of ``x`` ``(B, C, S, S)``, borders replicated."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(_ROTATION)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * _SCALE
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 * _SHIFT)  # affine_grid's [-1, 1] spans the side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, S, S, 2)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def split(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Indices ``(held_out, train)`` of ``n`` images: the classifier trains on 90 % and is scored on the rest."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, n // 10)
    return perm[:n_test], perm[n_test:]


def _fingerprint(data: ImageData, steps: int) -> str:
    h = hashlib.sha256()
    h.update(f"v{_VERSION}:{tuple(data.images.shape)}:{data.num_classes}:{steps}".encode())
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return h.hexdigest()[:20]


def _train(data: ImageData, steps: int, seed: int = 0) -> tuple[EvalClassifier, float]:
    """Train on 90% of the images; return the model and its accuracy on the other 10%."""
    gen = torch.Generator().manual_seed(seed)
    test, train = split(len(data), seed)
    with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
        torch.manual_seed(seed)
        model = EvalClassifier(data.channels, data.num_classes, data.images.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=_LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=_LR, total_steps=steps)
    model.train()
    for _ in range(steps):
        idx = train[torch.randint(len(train), (min(_BATCH, len(train)),), generator=gen)]
        x = augment(data.batch(idx), gen)  # (B, C, S, S) in [-1, 1]
        loss = F.cross_entropy(model(x), data.labels[idx], label_smoothing=_SMOOTHING)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        hits = torch.cat([model(data.batch(i)).argmax(-1) == data.labels[i] for i in test.split(1024)])
    return model, hits.float().mean().item()


def get_classifier(data: ImageData, steps: int) -> tuple[EvalClassifier, float, Path]:
    """The cached classifier for ``data`` (trained and cached on first use): model, held-out accuracy, path."""
    path = cache_root() / "classifiers" / f"{data.name.split(':')[0]}-{_fingerprint(data, steps)}.safetensors"
    with torch.random.fork_rng(devices=[]):  # scoring never moves the run's global random state
        model = EvalClassifier(data.channels, data.num_classes, data.images.shape[-1])
    if path.is_file():
        try:
            state = load_checkpoint(path)
            model.load_state_dict(state["model"])
            model.eval()
            return model, float(state["accuracy"]), path
        except (UsageError, RuntimeError, KeyError):  # corrupt, or another architecture: trained again below
            pass
    model, acc = _train(data, steps)
    save_checkpoint(path, {"model": model.state_dict(), "accuracy": acc, "dataset": data.name,
                           "num_classes": data.num_classes, "steps": steps, "version": _VERSION})
    return model, acc, path
