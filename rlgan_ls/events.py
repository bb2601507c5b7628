"""TensorBoard event files of one run, and per-step metrics kept on the device until they are read back.

:class:`RunLogger` writes scalars (tensors welcome: one device-to-host transfer per call), images,
animations, the custom-scalars layout and the HParams row into the run's own event files.
:class:`MetricRows` stacks a step's metrics on the device so a loop reads them back every N steps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .storage import gif_bytes

__all__ = ["MetricRows", "RunLogger"]

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
        gif = gif_bytes([im.resize(size) for im in images], round(1000 / fps))
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
