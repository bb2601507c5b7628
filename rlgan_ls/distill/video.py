"""A video of a distilled student acting greedily: an MP4 beside the run, and the same clip in its TensorBoard.

The environment is created with ``render_mode="rgb_array"`` only when its ``metadata["render_modes"]``
offers it; otherwise the request is refused in one line (nothing is asked of an env that it does not
offer). The MP4 is encoded by moviepy with the ffmpeg binary that ``imageio-ffmpeg`` ships in its wheel,
so recording works offline; TensorBoard gets an animated GIF in its Images tab (``eval/video``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from gymnasium.error import DependencyNotInstalled

from .. import tags
from ..errors import UsageError
from ..storage import sanitize, temporary_beside
from .envs import EnvRecipe, make_env
from .rollouts import eval_seed
from .students import DistilledRun, load_run, student_actor

__all__ = ["check_filmable", "mp4_path", "record_video"]


def record_video(run: str | os.PathLike | DistilledRun, path: str | os.PathLike | None = None,
                 seed: int | None = None, max_steps: int = 1000) -> tuple[Path, float]:
    """Film one greedy episode of the student of ``run`` (a run directory, or one loaded with
    :func:`~rlgan_ls.distill.students.load_run`); return the MP4's path and the episode's return.

    Default path ``<run_dir>/student.mp4`` (a task's head of a multi-task run: ``student-<task>.mp4``); default
    seed the run's evaluation seed. The clip is also logged to the run's TensorBoard as ``eval/video``
    (``eval/<task>/video``).
    """
    run = run if isinstance(run, DistilledRun) else load_run(run)
    recipe, config = run.recipe, run.config
    check_filmable(recipe)
    _quiet_sdl()
    env = make_env(recipe, render_mode="rgb_array")
    act = student_actor(run.student, run.spec.nvec, run.action_spec(env.action_space).to_env, "cpu")
    obs, _ = env.reset(seed=seed if seed is not None else eval_seed(int(config.get("seed", 0))))
    try:
        first = env.render()
    except DependencyNotInstalled as e:  # e.g. pygame for classic control, box2d for LunarLander
        env.close()
        raise UsageError(f"--video: {recipe.name} cannot render here: {e}") from e
    frames, total, done = [np.asarray(first)], 0.0, False  # (H, W, 3) uint8 each
    while not done and len(frames) <= max_steps:
        obs, reward, terminated, truncated, _ = env.step(act(np.asarray(obs)[None])[0])
        frames.append(np.asarray(env.render()))
        total += float(reward)
        done = terminated or truncated
    fps = int(env.metadata.get("render_fps") or 30)
    env.close()
    label = sanitize(run.task) if run.task else None  # a multi-task run: one clip per task's head
    default = run.run.video_file
    out = mp4_path(path) if path is not None else default.with_stem(f"{default.stem}-{label}") if label else default
    _write_mp4(frames, out, fps)
    logger = run.run.open_logger()
    try:  # every other frame keeps the event file small
        logger.animation(tags.per_task(tags.VIDEO, label) if label else tags.VIDEO, frames[::2], fps=fps / 2)
    finally:
        run.run.close()
    return out, total


def mp4_path(path: str | os.PathLike) -> Path:
    """Where an MP4 asked for at ``path`` goes: ``path`` itself, with ``.mp4`` added when it has another suffix."""
    p = Path(path)
    return p if p.suffix.lower() == ".mp4" else p.with_name(p.name + ".mp4")


def _quiet_sdl() -> None:
    """pygame's SDL prints "XDG_RUNTIME_DIR is invalid" on headless machines without one; give it a private
    folder for this process (it only wants somewhere to put runtime files), and no audio device."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if not current or not os.path.isdir(current):
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="rlgan-ls-xdg-")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def check_filmable(recipe: EnvRecipe) -> None:
    """:class:`UsageError` unless the env offers ``rgb_array`` rendering (asked without a render mode)."""
    probe = make_env(recipe)
    modes = list(probe.metadata.get("render_modes") or [])
    probe.close()
    if "rgb_array" not in modes:
        raise UsageError(f"--video: {recipe.name} renders no rgb_array frames (its render modes: "
                         f"{', '.join(modes) or 'none'}); there is nothing to film")


def _write_mp4(frames: list[np.ndarray], out: Path, fps: int) -> None:
    """Encode ``frames`` (H, W, 3) uint8 as an H.264 MP4 at ``out``, atomically."""
    from moviepy import ImageSequenceClip

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(out, ".tmp.mp4")  # moviepy picks the container from the suffix
    os.close(fd)
    try:
        ImageSequenceClip(frames, fps=fps).write_videofile(tmp, codec="libx264", audio=False, logger=None)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
