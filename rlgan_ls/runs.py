"""Run directories, TensorBoard logging, JSON outputs and safetensors checkpoints.

One run = one directory ``<logdir>/<run-name>/`` holding the event files, ``config.json``,
checkpoints and a final ``metrics.json``. Every write that could be interrupted goes to a temporary
file first and is renamed into place, so a crash never leaves a half-written file behind.
Checkpoints are safetensors plus JSON: loading one never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from .errors import UsageError

__all__ = [
    "MetricRows",
    "RunLogger",
    "atomic_write_bytes",
    "cache_root",
    "load_checkpoint",
    "new_run_dir",
    "read_json",
    "save_animation",
    "save_checkpoint",
    "write_json",
]


def cache_root() -> Path:
    """Where trained teachers, evaluation classifiers and downloaded datasets are cached:
    ``$RLGAN_LS_CACHE``, default ``~/.cache/rlgan-ls``."""
    return Path(os.environ.get("RLGAN_LS_CACHE") or Path.home() / ".cache" / "rlgan-ls")


def sanitize(name: str) -> str:
    """A file-system-safe run name: letters, digits, '.', '_', '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def new_run_dir(logdir: str | os.PathLike, run_name: str, exist_ok: bool = False) -> Path:
    """Create ``logdir/run_name`` and return it.

    An existing non-empty directory is never reused silently: with ``exist_ok`` it is returned as
    is (for resuming), otherwise a suffix ``-2``, ``-3``, ... is appended so nothing is overwritten.
    """
    root = Path(logdir)
    base = sanitize(run_name)
    path = root / base
    if exist_ok and path.is_dir():
        return path
    i = 2
    while path.exists() and any(path.iterdir()):
        path = root / f"{base}-{i}"
        i += 1
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--logdir: cannot create run directory {path}: {e.strerror}") from None
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _gif(images: Sequence[Any], ms_per_frame: int) -> bytes:
    """PIL ``images`` as the bytes of a looping GIF."""
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=list(images[1:]), duration=ms_per_frame,
                   loop=0)
    return buffer.getvalue()


def save_animation(frames: Sequence[str | os.PathLike], out: str | os.PathLike, ms_per_frame: int = 500) -> None:
    """Atomically write the image files ``frames`` as a looping GIF at ``out``."""
    from PIL import Image

    atomic_write_bytes(out, _gif([Image.open(f).convert("RGB") for f in frames], ms_per_frame))


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Tensor):
        return obj.tolist()
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` (dataclasses, mappings, tensors allowed) as indented JSON."""
    atomic_write_bytes(path, (json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON ({e}); the file is corrupt") from None


# ------------------------------------------------------------------------------- checkpoints
# A checkpoint is any nested structure of dicts, lists, tensors and JSON scalars (a model's
# state_dict, an optimizer's state_dict with its integer keys, RNG states). Tensors go into the
# safetensors payload under generated keys; the structure, with tensor leaves replaced by their
# keys, goes into the safetensors metadata as JSON.

def _encode(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):  # keys keep their type (optimizer state uses int keys)
        return {"__dict__": [[k, _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}; use tensors, dicts, lists and scalars")


def _decode(obj: Any, tensors: Mapping[str, Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Atomically save a nested state (tensors, dicts, lists, scalars) as one safetensors file."""
    tensors: dict[str, Tensor] = {}
    structure = _encode(state, tensors)
    atomic_write_bytes(path, st_save(tensors, metadata={"rlgan_ls.state": json.dumps(structure)}))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; :class:`UsageError` if missing or corrupt."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path} does not exist") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + header_len]).get("__metadata__", {})
        structure = json.loads(meta["rlgan_ls.state"])
    except (SafetensorError, ValueError, KeyError, UnicodeDecodeError) as e:
        raise UsageError(f"checkpoint {path} is corrupt or not an rlgan-ls checkpoint ({type(e).__name__})") from None
    tensors = {k: v.to(map_location) for k, v in tensors.items()}
    return _decode(structure, tensors)


# ------------------------------------------------------------------------------- TensorBoard

class MetricRows:
    """Per-step metrics kept on the device, read back in one transfer every N steps.

    Each :meth:`append` takes the same names every step, as 0-dim tensors, and stacks them into one
    row (one kernel); :meth:`take` returns the ``(steps, names)`` block and starts a new one.
    """

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self._rows: list[Tensor] = []

    def append(self, metrics: Mapping[str, Tensor]) -> None:
        names = tuple(metrics)
        if self._rows and names != self.names:
            raise ValueError(f"every step must log the same metrics: {names} after {self.names}")
        self.names = names
        self._rows.append(torch.stack([v.detach().float().reshape(()) for v in metrics.values()]))

    def __len__(self) -> int:
        return len(self._rows)

    def take(self) -> Tensor:
        """The rows so far, ``(n, len(names))`` on their device; the buffer is emptied."""
        rows, self._rows = torch.stack(self._rows), []
        return rows


class RunLogger:
    """A TensorBoard writer for one run directory.

    ``scalars`` accepts tensors: they are stacked and read back to the host in one transfer, so a
    training loop can hand over device-side accumulators every N steps without N syncs.
    """

    def __init__(self, run_dir: str | os.PathLike, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # lazy: pulls in tensorboard

        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge_step)

    def scalars(self, values: Mapping[str, float | Tensor], step: int) -> dict[str, float]:
        names = list(values)
        tensors = [v for v in values.values() if isinstance(v, Tensor)]
        # One device-to-host transfer for all tensor values, however many there are.
        host = iter(torch.stack([t.detach().float().reshape(()) for t in tensors]).cpu().tolist() if tensors else [])
        out = {n: (next(host) if isinstance(values[n], Tensor) else float(values[n])) for n in names}
        for name, value in out.items():
            self.writer.add_scalar(name, value, step)
        return out

    def layout(self, chart_tags: Sequence[str], title: str = "label smoothing: curves of every α and seed") -> None:
        """A custom-scalars layout (one chart per tag, every run's curve in it), written into this run's own
        event file: TensorBoard merges the layouts of all runs, so no extra run appears in its run list."""
        self.writer.add_custom_scalars({title: {tag: ["Multiline", [f"^{tag}$"]] for tag in chart_tags}})

    def image(self, tag: str, image: Tensor, step: int) -> None:
        """Log a ``(C, H, W)`` image with values in [0, 1]."""
        self.writer.add_image(tag, image.detach().cpu().clamp(0, 1), step)

    def animation(self, tag: str, frames: Sequence[Any], fps: float, step: int = 0, max_width: int = 320) -> None:
        """Log ``frames`` ((H, W, 3) uint8 arrays) as an animated GIF in the Images tab (what ``add_video``
        writes; torch's ``add_video`` needs the ``moviepy.editor`` module that moviepy 2 removed)."""
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        images = [Image.fromarray(f) for f in frames]
        scale = min(1.0, max_width / images[0].width)
        size = (round(images[0].width * scale), round(images[0].height * scale))
        gif = _gif([im.resize(size) for im in images], round(1000 / fps))
        image = Summary.Image(height=size[1], width=size[0], colorspace=3, encoded_image_string=gif)
        self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Write hparams into this run's own directory (``SummaryWriter.add_hparams`` would make a
        new sub-run), so TensorBoard's HParams tab lists one row per run with these metrics."""
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
        exp, ssi, sei = hparams_summary(clean, dict(metrics))
        fw = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            fw.add_summary(summary)
        # The HParams tab shows, for each metric tag, the latest scalar logged under that tag in
        # this run, so the metrics must also be logged as ordinary scalars (the trainers do).

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
