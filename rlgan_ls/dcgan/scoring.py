"""Images from anywhere, scored with the suite's evaluator: :func:`score` and ``rlgan-ls score``.

Images are ``(N, C, H, W)`` with ``C`` 1 or 3 and ``H == W``: uint8 (or any integer type) in [0, 255], or
float in [-1, 1] (a generator's tanh). From a file they come as

- a folder of PNG files (read with PIL in name order; greyscale or RGB, all of one size), as
  ``rlgan-ls sample --out DIR`` writes them;
- a ``.npy`` array, or a ``.npz`` archive holding one array (or an array named ``images``, as
  ``rlgan-ls sample --out FILE.npz`` writes), both read with ``allow_pickle=False``: nothing is unpickled.

They are scored by the evaluator that a GAN run on the dataset at their size would build (the same cached
classifier, :class:`~rlgan_ls.dcgan.evaluation.Evaluator`; its budget is the dataset recipe's
``classifier_steps`` unless given), so the keys are those of the run's ``metrics.json`` and the same images
get the same numbers: ``eval/fd`` and the class metrics, or for Stacked MNIST ``eval/modes``,
``eval/modes_robust`` and ``eval/mode_kl``; ``eval/classifier_accuracy`` says how well the classifier reads
held-out real images. Anything else is refused with a :class:`UsageError` of one line.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import tags
from ..errors import UsageError
from .config import GANConfig
from .data import load_dataset
from .evaluation import Evaluator

__all__ = ["as_images", "evaluate", "load_images", "prepare", "score"]

_MIN_SIZE = 8
_PIL_CHANNELS = {"L": 1, "RGB": 3}
_CONVERT = {"1": "L", "LA": "L", "P": "RGB", "RGBA": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}


def _png_folder(folder: Path, what: str) -> np.ndarray:
    """The PNG files of ``folder`` in name order as one uint8 ``(N, C, H, W)`` array."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise UsageError(f"{what} {folder}: the folder holds no .png files")
    arrays, first = [], None
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(_CONVERT[im.mode]) if im.mode in _CONVERT else im
                if im.mode not in _PIL_CHANNELS:
                    raise UsageError(f"{what} {f}: a {im.mode} image; pass 8-bit greyscale or RGB PNGs")
                a = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise UsageError(f"{what} {f}: not a readable PNG ({type(e).__name__})") from None
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (C, H, W)
        if first is not None and a.shape != first:
            raise UsageError(f"{what} {f}: {'x'.join(map(str, a.shape))} (C x H x W), but {files[0].name} is "
                             f"{'x'.join(map(str, first))}; every image must have the same size and channels")
        first = a.shape
        arrays.append(a)
    return np.stack(arrays)


def _array_file(path: Path, what: str) -> np.ndarray:
    """The array of a ``.npy`` file, or the one array (or ``images``) of a ``.npz`` archive; never unpickled."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return np.asarray(loaded)
        with loaded:
            names = list(loaded.files)
            if not names:
                raise UsageError(f"{what} {path}: the archive holds no arrays")
            if "images" not in names and len(names) > 1:
                raise UsageError(f"{what} {path}: the archive holds {len(names)} arrays ({', '.join(names[:5])}); "
                                 f"keep one, or name the images 'images'")
            return np.asarray(loaded["images" if "images" in names else names[0]])
    except UsageError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        why = "it holds pickled objects, which are never loaded" if "pickle" in str(e) else type(e).__name__
        raise UsageError(f"{what} {path}: not a NumPy .npy/.npz file this can read ({why})") from None


def load_images(path: str | os.PathLike, what: str = "SAMPLES") -> Tensor:
    """The images at ``path`` (a folder of PNGs, ``.npy`` or ``.npz``), checked by :func:`as_images`."""
    p = Path(path)
    if p.is_dir():
        array = _png_folder(p, what)
    elif not p.exists():
        raise UsageError(f"{what} {p}: no such file or folder")
    elif p.suffix.lower() in (".npy", ".npz"):
        array = _array_file(p, what)
    else:
        raise UsageError(f"{what} {p}: expected a folder of PNG files, a .npy or a .npz file")
    return as_images(array, f"{what} {p}")


def as_images(images: Tensor | np.ndarray, what: str = "images") -> Tensor:
    """``images`` ``(N, C, H, W)`` checked and as a CPU tensor: uint8 in [0, 255] (integers in that range) or
    float32 in [-1, 1]; :class:`UsageError` naming ``what`` for a wrong shape, type or range."""
    if isinstance(images, Tensor):  # bf16 and half have no numpy twin: floats go through float32
        images = (images.float() if images.is_floating_point() else images).detach().cpu().numpy()
    a = np.asarray(images)
    shape = "x".join(map(str, a.shape))
    if a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3):
        raise UsageError(f"{what}: shape {shape} looks like N x H x W x C; pass N x C x H x W "
                         f"(numpy: a.transpose(0, 3, 1, 2))")
    if a.ndim != 4 or a.shape[1] not in (1, 3) or a.shape[2] != a.shape[3] or a.shape[2] < _MIN_SIZE:
        raise UsageError(f"{what}: shape {shape}; expected N x C x H x W with C 1 or 3 and square images of at "
                         f"least {_MIN_SIZE} x {_MIN_SIZE}")
    if a.shape[0] < 2:
        raise UsageError(f"{what}: {a.shape[0]} image(s); the Fréchet distance needs at least 2")
    if a.dtype.kind in "ui":
        if a.min() < 0 or a.max() > 255:
            raise UsageError(f"{what}: integer images must be in [0, 255], these span [{a.min()}, {a.max()}]")
        return torch.from_numpy(a.astype(np.uint8))
    if a.dtype.kind != "f":
        raise UsageError(f"{what}: dtype {a.dtype}; pass uint8 in [0, 255] or float in [-1, 1]")
    if not np.isfinite(a).all():
        raise UsageError(f"{what}: the images hold NaN or inf")
    lo, hi = float(a.min()), float(a.max())
    if lo < -1.001 or hi > 1.001 or lo >= 0:
        hint = " (for [0, 1] images pass 2x - 1; for [0, 255] pass uint8)" if lo >= 0 else ""
        raise UsageError(f"{what}: float images must span [-1, 1], these span [{lo:.4g}, {hi:.4g}]{hint}")
    return torch.from_numpy(a.astype(np.float32)).clamp_(-1, 1)


def prepare(images: Tensor | np.ndarray | str | os.PathLike, dataset: str, *, classifier_steps: int | None = None,
            data_root: str | None = None, download: bool = True,
            max_images: int | None = None) -> tuple[Tensor, GANConfig]:
    """The checks of :func:`score`, nothing trained or loaded yet: the images (as :func:`as_images` gives them)
    and the settings of the run whose evaluator scores them."""
    settings: dict[str, Any] = {"data_root": data_root, "download": download, "max_images": max_images,
                                "classifier_steps": classifier_steps}
    cfg = GANConfig.from_recipe(dataset, None, **{k: v for k, v in settings.items() if v is not None})  # checks
    x = load_images(images) if isinstance(images, (str, os.PathLike)) else as_images(images)
    if cfg.dataset.startswith("stacked-") and x.shape[1] != 3:
        raise UsageError(f"--dataset {dataset}: its images have 3 channels (one digit each); these have {x.shape[1]}")
    return x, cfg


def evaluate(images: Tensor, cfg: GANConfig) -> dict[str, float]:
    """Checked ``images`` (:func:`prepare`) scored by the evaluator of a run with ``cfg`` at their size."""
    data = load_dataset(cfg.dataset, images.shape[-1], images.shape[1], cfg.data_root, cfg.download, cfg.max_images)
    evaluator = Evaluator.build(data, cfg.classifier_steps)
    out = {k: float(v) for k, v in evaluator.score(images).items()}
    return {**out, tags.CLASSIFIER_ACCURACY: evaluator.accuracy}


def score(images: Tensor | np.ndarray | str | os.PathLike, dataset: str, *, classifier_steps: int | None = None,
          data_root: str | None = None, download: bool = True, max_images: int | None = None) -> dict[str, float]:
    """``images`` (an array as :func:`as_images` takes, or a path as :func:`load_images` does) scored by the
    evaluator of a GAN run on ``dataset`` at their size: ``metrics.json``'s ``eval/*`` keys, floats.

    ``classifier_steps`` (default: the dataset recipe's), ``data_root``, ``download`` and ``max_images`` are
    the run settings of those names: the same settings give the same cached classifier as the run.
    """
    return evaluate(*prepare(images, dataset, classifier_steps=classifier_steps, data_root=data_root,
                             download=download, max_images=max_images))
