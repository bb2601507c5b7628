"""The GAN run configuration: one dataclass, validated once at the boundary.

Layers, later wins: these defaults, the recipe ``gan/<dataset>.toml`` (or ``--recipe``), then the
command-line flags or keyword overrides (:meth:`GANConfig.from_recipe`, which the CLI uses too).
``__post_init__`` checks ranges and raises :class:`UsageError` naming the flag.
Fields declared ``resumable(...)`` may change when a run is resumed; every other one is fixed by
the run's checkpoint. A run stores :meth:`GANConfig.resolved`: no "auto" is left in its files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from ..errors import UsageError
from ..recipes import RunConfig, resumable
from ..smoothing import check_alpha
from .augment import parse_policy
from .data import DATASETS, is_known_dataset
from .models import SUPPORTED_SIZES

__all__ = ["GANConfig"]

Smoothing = Literal["one-sided", "two-sided", "flip", "none"]
GeneratorLoss = Literal["non-saturating", "minimax"]
Precision = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class GANConfig(RunConfig):
    """Everything one GAN run depends on. Written to ``config.json`` and into every checkpoint."""

    RECIPES: ClassVar[str] = "gan"
    TASK: ClassVar[str] = "dataset"
    HPARAMS: ClassVar[tuple[str, ...]] = ("dataset", "alpha", "smoothing", "generator_loss", "seed", "image_size",
                                          "batch_size", "steps", "augment")

    dataset: str = "digits"
    """Dataset: digits, mnist-5k, stacked-mnist-5k (offline); mnist, stacked-mnist, fashion-mnist, cifar10
    (torchvision); fake; or folder:PATH."""
    data_root: str | None = None
    """Where torchvision datasets live (default: $RLGAN_LS_CACHE/data or ~/.cache/rlgan-ls/data)."""
    download: bool = True
    """Download torchvision datasets when they are missing (needs network)."""
    max_images: int | None = None
    """Use only the first N images of the dataset (quick runs, tests)."""
    image_size: int = 32
    """Model resolution, a power of two from 32 to 256: 32, 64, 128 or 256 (one more stage per doubling)."""
    channels: int | None = None
    """Image channels, 1 or 3 (default: the dataset's own)."""
    alpha: float = 0.1
    """Label-smoothing strength in [0, 1): the real target becomes 1 - alpha (one-sided)."""
    smoothing: Smoothing = "one-sided"
    """one-sided (real 1-alpha, fake 0), two-sided (fake alpha too), flip (random label flips), none."""
    generator_loss: GeneratorLoss = "non-saturating"
    """Generator objective: non-saturating -log D(G(z)) or minimax log(1 - D(G(z)))."""
    steps: int = resumable(2000)
    """Total number of training steps (--d-steps D updates and one G update each)."""
    batch_size: int = 64
    """Global batch size (split evenly over DDP processes)."""
    lr_g: float = 2e-4
    """Adam learning rate of the generator."""
    lr_d: float = 2e-4
    """Adam learning rate of the discriminator."""
    beta1: float = 0.5
    """Adam beta1 (0.5 in DCGAN)."""
    beta2: float = 0.999
    """Adam beta2."""
    z_dim: int = 100
    """Noise dimension."""
    g_width: int = 64
    """Generator width (channels of its last hidden layer; doubles per stage towards the input)."""
    d_width: int = 64
    """Discriminator width (channels of its first layer; doubles per stage)."""
    d_steps: int = 1
    """Discriminator updates per step, each on the next real batch of the data order with fresh noise, before
    the step's one generator update (k > 1 strengthens D; Goodfellow et al., 2014, Algorithm 1)."""
    augment: str = ""
    """DiffAugment policy for D's inputs, real and fake: comma-separated translation, cutout ("" for none)."""
    seed: int = 0
    """Seed of the weights, the noise, the label flips and the data order."""
    log_every: int = resumable(25)
    """Read per-step metrics back from the device and write them every N steps."""
    layer_grad_every: int = resumable(100)
    """Log per-layer generator gradient norms every N steps."""
    eval_every: int = resumable(500)
    """Compute eval/fd, eval/class_coverage, eval/class_kl and the sample grid every N steps."""
    eval_samples: int = 1000
    """Generated images per evaluation."""
    checkpoint_every: int = resumable(500)
    """Write the checkpoint every N steps (always at the end too)."""
    classifier_steps: int = 400
    """Training steps of the evaluation classifier (trained once per dataset, then cached)."""
    device: str = resumable("auto")
    """auto (CUDA if available), cpu, cuda or cuda:N."""
    precision: Precision = resumable("auto")
    """auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16."""
    channels_last: bool = resumable(True)
    """NHWC memory layout for models and batches; faster on CUDA and on the CPU (oneDNN)."""
    compile: bool = resumable(False)
    """torch.compile the generator and the discriminator."""
    logdir: str = "runs"
    """Parent directory of run directories."""
    run_name: str | None = None
    """Run directory name (default: built from dataset, smoothing, alpha, loss and seed)."""
    progress: bool = resumable(True)
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if not is_known_dataset(self.dataset):
            raise UsageError(f"--dataset: unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        check_alpha(self.alpha, "--alpha", UsageError)
        if self.smoothing == "none" and self.alpha != 0.0:
            raise UsageError(f"--alpha {self.alpha:g} has no effect with --smoothing none (the run would be "
                             f"labelled by an alpha it never used); pass --alpha 0 or another --smoothing")
        if self.image_size not in SUPPORTED_SIZES:
            raise UsageError(f"--image-size must be a power of two from 32 to 256 "
                             f"({', '.join(map(str, SUPPORTED_SIZES))}), got {self.image_size}")
        if self.channels not in (None, 1, 3) or (self.dataset.startswith("stacked-") and self.channels == 1):
            raise UsageError(f"--channels must be 1 or 3 (3 for a stacked dataset), got {self.channels}")
        try:
            self.augment_policy  # noqa: B018 (parses and checks the policy)
        except ValueError as e:
            raise UsageError(f"--augment: {e}") from None
        for flag, value, lo in (("--steps", self.steps, 1), ("--batch-size", self.batch_size, 2),
                                ("--z-dim", self.z_dim, 1), ("--g-width", self.g_width, 1),
                                ("--d-width", self.d_width, 1), ("--d-steps", self.d_steps, 1),
                                ("--log-every", self.log_every, 1),
                                ("--layer-grad-every", self.layer_grad_every, 1),
                                ("--eval-every", self.eval_every, 1), ("--eval-samples", self.eval_samples, 2),
                                ("--checkpoint-every", self.checkpoint_every, 1),
                                ("--classifier-steps", self.classifier_steps, 1)):
            if value < lo:
                raise UsageError(f"{flag} must be >= {lo}, got {value}")
        if self.max_images is not None and self.max_images < 2:
            raise UsageError(f"--max-images must be >= 2, got {self.max_images}")
        for flag, lr in (("--lr-g", self.lr_g), ("--lr-d", self.lr_d)):
            if not 0 < lr <= 1:
                raise UsageError(f"{flag} must be in (0, 1] (Adam's step size), got {lr}")
        for flag, b in (("--beta1", self.beta1), ("--beta2", self.beta2)):
            if not (0.0 <= b < 1.0):
                raise UsageError(f"{flag} must be in [0, 1), got {b}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    def resolved(self, device: torch.device, channels: int) -> GANConfig:
        """This config as the run uses it on ``device`` with ``channels``-channel images: ``device``
        becomes ``cpu`` or ``cuda`` (an explicit ``cuda:N`` stays; DDP ranks add their local index),
        ``precision`` becomes ``bf16`` or ``fp32``, ``channels`` the number used."""
        name = self.device if self.device.startswith("cuda:") else device.type
        precision = self.precision if self.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
        return dataclasses.replace(self, device=name, precision=precision, channels=channels)

    @classmethod
    def recipe_name(cls, task: str) -> str:
        return "folder" if task.startswith("folder:") else task

    @property
    def default_run_name(self) -> str:
        loss = "ns" if self.generator_loss == "non-saturating" else "mm"
        data = self.dataset.replace("folder:", "folder-").replace("/", "-")
        return f"{data}-{self.smoothing}-a{self.alpha:g}-{loss}-s{self.seed}"

    @property
    def augment_policy(self) -> tuple[str, ...]:
        """``augment`` as the tuple of transform names it lists."""
        return parse_policy(self.augment)
