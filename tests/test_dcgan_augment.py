"""DiffAugment transforms against hand-built oracles; resume stays exact with augmentation on."""

from __future__ import annotations

import pytest
import torch

from rlgan_ls.cli import main
from rlgan_ls.dcgan.augment import augment, cutout, parse_policy, translate


def _shift_oracle(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Pixel (i, j) of the output is pixel (i - dy, j - dx) of ``img`` (-1 outside): a plain loop."""
    c, h, w = img.shape
    out = torch.full_like(img, -1.0)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = img[:, i - dy, j - dx]
    return out


def test_translation_is_a_whole_pixel_shift_with_background_fill() -> None:
    x = torch.rand(16, 2, 8, 8) * 2 - 1
    gen = torch.Generator().manual_seed(3)
    # the shifts this call will draw: the same generator state, the same two draws
    probe = torch.Generator().set_state(gen.get_state())
    dy = torch.randint(-1, 2, (16, 1, 1), generator=probe).flatten().tolist()
    dx = torch.randint(-1, 2, (16, 1, 1), generator=probe).flatten().tolist()
    out = translate(x, gen)  # ratio 1/8 of 8 pixels: shifts in {-1, 0, 1}
    assert len(set(zip(dy, dx))) > 3  # the draw really varies per image
    for k in range(16):
        torch.testing.assert_close(out[k], _shift_oracle(x[k], dy[k], dx[k]), rtol=0, atol=1e-6)


def test_cutout_zeroes_one_square_of_half_the_size() -> None:
    x = torch.rand(200, 1, 8, 8) + 1.0  # strictly positive, so zeros come from the mask only
    out = cutout(x, torch.Generator().manual_seed(0))
    zeroed = out[:, 0] == 0  # (B, H, W)
    counts = zeroed.flatten(1).sum(1)
    assert counts.max() == 16 and counts.min() >= 4  # a 4x4 square, clipped at the border to >= 2x2
    for k in range(200):
        ys, xs = zeroed[k].nonzero(as_tuple=True)
        # the zeroed pixels form a full rectangle
        assert (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) == counts[k]
        torch.testing.assert_close(out[k][~zeroed[k][None]], x[k][~zeroed[k][None]])


def test_gradient_reaches_the_generator_through_both_transforms() -> None:
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = augment(x, ("translation", "cutout"), torch.Generator().manual_seed(1))
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert (x.grad == 0).any()  # pixels shifted out or cut out get no gradient


def test_policy_parsing_and_the_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    assert parse_policy("") == ()
    assert main(["gan", "--augment", "rotate", "--steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--augment" in err and "rotate" in err and "Traceback" not in err
