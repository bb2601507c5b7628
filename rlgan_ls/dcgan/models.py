"""The DCGAN generator and discriminator (Radford et al., 2015).

Generator: a 1x1 noise "image" becomes 4x4, then grows by transposed convolutions (kernel 4, stride 2)
to any power of two from 32x32 to 256x256, one more stage per doubling; BatchNorm + ReLU after every
layer but the last, Tanh at the end. Discriminator: the mirror image with strided convolutions,
LeakyReLU(0.2), BatchNorm on every layer but the first, and a raw logit at the end (no Sigmoid: the
loss core works on logits). Channels double per stage away from the image, up to ``MAX_MULT`` (8) times
``width``: the paper's ratio at 64x64 (1024 channels at 4x4, 128 next to the image). The 32 and 64
networks never reach that cap; at 128 and 256 the extra stages stay at it instead of growing to
thousands of channels. Weights start from N(0, 0.02), BatchNorm scales from N(1, 0.02), biases at 0,
as in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MAX_MULT", "SUPPORTED_SIZES", "Discriminator", "Generator", "hidden_widths", "init_dcgan_weights",
           "num_stages"]

SUPPORTED_SIZES = (32, 64, 128, 256)
"""Image sizes the models build: the powers of two from 32 to 256."""
MAX_MULT = 8
"""The widest layer has at most ``MAX_MULT * width`` channels."""


def num_stages(image_size: int) -> int:
    """Number of stride-2 stages between 4x4 and ``image_size`` (3 for 32, 4 for 64, ..., 6 for 256)."""
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}, got {image_size}")
    return image_size.bit_length() - 3  # 32 = 4 * 2**3


def hidden_widths(image_size: int, width: int) -> list[int]:
    """Channels of the hidden layers from the 4x4 one to the one next to the image, e.g. ``[8w, 4w, 2w, w]``
    at 64 and ``[8w, 8w, 8w, 4w, 2w, w]`` at 256 (the discriminator uses them in reverse)."""
    return [width * min(2 ** i, MAX_MULT) for i in reversed(range(num_stages(image_size)))]


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm scales, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """``(B, z_dim, 1, 1)`` noise -> ``(B, channels, image_size, image_size)`` images in [-1, 1].

    Args:
        z_dim: noise dimension.
        channels: output channels (1 grey, 3 colour).
        image_size: 32, 64, 128 or 256.
        width: channels of the last hidden layer; earlier layers double it per stage (64 in the paper), up
            to ``MAX_MULT * width``.
    """

    def __init__(self, z_dim: int = 100, channels: int = 3, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.image_size = z_dim, image_size
        self.widths = hidden_widths(image_size, width)  # [512, 256, 128, 64] for width 64 at 64x64
        c = self.widths[0]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, c, 4, 1, 0, bias=False),  # (B, c, 4, 4)
                                   nn.BatchNorm2d(c), nn.ReLU(True)]
        for w in self.widths[1:]:  # each stage doubles H and W
            layers += [nn.ConvTranspose2d(c, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
            c = w
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, channels, S, S)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: Tensor) -> Tensor:  # z: (B, z_dim) or (B, z_dim, 1, 1)
        if z.ndim == 2:
            z = z[:, :, None, None]
        return self.net(z)


class Discriminator(nn.Module):
    """``(B, channels, image_size, image_size)`` images -> ``(B,)`` logits of "real".

    Args:
        channels: input channels.
        image_size: 32, 64, 128 or 256.
        width: channels of the first layer; each stage doubles it (64 in the paper), up to ``MAX_MULT * width``.
    """

    def __init__(self, channels: int = 3, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        widths = hidden_widths(image_size, width)[::-1]  # [64, 128, 256, 512] for width 64 at 64x64
        c = widths[0]
        layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1, bias=False),  # (B, c, S/2, S/2), no BN
                                   nn.LeakyReLU(0.2, True)]
        for w in widths[1:]:  # each stage halves H and W
            layers += [nn.Conv2d(c, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, True)]
            c = w
        layers += [nn.Conv2d(c, 1, 4, 1, 0, bias=False)]  # (B, 1, 1, 1) logit
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, S, S)
        return self.net(x).reshape(-1)  # (B,)


def parameter_groups(module: nn.Module) -> dict[str, list[Tensor]]:
    """Parameters grouped per layer (``net.0``, ``net.1``, ...), for per-layer gradient norms."""
    groups: dict[str, list[Tensor]] = {}
    for name, p in module.named_parameters():
        layer = name.rsplit(".", 1)[0]
        groups.setdefault(layer, []).append(p)
    return groups


@torch.no_grad()
def layer_grad_norms(module: nn.Module) -> dict[str, Tensor]:
    """L2 norm of the gradient of every layer, as 0-dim device tensors (no host sync)."""
    out: dict[str, Tensor] = {}
    for layer, params in parameter_groups(module).items():
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            out[layer] = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    return out
