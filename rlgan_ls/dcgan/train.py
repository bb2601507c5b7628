"""``train_gan(cfg, resume)``: one DCGAN run, from a config to ``metrics.json``.

Set-up (joins the torchrun process group if there is one; loads the data; resolves the config;
rank 0 makes the run directory and the evaluator; builds or restores the training state), then
the loop: one :class:`~rlgan_ls.dcgan.step.GANStep` per step; metrics stay on the device and are
read back every ``log_every`` steps, which is also where NaN/inf is caught, so a checkpoint is only
ever written from a state known to be finite; evaluation and checkpoints at their cadences.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from .. import tags
from ..errors import UsageError
from ..progress import log
from ..recipes import resumable_fields
from ..runs import Run
from ..seeding import Seeds
from .config import GANConfig
from .data import BatchOrder, ImageData, load_dataset
from .distributed import DistInfo, barrier, broadcast_object, cleanup, setup
from .evaluation import Evaluator
from .models import Discriminator, Generator, layer_grad_norms
from .recorder import Recorder
from .state import GANState, load_run_checkpoint
from .step import GANStep

__all__ = ["GANResult", "train_gan"]


@dataclass
class GANResult:
    """What :func:`train_gan` returns (the same run is on disk in ``run_dir``)."""

    run_dir: Path
    """The run directory (events, config.json, checkpoint, samples.png, metrics.json)."""
    metrics: dict[str, float]
    """The contents of metrics.json."""
    G: Generator
    """The trained generator."""
    D: Discriminator
    """The trained discriminator."""


def train_gan(cfg: GANConfig, resume: str | os.PathLike | None = None) -> GANResult:
    """Train one DCGAN run as ``cfg`` says; with ``resume``, continue the run in that directory.

    A resumed run must have the same config apart from the fields marked resumable (``steps``,
    cadences, device, precision, compile, layout); :func:`~rlgan_ls.dcgan.state.load_run_config`
    gives it. Under ``torchrun`` every process calls this; rank 0 alone writes.
    """
    info = setup(cfg.device)
    try:
        if resume is not None and info.is_main:
            Run(resume).refuse_if_busy()  # first: whatever else is wrong, another writer is the news
        ckpt = load_run_checkpoint(resume) if resume is not None else None
        if resume is None and info.is_main:
            Run.check_logdir(cfg.logdir)  # before the data and the classifier
        data = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.download, cfg.max_images)
        cfg = cfg.resolved(info.device, data.channels)
        if ckpt is not None:
            _check_resume(cfg, ckpt, str(resume))
        if cfg.batch_size % info.world_size:
            raise UsageError(f"--batch-size {cfg.batch_size} must be divisible by the {info.world_size} processes")
        order = BatchOrder(len(data), cfg.batch_size // info.world_size, cfg.seed, info.rank, info.world_size)
        Seeds(cfg.seed, info.rank).seed_host()
        state = GANState.create(cfg, data.channels, info)
        if ckpt is not None:
            state.load_state(ckpt, info, str(resume))  # a checkpoint that does not fit fails before any write
        run = _shared_run(cfg, info, resume)
        if ckpt is not None and info.is_main:
            log.info("resuming %s from step %d of %d", run.path, state.step, cfg.steps,
                     extra={"run_dir": str(run.path)})
        try:  # however the run ends, its writer closes and its lock goes
            evaluator = Evaluator.build(data, cfg.classifier_steps) if info.is_main else None
            metrics = _loop(cfg, state, data, order, Recorder(cfg, state, run, info, evaluator))
        finally:
            run.close()
        return GANResult(run.path, metrics, state.G, state.D)
    finally:
        cleanup(info)


def _check_resume(cfg: GANConfig, ckpt: dict, run_dir: str) -> None:
    """``cfg`` may differ from the run's own config only in resumable fields, and must go further."""
    stored = ckpt["config"]
    # A setting newer than the checkpoint (absent from it) had its default's effect: e.g. d_steps 1.
    changed = [f.name for f in dataclasses.fields(cfg) if f.name not in resumable_fields(GANConfig)
               and getattr(cfg, f.name) != stored.get(f.name, f.default)]
    if changed:
        flags = ", ".join(f"--{n.replace('_', '-')} ({stored.get(n)!r} -> {getattr(cfg, n)!r})" for n in changed)
        allowed = ", ".join("--" + n.replace("_", "-") for n in resumable_fields(GANConfig))
        raise UsageError(f"--resume {run_dir}: {flags} cannot change; a resumed run keeps its config (only "
                         f"{allowed} may change)")
    done = int(ckpt["step"])
    if cfg.steps < done or (cfg.steps == done and Run(run_dir).finished):
        raise UsageError(f"--steps {cfg.steps}: the run in {run_dir} has already done {done} steps; "
                         f"pass a larger --steps to continue it")


def _shared_run(cfg: GANConfig, info: DistInfo, resume: str | os.PathLike | None) -> Run:
    """Rank 0 makes the run directory (or takes the resumed one) and writes config.json; all ranks get it."""
    path, run = None, None
    if info.is_main:
        if resume is not None:
            run = Run.resume(resume, "gan")
            run.reopen()  # extended: not finished until it writes its new metrics
        else:
            run = Run.create(cfg.logdir, cfg.run_name or cfg.default_run_name)
        run.write_config("gan", cfg.record())
        path = str(run.path)
    path = broadcast_object(info, path)
    barrier(info)
    assert path is not None  # rank 0 always has a run directory by now
    return run if run is not None else Run(path)


def _loop(cfg: GANConfig, state: GANState, data: ImageData, order: BatchOrder, rec: Recorder) -> dict[str, float]:
    """Train until ``cfg.steps``; return the final metrics (rank 0 also writes them to metrics.json)."""
    step = GANStep(cfg, state, rec.info)
    if state.step == 0:
        rec.evaluate()
    rec.start_clock()
    bar = rec.run.progress(cfg.steps, enabled=cfg.progress and rec.info.is_main, initial=state.step, unit="step")
    try:
        while state.step < cfg.steps:
            rec.add(step(data.batch(order.step_indices(state.step, cfg.d_steps), rec.info.device, step.memory_format)))
            state.step += 1
            if state.step % cfg.layer_grad_every == 0:
                rec.add_layer_norms(layer_grad_norms(state.G))
            bar.update(1)
            done = state.step == cfg.steps
            do_eval = state.step % cfg.eval_every == 0 or done
            do_ckpt = state.step % cfg.checkpoint_every == 0 or done
            if len(rec.rows) >= cfg.log_every or do_eval or do_ckpt:
                rec.flush()  # raises TrainingDiverged on NaN/inf, before any checkpoint of that state
                bar.set_postfix({k.split("/")[-1]: f"{state.last[k]:.3g}" for k in (tags.D_REAL, tags.D_FAKE)})
            if do_eval:
                rec.evaluate()
            if do_ckpt:
                rec.checkpoint()
    finally:
        bar.close()
        rec.close()
    return rec.finish()
