"""GAN datasets and the data order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlgan_ls.dcgan.data import BatchOrder, load_dataset
from rlgan_ls.errors import UsageError


def test_digits_is_the_bundled_set_resized() -> None:
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = load_dataset("digits", 32)
    assert data.images.shape == (1797, 1, 32, 32) and data.images.dtype == torch.uint8
    assert data.num_classes == 10
    assert torch.equal(data.labels, torch.from_numpy(raw.target).long())
    # Shrinking back to 8x8 recovers the original pixels (0..16 scaled to 0..255) up to resampling blur.
    back = F.avg_pool2d(data.images.float(), 4)[:, 0]  # (N, 8, 8)
    orig = torch.from_numpy(raw.images).float() * 255 / 16
    assert float((back - orig).abs().mean()) < 25.0
    assert float(torch.corrcoef(torch.stack([back.flatten(), orig.flatten()]))[0, 1]) > 0.95
    batch = data.batch(torch.arange(4))
    assert batch.dtype == torch.float32 and float(batch.min()) >= -1 and float(batch.max()) <= 1
    assert float(batch.min()) == -1.0  # background maps to -1


def test_channels_and_size_conversion() -> None:
    data = load_dataset("digits", 64, channels=3, max_images=10)
    assert data.images.shape == (10, 3, 64, 64)
    assert torch.equal(data.images[:, 0], data.images[:, 2])  # grey repeated


def test_folder_uses_folder_names_as_labels(tmp_path: Path) -> None:
    from PIL import Image

    for cls, value in (("cats", 30), ("dogs", 220)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((20, 24, 3), value + i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}", 32)
    assert data.images.shape == (6, 3, 32, 32) and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]  # sorted folder names: cats=0, dogs=1
    assert int(data.images[0].float().mean().round()) == 30 and int(data.images[5].float().mean().round()) == 222


def test_fake_data_shape() -> None:
    data = load_dataset("fake", 32, max_images=20)
    assert data.images.shape == (20, 3, 32, 32) and data.num_classes == 10


def test_offline_torchvision_names_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UsageError) as err:
        load_dataset("mnist", 32, root=str(tmp_path))
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path) in msg and "\n" not in msg
    with pytest.raises(UsageError, match="data_batch_1"):
        load_dataset("cifar10", 32, root=str(tmp_path), download=False)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_batch_order_shards_each_epoch_without_overlap(world: int) -> None:
    n, b = 50, 4
    orders = [BatchOrder(n, b, seed=3, rank=r, world_size=world) for r in range(world)]
    per_epoch = orders[0].batches_per_epoch
    assert per_epoch == (n // world) // b
    for epoch in range(2):
        seen = torch.cat([o.indices(epoch * per_epoch + i) for o in orders for i in range(per_epoch)])
        assert len(set(seen.tolist())) == len(seen)  # no image twice within an epoch, across ranks
    e0 = torch.cat([orders[0].indices(i) for i in range(per_epoch)])
    e1 = torch.cat([orders[0].indices(per_epoch + i) for i in range(per_epoch)])
    assert not torch.equal(e0, e1)  # reshuffled each epoch
    # A fresh order (as after a resume) replays the same batch for the same step.
    fresh = BatchOrder(n, b, seed=3, rank=0, world_size=world)
    assert torch.equal(fresh.indices(per_epoch + 1), orders[0].indices(per_epoch + 1))


def test_batch_larger_than_dataset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--batch-size"):
        BatchOrder(10, 16, seed=0)
