"""``rlgan-ls sample`` and ``rlgan-ls export-generator``: images and the generator out of a GAN run.

    rlgan-ls sample runs/digits-one-sided-a0.1-ns-s0 --n 10000 --out samples/        # 000000.png, ...
    rlgan-ls sample RUN_DIR --n 10000 --seed 1 --step 2000 --out samples.npz         # uint8 N x C x H x W
    rlgan-ls sample RUN_DIR --n 64 --grid --out grid.png
    rlgan-ls export-generator RUN_DIR --out G.safetensors                             # loads without rlgan-ls

Every check (the run, its checkpoint, ``--n``, ``--step``, ``--out``) comes before anything is generated
or written; the output appears whole or not at all. The work is :mod:`rlgan_ls.dcgan.sampling`'s.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import tempfile
from pathlib import Path

from torch import Tensor

from ..errors import UsageError
from ..storage import atomic_write_bytes, umask, writable_file, writable_folder

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="images from a trained GAN run (PNG folder, .npz or one grid)",
                       description="N images from the generator of a GAN run: a folder of PNGs (--out DIR) or one "
                                   ".npz of uint8 N x C x H x W (--out FILE.npz), or one grid image (--grid --out "
                                   "FILE.png). Deterministic for a seed; the default seed draws the run's evaluation "
                                   "noise, so --n equal to its --eval-samples gives exactly the images its "
                                   "evaluations scored.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that 'rlgan-ls gan' wrote")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", required=True, help="DIR (PNGs), FILE.npz, or FILE.png with --grid")
    p.add_argument("--grid", action="store_true", help="write one grid image (8 columns up to 64 images)")
    _common(p)
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the noise, torch.randn(N, z_dim) (default: the run's evaluation noise)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.set_defaults(func=_sample)
    e = sub.add_parser("export-generator", help="a GAN run's generator as one safetensors file",
                       description="Write the generator of a GAN run as safetensors: its weights, and its "
                                   "architecture as JSON in the metadata. README.md shows the plain PyTorch "
                                   "that rebuilds and runs it without rlgan-ls.")
    e.add_argument("run_dir", metavar="RUN_DIR", help="a run directory that 'rlgan-ls gan' wrote")
    e.add_argument("--out", required=True, help="FILE.safetensors")
    _common(e)
    e.set_defaults(func=_export)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--step", type=_step, default=None, metavar="latest|K",
                   help="the generator of the latest checkpoint (default) or of checkpoint step K")


def _step(text: str) -> int | None:
    if text == "latest":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected latest or a step number, got {text!r}")
    return int(text)


def _out_kind(out: str, grid: bool) -> str:
    """``folder``, ``npz`` or ``grid``, from ``--out``'s suffix; a path that cannot be written is refused
    here, before anything is generated (nothing is created yet)."""
    p = Path(out)
    suffix = "" if p.is_dir() else p.suffix.lower()
    if grid and suffix != ".png":
        raise UsageError(f"--out {out}: --grid writes one PNG image; pass FILE.png")
    if not grid and suffix == ".png":
        raise UsageError(f"--out {out}: one PNG of all the images needs --grid; pass DIR for one PNG per image")
    if not grid and suffix not in ("", ".npz"):
        raise UsageError(f"--out {out}: a {suffix} file is neither a folder (a path without a suffix) nor .npz; "
                         f"pass DIR for PNGs, FILE.npz, or --grid FILE.png")
    if suffix:
        writable_folder(p.parent, "--out", create=False)
        return "grid" if grid else "npz"
    writable_folder(p, "--out", create=False)
    if p.is_dir() and any(p.iterdir()):
        raise UsageError(f"--out {out} is a folder that is not empty; pass a new or empty folder")
    return "folder"


def _png(image: Tensor) -> bytes:
    """A uint8 ``(C, H, W)`` image (1 or 3 channels) as PNG bytes."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


def grid_image(images: Tensor) -> Tensor:
    """uint8 ``(N, C, S, S)`` images as one uint8 ``(3, H, W)`` grid laid out as the run's sample grids are (8
    columns up to 64 images, more for more)."""
    import torchvision.utils as vutils

    return vutils.make_grid(images, nrow=max(8, math.isqrt(len(images) - 1) + 1))


def _write_folder(images: Tensor, out: Path) -> None:
    """One PNG per image (``000000.png``, ...), made in a temporary folder beside ``out`` and renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~umask())
        digits = max(6, len(str(len(images) - 1)))
        for i, image in enumerate(images):
            (tmp / f"{i:0{digits}d}.png").write_bytes(_png(image))
        os.replace(tmp, out)  # an empty folder at out is replaced
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_images(images: Tensor, out: str | os.PathLike, kind: str) -> None:
    """uint8 ``(N, C, S, S)`` images at ``out`` as ``kind`` (``folder``, ``npz`` or ``grid``)."""
    if kind == "folder":
        _write_folder(images, Path(out))
        return
    path = writable_file(out, "--out")
    if kind == "grid":
        atomic_write_bytes(path, _png(grid_image(images)))
        return
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, images=images.numpy())
    atomic_write_bytes(path, buffer.getvalue())


def _sample(args: argparse.Namespace) -> int:
    from .sampling import sample

    kind = _out_kind(args.out, args.grid)  # checked first: nothing is generated for a path it cannot write
    images = sample(args.run_dir, args.n, args.seed, args.step, args.device, progress=True)
    write_images(images, args.out, kind)
    n, c, h, w = images.shape
    print(f"wrote {'a grid of ' if kind == 'grid' else ''}{n} images ({c}x{h}x{w}) to {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .sampling import export_generator

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors" or out.is_dir():
        raise UsageError(f"--out {out}: the generator is written as one safetensors file; pass FILE.safetensors")
    writable_folder(out.parent, "--out", create=False)  # checked, not made: nothing is written before the run is
    header = export_generator(args.run_dir, out, args.step)
    print(f"wrote the generator of step {header['step']} ({header['image_size']}x{header['image_size']}, "
          f"{header['channels']} channel(s)) to {args.out}")
    return 0
