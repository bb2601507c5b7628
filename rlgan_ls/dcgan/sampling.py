"""Images from a trained GAN run, and its generator as a file that loads without this suite.

A GAN run keeps its generator at every checkpoint (:meth:`~rlgan_ls.runs.Run.generator_file`): a
*generator file*, safetensors holding the weights of ``Generator.net`` (the keys of a plain
``nn.Sequential``) and, in the safetensors metadata, two JSON strings: ``architecture`` (z_dim, channels,
image_size, the hidden layers' ``widths``, the memory layout the run used, the step, the seed of the run's
evaluation noise) and ``config`` (the run's resolved config). README.md rebuilds one in plain PyTorch.

Noise is ``torch.randn(n, z_dim)`` from torch's generator seeded with ``seed``, on the CPU; the run's
evaluation noise is that with ``n = eval_samples`` and the seed ``Seeds(seed).of("eval_noise")``, which
is the default, so :func:`sample` with ``n = eval_samples`` reproduces the evaluation's images exactly
(same batches of :data:`BATCH`, same layout; on the device the run evaluated on).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import Tensor

from ..errors import UsageError
from ..runs import Run
from ..seeding import Seeds
from ..storage import atomic_write_bytes
from .models import Generator, hidden_widths
from .state import FORMAT

__all__ = ["BATCH", "export_generator", "generate", "generator_header", "load_generator", "noise", "sample",
           "save_generator", "to_uint8"]

BATCH = 500
"""Images per forward pass, the evaluation's too: the same batches give the same floats."""
MODEL = "dcgan-generator"
VERSION = 1
"""Layout version of a generator file."""

Weights = dict[str, Tensor]


def noise(n: int, z_dim: int, seed: int) -> Tensor:
    """``(n, z_dim)`` standard normal noise from torch's CPU generator seeded with ``seed``."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(g: Generator, z: Tensor, device: torch.device | str,
             each: Callable[[Tensor], Tensor] = lambda x: x) -> Tensor:
    """G's images of ``z`` ``(N, z_dim)`` in batches of :data:`BATCH`, G in eval mode (then as it was);
    ``each`` maps every batch, float ``(B, C, S, S)`` in [-1, 1] on the CPU, before they are joined."""
    was_training = g.training
    g.eval()
    try:
        return torch.cat([each(g(c.to(device)[:, :, None, None]).float().cpu()) for c in z.split(BATCH)])
    finally:
        g.train(was_training)


def to_uint8(x: Tensor) -> Tensor:
    """Images in [-1, 1] as uint8 in [0, 255], rounded as the run's sample grids are (``save_image``)."""
    return x.clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


def generator_header(config: Mapping[str, Any], step: int) -> dict[str, Any]:
    """The ``architecture`` JSON of the generator of a run with the resolved ``config`` at ``step``."""
    size, width = int(config["image_size"]), int(config["g_width"])
    return {"model": MODEL, "version": VERSION, "z_dim": int(config["z_dim"]), "channels": int(config["channels"]),
            "image_size": size, "width": width, "widths": hidden_widths(size, width),
            "channels_last": bool(config["channels_last"]), "step": step,
            "noise_seed": Seeds(int(config["seed"])).of("eval_noise"), "eval_samples": int(config["eval_samples"])}


def save_generator(path: str | os.PathLike, weights: Mapping[str, Tensor], config: Mapping[str, Any],
                   step: int) -> None:
    """Atomically write a generator file: ``weights`` (``Generator.net``'s state dict, or ``Generator``'s with
    its ``net.`` prefix) and the headers of a run with the resolved ``config`` at ``step``."""
    tensors = {k.removeprefix("net."): v.detach().cpu().contiguous() for k, v in weights.items()}
    meta = {"format": "pt", "architecture": json.dumps(generator_header(config, step)), "config": json.dumps(config)}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


def _read_file(path: Path) -> tuple[Weights, dict[str, Any], int]:
    """A generator file's weights, run config and step."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
        arch, config = json.loads(meta["architecture"]), json.loads(meta["config"])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise UsageError(f"{path} is corrupt or not a generator file of rlgan-ls ({type(e).__name__})") from None
    if arch.get("model") != MODEL or arch.get("version") != VERSION:
        raise UsageError(f"{path} was written by another version of rlgan-ls (generator file {arch.get('version')}, "
                         f"this one reads {VERSION})")
    return weights, config, int(arch["step"])


def _locate(run_dir: str | os.PathLike, step: int | None) -> tuple[Weights, dict[str, Any], int]:
    """The generator of the GAN run in ``run_dir`` at ``step`` (``None``: the latest): weights, config, step."""
    run = Run.open(run_dir, kind="gan")
    kept = run.generator_files()
    if step in kept or (step is None and kept):
        return _read_file(kept[max(kept) if step is None else step])
    if not run.checkpoint_file.is_file():
        raise UsageError(f"RUN_DIR {run.path} has no checkpoint: the run stopped before its first one, so there is "
                         f"no generator to load")
    state = run.load_checkpoint()
    if not {"config", "step", "G"} <= set(state) or state.get("format") != FORMAT:
        raise UsageError(f"{run.checkpoint_file} is not a GAN checkpoint this version of rlgan-ls reads")
    if step is not None and step != state["step"]:
        saved = ", ".join(map(str, sorted({*kept, int(state["step"])})))
        raise UsageError(f"--step {step}: {run.path} kept no generator at step {step}; saved steps: {saved} "
                         f"(or latest)")
    return state["G"], state["config"], int(state["step"])


def _build(weights: Mapping[str, Tensor], header: Mapping[str, Any], device: torch.device) -> Generator:
    """``header``'s generator with ``weights``, in eval mode on ``device``, in the layout its run trained in."""
    with torch.random.fork_rng(devices=[]):  # the initial weights are drawn and replaced: leave the caller's RNG
        g = Generator(header["z_dim"], header["channels"], header["image_size"], header["width"])
    try:
        g.net.load_state_dict({k.removeprefix("net."): v for k, v in weights.items()})
    except RuntimeError as e:
        raise UsageError(f"the generator's weights do not fit its architecture ({str(e).splitlines()[0]})") from None
    fmt = torch.channels_last if header["channels_last"] else torch.contiguous_format
    return g.to(device, memory_format=fmt).eval()  # type: ignore[call-overload]


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available here; use --device cpu")
    return dev


def load_generator(run_dir: str | os.PathLike, step: int | None = None,
                   device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    """The generator of the GAN run in ``run_dir`` at ``step`` (``None``: the latest checkpoint's), in eval mode
    on ``device``, and its ``architecture`` header; :class:`UsageError` naming what is wrong."""
    dev = _device(device)
    weights, config, at = _locate(run_dir, step)
    header = generator_header(config, at)
    return _build(weights, header, dev), header


def sample(run_dir: str | os.PathLike, n: int, seed: int | None = None, step: int | None = None,
           device: str | torch.device = "cpu", progress: bool = False) -> Tensor:
    """``n`` images of the GAN run in ``run_dir``: uint8 ``(n, C, S, S)`` in [0, 255] (what ``rlgan-ls sample``
    writes as PNGs or ``.npz``), the same for the same arguments.

    ``seed``: of the noise, :func:`noise`; ``None``, the run's evaluation noise (``n = eval_samples``: exactly
    the images its evaluations scored). ``step``: a checkpoint's step (``None``: the latest). ``progress``: a
    bar on a terminal's stderr.
    """
    if n < 1:
        raise UsageError(f"--n must be >= 1, got {n}")
    if seed is not None and not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be in [0, 2**63), got {seed}")
    g, header = load_generator(run_dir, step, device)
    z = noise(n, header["z_dim"], header["noise_seed"] if seed is None else seed)
    from tqdm import tqdm

    with tqdm(total=n, unit="img", desc=Path(run_dir).name, leave=False, dynamic_ncols=True,
              disable=not (progress and sys.stderr.isatty())) as bar:
        def each(x: Tensor) -> Tensor:
            bar.update(len(x))
            return to_uint8(x)

        return generate(g, z, next(g.parameters()).device, each)


def export_generator(run_dir: str | os.PathLike, out: str | os.PathLike, step: int | None = None) -> dict[str, Any]:
    """Write the generator of the GAN run in ``run_dir`` at ``step`` (``None``: the latest) as a generator file
    at ``out``; its ``architecture`` header."""
    weights, config, at = _locate(run_dir, step)
    _build(weights, generator_header(config, at), torch.device("cpu"))  # the weights fit: fail before writing
    save_generator(out, weights, config, at)
    return generator_header(config, at)
