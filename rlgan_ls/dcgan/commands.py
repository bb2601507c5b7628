"""``rlgan-ls gan``: train a DCGAN with label smoothing.

    rlgan-ls gan --dataset digits --alpha 0.1 --smoothing one-sided --steps 2000 --image-size 32 --seed 0
    rlgan-ls gan --resume runs/digits-one-sided-a0.1-ns-s0 --steps 4000
    torchrun --nproc-per-node 2 -m rlgan_ls.cli gan --dataset cifar10 --image-size 64

Presets come from ``gan/<dataset>.toml`` (or ``--recipe NAME|FILE``); flags override them. Every flag
is a field of :class:`~rlgan_ls.dcgan.config.GANConfig` and its help text is that field's docstring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..recipes import add_config_flags, build_config, find_recipe, flags_layer, load_toml
from .config import GANConfig

__all__ = ["register", "run_gan"]

# With --resume the run's own config.json is authoritative; only these may change.
RESUMABLE = ("steps", "progress", "log_every", "eval_every", "checkpoint_every", "layer_grad_every",
             "device", "compile", "channels_last", "precision")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gan", help="train a DCGAN with (one-sided) label smoothing",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--recipe", default=None, help="recipe name in gan/ or a .toml file (default: the dataset's)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    add_config_flags(p, GANConfig)
    p.set_defaults(func=_main)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return flags_layer(args, GANConfig)


def _resolve_config(args: argparse.Namespace) -> tuple[GANConfig, dict[str, Any] | None]:
    """The run's config, and the checkpoint state when resuming. Writes nothing."""
    flags = _flags(args)
    if args.resume:
        from .state import load_run_checkpoint

        extra = sorted(k for k, v in flags.items() if v is not None and k not in RESUMABLE)
        if extra or args.recipe:
            names = ", ".join("--" + k.replace("_", "-") for k in extra) or "--recipe"
            raise UsageError(f"--resume continues a run with its own config; {names} cannot change "
                             f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE)})")
        state = load_run_checkpoint(args.resume)
        cfg = build_config(GANConfig, state["config"], flags, source=f"{args.resume}/checkpoint")
        if cfg.steps <= int(state["step"]):
            raise UsageError(f"--steps {cfg.steps}: the run in {args.resume} has already done {state['step']} "
                             f"steps; pass a larger --steps to continue it")
        return cfg, state
    dataset = flags.get("dataset") or "digits"
    name = args.recipe or ("folder" if dataset.startswith("folder:") else dataset)
    recipe = find_recipe("gan", name)
    if args.recipe and recipe is None:
        raise UsageError(f"--recipe {args.recipe}: no such recipe in gan/")
    layer = load_toml(recipe) if recipe else None
    return build_config(GANConfig, layer, flags, source=f"recipe {recipe}" if recipe else "flags"), None


def run_gan(cfg: GANConfig, state: dict[str, Any] | None = None, resume_dir: str | None = None) -> dict[str, float]:
    """Train one run (joins the torchrun process group if there is one); returns the final metrics."""
    import torch.distributed as dist

    from ..runs import new_run_dir, write_json
    from .data import BatchOrder, load_dataset
    from .distributed import barrier, cleanup, setup
    from .evaluation import Evaluator
    from .trainer import GANTrainer

    info = setup(cfg.device)
    try:
        if cfg.batch_size % info.world_size:
            raise UsageError(f"--batch-size {cfg.batch_size} must be divisible by the {info.world_size} processes")
        data = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.download, cfg.max_images)
        BatchOrder(len(data), cfg.batch_size // info.world_size, cfg.seed, info.rank, info.world_size)  # size check
        run_dir = Path(resume_dir) if resume_dir else None
        evaluator = None
        if info.is_main:
            if run_dir is None:
                run_dir = new_run_dir(cfg.logdir, cfg.run_name or cfg.default_run_name)
            write_json(run_dir / "config.json", cfg)
            evaluator = Evaluator.build(data, cfg.classifier_steps)
        if info.enabled:
            holder = [str(run_dir) if run_dir else None]
            dist.broadcast_object_list(holder, src=0)
            received = holder[0]
            assert received is not None  # rank 0 always has a run directory by now
            run_dir = Path(received)
        barrier(info)
        assert run_dir is not None
        trainer = GANTrainer(cfg, data, run_dir, info, evaluator)
        if state is not None:
            trainer.load_state(state)
        return trainer.train()
    finally:
        cleanup(info)


def _main(args: argparse.Namespace) -> int:
    from .trainer import TrainingDiverged

    cfg, state = _resolve_config(args)
    try:
        metrics = run_gan(cfg, state, args.resume)
    except TrainingDiverged as e:
        print(f"rlgan-ls gan: stopped: {e}", file=sys.stderr)
        return 1
    if cfg.progress:
        keys = ("d/real", "d/fake", "grad_norm/generator_mean", "eval/fd", "eval/class_coverage", "eval/class_kl")
        print("  ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics))
    return 0
