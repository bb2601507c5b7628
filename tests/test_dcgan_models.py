"""DCGAN architecture: shapes, layer layout and initialisation against the paper's description."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rlgan_ls.dcgan.models import Discriminator, Generator, layer_grad_norms
from rlgan_ls.metrics import grad_norm


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size: int, channels: int) -> None:
    g = Generator(z_dim=8, channels=channels, image_size=size, width=4)
    d = Discriminator(channels=channels, image_size=size, width=4)
    z = torch.randn(5, 8)
    x = g(z).detach()
    assert x.shape == (5, channels, size, size)
    assert g(z[:, :, None, None]).shape == x.shape  # (B, z) and (B, z, 1, 1) both accepted
    assert d(x).shape == (5,)


@pytest.mark.parametrize("size, stages", [(32, 3), (64, 4), (128, 5), (256, 6)])
def test_layer_layout(size: int, stages: int) -> None:
    g = Generator(z_dim=8, channels=3, image_size=size, width=4)
    d = Discriminator(channels=3, image_size=size, width=4)
    g_convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(g_convs) == len(d_convs) == stages + 1
    # Widths double per stage up to 8x: G goes 4 * min(2^(stages-1), 8) -> 4, D the other way.
    assert [c.out_channels for c in g_convs] == [4 * min(2 ** i, 8) for i in reversed(range(stages))] + [3]
    assert [c.out_channels for c in d_convs] == [4 * min(2 ** i, 8) for i in range(stages)] + [1]
    assert [c.in_channels for c in g_convs[1:]] == [c.out_channels for c in g_convs[:-1]]
    assert [c.in_channels for c in d_convs[1:]] == [c.out_channels for c in d_convs[:-1]]
    # BatchNorm after every G conv but the last; on every D conv but the first and the last.
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == stages
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == stages - 1
    d_layers = list(d.net)
    assert isinstance(d_layers[1], nn.LeakyReLU) and d_layers[1].negative_slope == 0.2
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())
    assert isinstance(list(g.net)[-1], nn.Tanh)


def test_init_is_normal_002() -> None:
    torch.manual_seed(0)
    g = Generator(z_dim=100, channels=3, image_size=64, width=32)
    w = torch.cat([m.weight.detach().flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(float(w.mean())) < 1e-3
    assert float(w.std()) == pytest.approx(0.02, rel=0.02)
    bn = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert float(bn.mean()) == pytest.approx(1.0, abs=0.01)


def test_layer_grad_norms_compose_to_global_norm() -> None:
    g = Generator(z_dim=8, channels=1, image_size=32, width=4)
    g(torch.randn(4, 8)).square().mean().backward()
    per_layer = layer_grad_norms(g)
    assert set(per_layer) == {"net.0", "net.1", "net.3", "net.4", "net.6", "net.7", "net.9"}
    combined = torch.stack(list(per_layer.values())).square().sum().sqrt()
    torch.testing.assert_close(combined, grad_norm(g))


def test_32_and_64_keep_the_papers_layers() -> None:
    """The sizes that existed before 128 and 256 keep their layers (so their runs train as before)."""
    for size, widths in ((32, [256, 128, 64]), (64, [512, 256, 128, 64])):
        g = Generator(z_dim=100, channels=3, image_size=size, width=64)
        shapes = [tuple(m.weight.shape) for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert shapes == [(c_in, c_out, 4, 4) for c_in, c_out in zip([100, *widths], [*widths, 3])]
        d = Discriminator(channels=3, image_size=size, width=64)
        assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [*widths[::-1], 1]
