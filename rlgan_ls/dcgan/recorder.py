"""What a GAN run records: metrics read back from the device, evaluations, checkpoints, final metrics.

Every rank reads its own step metrics back (the NaN/inf check is collective under DDP, so all ranks
stop together) and joins the checkpoint's gather of random states; rank 0 alone writes TensorBoard,
``samples.png`` (the latest grid from fixed noise), ``samples/step_*.png`` and their animation
``samples.gif``, the checkpoint with the generator it holds (:mod:`~rlgan_ls.dcgan.sampling`) and
``metrics.json``.
"""

from __future__ import annotations

import math
import time

import torch
import torch.distributed as dist
from torch import Tensor

from .. import tags
from ..errors import TrainingDiverged
from ..events import MetricRows
from ..runs import Run
from ..seeding import Seeds
from .config import GANConfig
from .distributed import DistInfo
from .evaluation import Evaluator
from .sampling import generate, noise, save_generator
from .state import GANState

__all__ = ["Recorder"]

_SAMPLE_GRID = 64


class Recorder:
    """The I/O of one GAN run on one rank.

    Args:
        cfg: the resolved run config.
        state: the training state whose step, totals and latest values it keeps up to date.
        run: the run directory (written by rank 0 only).
        info: this process's rank and device.
        evaluator: scores samples; ``None`` on ranks other than 0.
    """

    def __init__(self, cfg: GANConfig, state: GANState, run: Run, info: DistInfo,
                 evaluator: Evaluator | None) -> None:
        self.cfg, self.state, self.run, self.info, self.evaluator = cfg, state, run, info, evaluator
        self.rows = MetricRows()
        # A resumed run drops events logged after its checkpoint (a killed attempt's), then rewrites them.
        self.logger = (run.open_logger(() if state.step else tags.LAYOUT["gan"], state.step + 1 if state.step else None)
                       if info.is_main else None)
        self._layer_norms: tuple[int, dict[str, Tensor]] | None = None
        self.eval_noise = noise(cfg.eval_samples, cfg.z_dim, Seeds(cfg.seed).of("eval_noise"))  # (N, z), fixed
        self.start_clock()

    def start_clock(self) -> None:
        """Training time counts from here (the loop calls it after the untrained generator's evaluation)."""
        self._session = (time.perf_counter(), self.state.step)  # this session's start: clock and step
        self._lap = self._session[0]

    # ------------------------------------------------------------------------ per step

    def add(self, metrics: dict[str, Tensor]) -> None:
        """One step's metrics (device tensors), kept until the next :meth:`flush`."""
        self.rows.append(metrics)

    def add_layer_norms(self, norms: dict[str, Tensor]) -> None:
        """Per-layer generator gradient norms at the current step (written at the next flush)."""
        self._layer_norms = (self.state.step, norms)

    def flush(self) -> None:
        """Read the kept rows back (one transfer), stop on NaN/inf, write them to TensorBoard."""
        if not len(self.rows):
            return
        rows = self.rows.take()  # (n, metrics)
        bad = (~torch.isfinite(rows)).any().reshape(1).int()
        if self.info.enabled:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        host, names, s = rows.cpu().tolist(), self.rows.names, self.state
        first = s.step - len(host) + 1
        if bool(bad.item()):
            raise self._diverged(host, names, first)
        g = names.index(tags.GRAD_G)
        for i, row in enumerate(host):
            s.totals.grad_g_sum += row[g]
            s.totals.grad_g_steps += 1
            if self.logger is not None:
                for tag, value in zip(names, row):
                    self.logger.writer.add_scalar(tag, value, first + i)
        s.last.update(zip(names, host[-1]))
        if self.logger is not None:
            if self._layer_norms is not None:
                at, norms = self._layer_norms
                self.logger.scalars({tags.GRAD_G_LAYER + k: v for k, v in norms.items()}, at)
            self.logger.scalars({tags.SPS: self._steps_per_s()}, s.step)
        self._layer_norms = None

    def _diverged(self, host: list[list[float]], names: tuple[str, ...], first: int) -> TrainingDiverged:
        bad_rows = [(i, [t for t, v in zip(names, row) if not math.isfinite(v)]) for i, row in enumerate(host)]
        # The first broken row here; if every row here is finite, the bad value was on another rank.
        i, broken = next(((i, b) for i, b in bad_rows if b), (len(host) - 1, ["a loss on another rank"]))
        ckpt = self.run.checkpoint_file
        kept = f"the last good checkpoint is {ckpt}" if ckpt.is_file() else "no checkpoint was written yet"
        return TrainingDiverged(f"{', '.join(broken)} became NaN/inf at step {first + i}; training stopped; "
                                f"{kept} (try a lower --lr-d/--lr-g)")

    def _steps_per_s(self) -> float:
        start, first_step = self._session
        return (self.state.step - first_step) / max(time.perf_counter() - start, 1e-9)

    # ------------------------------------------------------------------------ evaluation and checkpoints

    @torch.no_grad()
    def sample(self, n: int | None = None) -> Tensor:
        """Images from the fixed evaluation noise, ``(n, C, S, S)`` in [-1, 1] on the CPU (G in eval mode)."""
        return generate(self.state.G, self.eval_noise[: n or len(self.eval_noise)], self.info.device)

    def evaluate(self) -> None:
        """eval/* metrics and the sample grid at the current step (rank 0; other ranks go on)."""
        if self.logger is None:
            return
        import torchvision.utils as vutils

        step = self.state.step
        images = self.sample()
        out = self.logger.scalars(self.evaluator.score(images) if self.evaluator else {}, step)
        grid = vutils.make_grid(images[:_SAMPLE_GRID], nrow=8, normalize=True, value_range=(-1, 1))  # (C, H, W)
        self.logger.image(tags.SAMPLES, grid, step)
        self.run.save_samples(grid, step)  # the latest grid, this step's frame, their animation
        if math.isnan(self.state.totals.fd_start) and tags.FD in out:
            self.state.totals.fd_start = out[tags.FD]
        self.state.last.update(out)

    def checkpoint(self) -> None:
        """Count the training time since the last checkpoint, then save the state (every rank joins) and keep
        the generator of this step (what ``rlgan-ls sample --step`` reads)."""
        now = time.perf_counter()
        self.state.totals.wall_s += now - self._lap
        self._lap = now
        checkpoint = {"config": self.cfg.record(), **self.state.state_dict(self.info)}
        if self.info.is_main:
            save_generator(self.run.generator_file(self.state.step), checkpoint["G"], checkpoint["config"],
                           self.state.step)
            self.run.save_checkpoint(checkpoint)

    # ------------------------------------------------------------------------ the end

    def close(self) -> None:
        if self.logger is not None:
            self.logger.flush()

    def finish(self) -> dict[str, float]:
        """The run's final metrics; rank 0 also logs its hparams row and writes ``metrics.json``."""
        s = self.state
        m = dict(s.last)
        m[tags.GRAD_G_MEAN] = s.totals.grad_g_mean
        m[tags.FD_START] = s.totals.fd_start
        if tags.FD in m and m[tags.FD] > 0:
            m[tags.FD_DROP] = s.totals.fd_start / m[tags.FD]
        m[tags.STEP] = float(s.step)
        m[tags.WALL_S] = s.totals.wall_s
        # This session's rate; a session that only finished a run trained in earlier ones: the run's.
        m[tags.SPS] = self._steps_per_s() if s.step > self._session[1] else s.step / max(s.totals.wall_s, 1e-9)
        if self.evaluator is not None:
            m[tags.CLASSIFIER_ACCURACY] = self.evaluator.accuracy
        if self.logger is not None:
            self.logger.scalars({tags.GRAD_G_MEAN: m[tags.GRAD_G_MEAN], tags.WALL_S: m[tags.WALL_S]}, s.step)
            self.run.finish(m, self.cfg.hparams(), tags.HPARAM_METRICS["gan"])
        return m
