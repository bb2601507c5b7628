"""Files that survive interruption: atomic writes, JSON, safetensors checkpoints, GIF animations.

Every write that could be interrupted goes to a temporary file in the same directory first and is
renamed into place, so a crash never leaves a half-written file behind. Checkpoints are safetensors
plus JSON: loading one never unpickles anything. Which file of a run holds what is
:mod:`rlgan_ls.runs`' business; this module only knows how to write and read files safely.
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

__all__ = ["atomic_write_bytes", "cache_root", "gif_bytes", "load_checkpoint", "read_json", "sanitize",
           "save_animation", "save_checkpoint", "temporary_beside", "umask", "writable_file", "writable_folder",
           "write_json"]


def cache_root() -> Path:
    """Where trained teachers, evaluation classifiers and downloaded datasets are cached:
    ``$RLGAN_LS_CACHE``, default ``~/.cache/rlgan-ls``."""
    return Path(os.environ.get("RLGAN_LS_CACHE") or Path.home() / ".cache" / "rlgan-ls")


def sanitize(name: str) -> str:
    """A file-system-safe run name: letters, digits, '.', '_', '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def writable_folder(path: str | os.PathLike, flag: str, create: bool = True) -> Path:
    """``path`` as a folder this process can write into, made when missing (with ``create``; without it,
    only checked: nothing is written); :class:`UsageError` naming ``flag`` when it is a file, cannot be
    made, or is read-only."""
    p = Path(path)
    existing = next(q for q in (p, *p.absolute().parents) if q.exists())
    if not existing.is_dir():
        raise UsageError(f"{flag} {p} is a file; pass a folder" if existing == p else
                         f"{flag} {p}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {p}: {existing} is read-only; pass a folder you can write to")
    if create:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{flag} {p}: cannot create it ({e.strerror})") from None
    return p


def writable_file(path: str | os.PathLike, flag: str) -> Path:
    """``path`` as a file this process can write (its folder made when missing); :class:`UsageError`
    naming ``flag`` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {p} is a folder; pass a file name")
    try:
        writable_folder(p.parent, flag)
    except UsageError as e:
        raise UsageError(str(e).replace(f"{flag} {p.parent}", f"{flag} {p}", 1)) from None
    return p


def umask() -> int:
    """The process's file-creation mask (read without changing it where the OS allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


def temporary_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temporary file next to ``path`` (``.<name>.*<suffix>``) with the permissions an ordinary file
    gets under the umask (``mkstemp`` alone makes it private, 0600, and the rename would keep that)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~umask())
    return fd, tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def gif_bytes(images: Sequence[Any], ms_per_frame: int) -> bytes:
    """PIL ``images`` as the bytes of a looping GIF."""
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=list(images[1:]), duration=ms_per_frame,
                   loop=0)
    return buffer.getvalue()


def save_animation(frames: Sequence[str | os.PathLike], out: str | os.PathLike, ms_per_frame: int = 500) -> None:
    """Atomically write the image files ``frames`` as a looping GIF at ``out``."""
    from PIL import Image

    atomic_write_bytes(out, gif_bytes([Image.open(f).convert("RGB") for f in frames], ms_per_frame))


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
