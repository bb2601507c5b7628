"""``train_gan`` end to end on tiny budgets: a colour ImageFolder at 64x64, and the minimax and
two-sided objectives through the real training loop.

Oracle for the objectives: the first step recomputed by hand from the same initial weights, noise and
batch, with the losses written out as closed forms (BCE on logits = softplus(x) - t x).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_GAN
from PIL import Image

from rlgan_ls.dcgan import Discriminator, GANConfig, Generator, load_dataset, train_gan
from rlgan_ls.dcgan.data import BatchOrder
from rlgan_ls.seeding import Seeds

# The tiny GAN's nets and budgets; each test names its dataset and size.
TINY = {k: v for k, v in TINY_GAN.items() if k not in ("dataset", "max_images", "image_size")}
TINY |= dict(batch_size=8, classifier_steps=10, device="cpu")


def _image_folder(root: Path, per_class: int = 6) -> Path:
    """Two classes of 40x48 RGB images: reddish squares and bluish ones."""
    rng = np.random.default_rng(0)
    for label, channel in (("red", 0), ("blue", 2)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, (40, 48, 3), dtype=np.uint8)
            pixels[..., channel] = 200
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_colour_image_folder_at_64(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "images")
    cfg = GANConfig(dataset=f"folder:{folder}", image_size=64, steps=3, eval_every=3, logdir=str(tmp_path / "runs"),
                    run_name="folder", **TINY)
    result = train_gan(cfg)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["kind"] == "gan" and config["channels"] == 3 and config["image_size"] == 64
    assert config["device"] == "cpu" and config["precision"] == "fp32"  # resolved, no "auto" left
    with torch.no_grad():
        images = result.G.eval()(torch.randn(2, 8))
    assert images.shape == (2, 3, 64, 64)
    grid = Image.open(result.run_dir / "samples.png")
    assert grid.size == (8 * 64 + 9 * 2, 4 * 64 + 5 * 2) and grid.mode == "RGB"  # 32 samples, 8 per row
    assert result.metrics["step"] == 3 and np.isfinite(result.metrics["eval/fd"])
    assert 0 <= result.metrics["eval/class_coverage"] <= 2  # two class folders


def test_stacked_mnist_run_logs_modes(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = GANConfig(dataset="stacked-mnist-5k", image_size=32, steps=2, eval_every=2, logdir=str(tmp_path),
                    run_name="stacked", **(TINY | {"eval_samples": 300}))
    metrics = train_gan(cfg).metrics
    assert 1 <= metrics["eval/modes"] <= 300
    assert 0 <= metrics["eval/mode_kl"] <= math.log(1000) + 1e-6  # float32 in the logs
    assert "eval/class_coverage" not in metrics
    acc = EventAccumulator(str(tmp_path / "stacked"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("eval/modes")] == [0, 2]


@pytest.mark.parametrize(("smoothing", "generator_loss"), [("two-sided", "minimax"), ("one-sided", "minimax"),
                                                           ("two-sided", "non-saturating")])
def test_first_step_losses_match_the_closed_forms(tmp_path: Path, smoothing: str, generator_loss: str) -> None:
    alpha, seed = 0.2, 4
    cfg = GANConfig(dataset="digits", max_images=64, image_size=32, alpha=alpha, smoothing=smoothing,
                    generator_loss=generator_loss, steps=1, seed=seed, logdir=str(tmp_path), run_name="r", **TINY)
    metrics = train_gan(cfg).metrics

    # The same step by hand: weights from the seed, the first batch of the data order, the run's noise.
    data = load_dataset("digits", 32, max_images=64)
    real = data.batch(BatchOrder(len(data), cfg.batch_size, seed).indices(0))
    Seeds(seed).seed_global("weights")
    g, d = Generator(8, 1, 32, 4), Discriminator(1, 32, 4)
    z = torch.randn(8, 8, 1, 1, generator=Seeds(seed).torch("noise"))
    fake = g(z)
    t_real, t_fake = 1 - alpha, (alpha if smoothing == "two-sided" else 0.0)
    r, f = d(real), d(fake.detach())
    loss_d = (F.softplus(r) - t_real * r).mean() + (F.softplus(f) - t_fake * f).mean()
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    after = d(fake)  # through the updated discriminator
    loss_g = -F.softplus(after).mean() if generator_loss == "minimax" else F.softplus(-after).mean()

    assert metrics["loss/discriminator"] == pytest.approx(loss_d.item(), rel=1e-4)
    assert metrics["loss/generator"] == pytest.approx(loss_g.item(), rel=1e-4)
    assert metrics["d/real"] == pytest.approx(torch.sigmoid(r).mean().item(), rel=1e-4)
    assert metrics["d/fake_after_update"] == pytest.approx(torch.sigmoid(after).mean().item(), rel=1e-4)
