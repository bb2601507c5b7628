"""The run object: one run directory, written and read in one place.

One run = one directory ``<logdir>/<run-name>/``. This module alone knows what the directory holds
and under which names: the resolved ``config.json`` (with the pipeline's ``kind``), the TensorBoard
event files, the checkpoint (GAN) or the student (distillation), the GAN's sample grids and their
animation, and ``metrics.json``, written last, whose presence marks the run finished. An experiment
folder (a sweep's ``--logdir``) holds runs, ``sweep.json`` and the cells' ``logs/``.

Writing: :meth:`Run.create` makes a fresh directory (a taken name gets a ``-2``, ``-3`` ... suffix,
never a silent reuse); :meth:`Run.write_config`, :meth:`Run.open_logger` (the TensorBoard writer and
its layout), :meth:`Run.progress`, :meth:`Run.save_checkpoint`, :meth:`Run.finish` (hparams row and
``metrics.json``). Reading: :meth:`Run.open` checks that a folder is a run (of the expected kind) and
gives its config, kind, metrics, checkpoint paths and whether it finished.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from . import tags
from .errors import UsageError
from .events import RunLogger
from .storage import load_checkpoint, read_json, sanitize, save_animation, save_checkpoint, write_json

__all__ = ["Experiment", "Run"]

_CONFIG = "config.json"
_METRICS = "metrics.json"
_CHECKPOINT = "checkpoints/last.safetensors"
_STUDENT = "student.safetensors"
_STUDENT_JSON = "student.json"
_SAMPLES = "samples.png"
_SAMPLE_FRAMES = "samples"
_ANIMATION = "samples.gif"
_VIDEO = "student.mp4"
_SWEEP = "sweep.json"
_LOGS = "logs"


class Run:
    """One run directory. ``Run(path)`` touches nothing; :meth:`create` and :meth:`open` check the disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.logger: RunLogger | None = None
        """The TensorBoard writer, once :meth:`open_logger` made it."""
        self._config: dict[str, Any] | None = None
        self._metrics: dict[str, float] | None = None
        self._t0 = time.perf_counter()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ what the directory holds

    @property
    def config_file(self) -> Path:
        return self.path / _CONFIG

    @property
    def metrics_file(self) -> Path:
        return self.path / _METRICS

    @property
    def checkpoint_file(self) -> Path:
        """The GAN's training state (the latest one; written atomically)."""
        return self.path / _CHECKPOINT

    @property
    def student_file(self) -> Path:
        """A distilled student's weights, spec and config (safetensors)."""
        return self.path / _STUDENT

    @property
    def animation_file(self) -> Path:
        """The GAN's sample grids over training, as a GIF."""
        return self.path / _ANIMATION

    @property
    def video_file(self) -> Path:
        """Where ``evaluate --video`` puts its MP4 by default."""
        return self.path / _VIDEO

    def export_file(self, name: str) -> Path:
        """A file a tool writes beside the run (an exported or fine-tuned SB3 zip)."""
        return self.path / name

    # ------------------------------------------------------------------ reading

    @classmethod
    def open(cls, path: str | os.PathLike, kind: tags.Kind | None = None, what: str = "RUN_DIR") -> Run:
        """The run in ``path``; :class:`UsageError` naming the folder when it is not one (of ``kind``).

        ``what`` names the argument in the message (``RUN_DIR``, ``--resume``)."""
        run = cls(path)
        p = run.path
        if not p.exists():
            raise UsageError(f"{what} {p}: no such directory; pass a run directory that a command created")
        if not p.is_dir():
            raise UsageError(f"{what} {p} is a file, not a run directory")
        if not run.config_file.is_file():
            raise UsageError(f"{what} {p} is not an rlgan-ls run (it has no {_CONFIG})")
        if run.kind not in tags.KINDS:
            raise UsageError(f"{what} {p}: its {_CONFIG} names no kind of run (distill or gan); it was not written "
                             f"by this version")
        if kind is not None and run.kind != kind:
            command = {"distill": "rlgan-ls distill", "gan": "rlgan-ls gan"}[kind]
            raise UsageError(f"{what} {p} is a {run.kind} run, not a {kind} run; pass a directory that "
                             f"'{command}' wrote")
        return run

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run was trained with (read once)."""
        if self._config is None:
            config = read_json(self.config_file)
            if not isinstance(config, dict):
                raise UsageError(f"{self.config_file} is not a JSON object; the file is corrupt")
            self._config = config
        return self._config

    @property
    def kind(self) -> str | None:
        """``distill`` or ``gan``."""
        return self.config.get("kind")

    @property
    def finished(self) -> bool:
        """The run wrote its final metrics."""
        return self.metrics_file.is_file()

    @property
    def metrics(self) -> dict[str, float]:
        """The numeric final metrics (``metrics.json``, read once); :class:`UsageError` if the run has not finished."""
        if self._metrics is None:
            raw = read_json(self.metrics_file)
            if not isinstance(raw, dict):
                raise UsageError(f"{self.metrics_file} is not a JSON object; the file is corrupt")
            self._metrics = {k: float(v) for k, v in raw.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return self._metrics

    @property
    def task(self) -> str:
        """What the run learned on: its env (distillation) or dataset (GAN)."""
        key = tags.TASK_KEY.get(self.kind, "")  # type: ignore[call-overload]
        return str(self.config.get(key, "?"))

    @property
    def alpha(self) -> float:
        return float(self.config["alpha"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def sample_frames(self) -> list[Path]:
        """The GAN's sample grid of every evaluation so far, in step order."""
        return sorted((self.path / _SAMPLE_FRAMES).glob("step_*.png"))

    def load_checkpoint(self, map_location: str = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_file, map_location)

    # ------------------------------------------------------------------ writing

    @classmethod
    def create(cls, logdir: str | os.PathLike, name: str) -> Run:
        """A new, empty run directory ``logdir/name``; a taken name gets ``-2``, ``-3``, ... (never reused)."""
        root, base = Path(logdir), sanitize(name)
        path, i = root / base, 2
        while path.exists() and (not path.is_dir() or any(path.iterdir())):
            path, i = root / f"{base}-{i}", i + 1
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--logdir: cannot create run directory {path}: {e.strerror}") from None
        return cls(path)

    def write_config(self, kind: tags.Kind, config: Mapping[str, Any]) -> None:
        """``config.json``: the resolved config, with the pipeline's ``kind`` first."""
        self._config = {"kind": kind, **config}
        write_json(self.config_file, self._config)

    def open_logger(self, layout: Sequence[str] = (), purge_step: int | None = None) -> RunLogger:
        """The run's TensorBoard writer; ``layout`` (tags) becomes its custom-scalars charts. A resumed
        run passes ``purge_step``: events a killed attempt logged from that step on are dropped."""
        self.logger = RunLogger(self.path, purge_step=purge_step)
        if layout:
            self.logger.layout(layout)
        return self.logger

    def progress(self, total: int, enabled: bool = True, initial: int = 0, unit: str = "it") -> Any:
        """A progress bar for this run (tqdm), off when ``enabled`` is false."""
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, disable=not enabled, unit=unit, dynamic_ncols=True,
                    desc=self.name, leave=False)

    def start_clock(self) -> None:
        """Wall time counts from here."""
        self._t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since :meth:`start_clock` (or since this object was made)."""
        return time.perf_counter() - self._t0

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        save_checkpoint(self.checkpoint_file, state)

    def save_student(self, state: Mapping[str, Any], summary: Mapping[str, Any]) -> Path:
        """The student's checkpoint (weights, spec, config) and a readable JSON ``summary`` beside it."""
        save_checkpoint(self.student_file, state)
        write_json(self.path / _STUDENT_JSON, summary)
        return self.student_file

    def save_samples(self, grid: Tensor, step: int) -> None:
        """A GAN sample grid ``(C, H, W)`` in [0, 1]: the latest one, this step's frame, and the animation."""
        import torchvision.utils as vutils

        vutils.save_image(grid, self.path / _SAMPLES)
        frames = self.path / _SAMPLE_FRAMES
        frames.mkdir(exist_ok=True)
        vutils.save_image(grid, frames / f"step_{step:07d}.png")
        save_animation(self.sample_frames(), self.animation_file)

    def finish(self, metrics: Mapping[str, float], hparams: Mapping[str, Any], hparam_metrics: Sequence[str]) -> None:
        """The HParams row (``hparams`` beside the ``hparam_metrics`` it has), then ``metrics.json``."""
        if self.logger is not None:
            self.logger.hparams(hparams, {k: metrics[k] for k in hparam_metrics if k in metrics})
            self.close()
        self._metrics = dict(metrics)
        write_json(self.metrics_file, self._metrics)

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()


@dataclass(frozen=True)
class Experiment:
    """A folder of runs: a study. A sweep records its plan in ``sweep.json`` and its cells' output in ``logs/``."""

    path: Path

    @property
    def plan_file(self) -> Path:
        return self.path / _SWEEP

    def plan(self) -> dict[str, Any] | None:
        """What the sweep that made this folder recorded, or None for a folder of runs made by hand."""
        return read_json(self.plan_file) if self.plan_file.is_file() else None

    def write_plan(self, plan: Mapping[str, Any]) -> None:
        write_json(self.plan_file, plan)

    @property
    def logs_dir(self) -> Path:
        """Where a sweep keeps its cells' output."""
        return self.path / _LOGS

    def log_file(self, run_name: str) -> Path:
        return self.logs_dir / f"{run_name}.log"

    def run_dirs(self) -> Iterator[Path]:
        """Sub-folders that may be runs (the logs folder aside), by name."""
        for p in sorted(self.path.iterdir()):
            if p.is_dir() and p.name != _LOGS:
                yield p
