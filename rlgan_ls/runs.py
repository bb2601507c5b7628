"""The run object: one run directory ``<logdir>/<run-name>/``, written and read in one place.

This module alone knows what the directory holds and under which names: ``config.json`` (resolved, with
the pipeline's ``kind``), the event files, the GAN's checkpoint and sample grids or the student, and
``metrics.json``, written last: the run finished. Writing: :meth:`Run.create` (a fresh, locked directory;
a taken name gets ``-2``, ``-3`` ...), :meth:`Run.resume`, then the writer, progress, checkpoints and
:meth:`Run.finish`. Reading: :meth:`Run.open` (one line naming the folder when it is not a run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from . import tags
from .errors import UsageError
from .events import RunLogger
from .locks import DirLock
from .progress import log, progress
from .storage import (
    load_checkpoint,
    read_json,
    sanitize,
    save_animation,
    save_checkpoint,
    writable_folder,
    write_json,
)

__all__ = ["Run"]

_CONFIG = "config.json"
_METRICS = "metrics.json"
_CHECKPOINT = "checkpoints/last.safetensors"
_STUDENT = "student.safetensors"
_STUDENT_JSON = "student.json"
_SAMPLES = "samples.png"
_SAMPLE_FRAMES = "samples"
_ANIMATION = "samples.gif"
_VIDEO = "student.mp4"
_CALIBRATION = "calibration.json"
_EVENTS = "events.out.tfevents.*"


class Run:
    """One run directory. ``Run(path)`` touches nothing; :meth:`create` and :meth:`open` check the disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.logger: RunLogger | None = None
        """The TensorBoard writer, once :meth:`open_logger` made it."""
        self._config: dict[str, Any] | None = None
        self._metrics: dict[str, float] | None = None
        self._t0 = time.perf_counter()
        self.lock = DirLock(self.path)
        """Held while this process writes the run (:meth:`create`, :meth:`resume`)."""
        # What the directory holds:
        self.config_file = self.path / _CONFIG  # the resolved config, with "kind"
        self.metrics_file = self.path / _METRICS  # the final metrics; written last, it marks the run finished
        self.checkpoint_file = self.path / _CHECKPOINT  # the GAN's latest training state
        self.student_file = self.path / _STUDENT  # a distilled student's weights, spec and config
        self.animation_file = self.path / _ANIMATION  # the GAN's sample grids over training, as a GIF
        self.video_file = self.path / _VIDEO  # where evaluate --video puts its MP4 by default
        self.calibration_file = self.path / _CALIBRATION  # a student's reliability diagram against its teacher

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def export_file(self, name: str) -> Path:
        """A file a tool writes beside the run (an exported SB3 zip)."""
        return self.path / name

    def tool_dir(self, tool: str, name: str) -> Path:
        """A new folder ``<run>/<tool>/<name>`` for what a tool makes of the run (``-2``, ... if taken)."""
        base, i = self.path / tool / name, 2
        path = base
        while path.exists():
            path, i = base.with_name(f"{name}-{i}"), i + 1
        path.mkdir(parents=True)
        log.info("%s: %s", tool, path, extra={"run_dir": str(self.path)})
        return path

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: str | os.PathLike, kind: tags.Kind | None = None, what: str = "RUN_DIR") -> Run:
        """The run in ``path``; a :class:`UsageError` naming the folder (as ``what``) if not one (of ``kind``)."""
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

    def event_files(self) -> list[Path]:
        """The run's own TensorBoard event files (never those of a folder nested inside it)."""
        return sorted(self.path.glob(_EVENTS))

    def sample_frames(self) -> list[Path]:
        """The GAN's sample grid of every evaluation so far, in step order."""
        return sorted((self.path / _SAMPLE_FRAMES).glob("step_*.png"))

    def generator_file(self, step: int) -> Path:
        """The GAN's generator at ``step``, kept at each checkpoint (:mod:`rlgan_ls.dcgan.sampling`)."""
        return self.path / "generators" / f"step_{step:07d}.safetensors"

    def generator_files(self) -> dict[int, Path]:  # the generators kept so far, by step
        return {int(p.stem[5:]): p for p in sorted(self.generator_file(0).parent.glob("step_*.safetensors"))}

    def load_checkpoint(self, map_location: str = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_file, map_location)

    # ------------------------------------------------------------------ writing
    @classmethod
    def create(cls, logdir: str | os.PathLike, name: str) -> Run:
        """A new run directory ``logdir/name``, locked for this process; a taken name gets ``-2``, ``-3``, ...
        (an existing folder is reused only when it is empty and no other process holds it)."""
        root, base = cls.check_logdir(logdir, create=True), sanitize(name)
        for i in range(1, 10_000):
            run = cls(root / (base if i == 1 else f"{base}-{i}"))
            if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
                continue
            try:
                run.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UsageError(f"--logdir {root}: cannot create run directory {run.path}: {e.strerror}") from None
            if run.lock.acquire():  # another process may have taken the same empty name a moment ago
                taken = f" ({root / base} already holds a run, so this one gets a suffix)" if i > 1 else ""
                log.info("run directory: %s%s", run.path, taken, extra={"run_dir": str(run.path)})
                return run
        raise UsageError(f"--logdir {root}: no free name for run {base}")

    @staticmethod
    def check_logdir(logdir: str | os.PathLike, create: bool = False) -> Path:
        """``logdir`` as a folder a run can be made in (writable, not inside another run); call it before
        anything slow, so that a bad ``--logdir`` fails first. Nothing is written unless ``create``."""
        _refuse_nesting(Path(logdir))
        return writable_folder(logdir, "--logdir", create)

    @classmethod
    def resume(cls, path: str | os.PathLike, kind: tags.Kind, what: str = "--resume") -> Run:
        """The run in ``path``, locked for this process to continue writing it; :class:`UsageError` when it
        is not a run of ``kind`` or another process is writing it. Half-written temporary files a killed
        writer left are removed; the old ``metrics.json`` goes only when :meth:`reopen` is called."""
        run = cls.open(path, kind, what)
        if not run.lock.acquire():
            raise UsageError(f"{what} {run.path}: another process (pid {run.lock.holder()}) is writing this run; "
                             f"wait for it to finish")
        for folder in (run.path, run.path / "checkpoints", run.path / _SAMPLE_FRAMES, run.generator_file(0).parent):
            for tmp in folder.glob(".*.tmp*"):
                tmp.unlink(missing_ok=True)
        return run

    def reopen(self) -> None:
        """The run is being extended: it is not finished until it writes its new metrics."""
        self.metrics_file.unlink(missing_ok=True)
        self._metrics = None

    @property
    def busy(self) -> bool:
        """Another process is writing this run now."""
        return self.lock.held_elsewhere()

    def refuse_if_busy(self, what: str = "--resume") -> None:
        """:class:`UsageError` when another process is writing this run."""
        if self.busy:
            raise UsageError(f"{what} {self.path}: another process (pid {self.lock.holder()}) is writing this run; "
                             f"wait for it to finish")

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
        """This run's progress: a bar on a terminal, a line now and then in a log, nothing if not ``enabled``."""
        return progress(total, self.name, enabled, initial, unit)

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
        log.info("finished: %s", self.path, extra={"run_dir": str(self.path)})

    def close(self) -> None:
        """Close the TensorBoard writer and let other processes write the run."""
        if self.logger is not None:
            self.logger.close()
        self.lock.release()


def _refuse_nesting(logdir: Path) -> None:
    """A run never goes inside another run's folder: its events would be read as part of that run."""
    for folder in (logdir, *logdir.resolve().parents):
        if (folder / _CONFIG).is_file():
            raise UsageError(f"--logdir {logdir} is inside the run directory {folder}; pick a folder outside it")
