"""``rlgan-ls gan``: train a DCGAN with label smoothing.

    rlgan-ls gan --dataset digits --alpha 0.1 --smoothing one-sided --steps 2000 --image-size 32 --seed 0
    rlgan-ls gan --resume runs/digits-one-sided-a0.1-ns-s0 --steps 4000
    torchrun --nproc-per-node 2 -m rlgan_ls.cli gan --dataset cifar10 --image-size 64

Presets come from ``gan/<dataset>.toml`` (or ``--recipe NAME|FILE``); flags override them. Every flag
is a field of :class:`~rlgan_ls.dcgan.config.GANConfig` and its help text is that field's docstring.
This module only parses flags and calls :func:`~rlgan_ls.dcgan.train.train_gan`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from .. import tags
from ..errors import UsageError
from ..flags import add_config_flags, flags_layer
from ..recipes import build_config, recipe_summary
from .config import GANConfig

__all__ = ["config_from_args", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gan", help="train a DCGAN with (one-sided) label smoothing",
                       description="Train a DCGAN with label smoothing. Flags override the dataset's recipe "
                                   "(gan/<dataset>.toml or --recipe), which overrides the defaults shown.",
                       epilog="gan recipes (gan/<dataset>.toml) and the defaults they change:\n"
                              + recipe_summary("gan"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default=None, help="recipe name in gan/ or a .toml file (default: the dataset's)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR with its own config (flags may change only the resumable "
                        "settings: --steps, cadences, device, precision, compile, layout)")
    add_config_flags(p, GANConfig)
    p.set_defaults(func=_main)


def config_from_args(args: argparse.Namespace) -> GANConfig:
    """Defaults, then the recipe (or, with --resume, the run's own config), then the flags. Writes nothing."""
    flags = flags_layer(args, GANConfig)
    if args.resume:
        from ..runs import Run
        from .state import load_run_config

        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 takes the lock: the others must not look
            Run(args.resume).refuse_if_busy()

        if args.recipe:
            raise UsageError("--recipe: --resume continues a run with its own config; drop --recipe")
        stored = dataclasses.asdict(load_run_config(args.resume))
        return build_config(GANConfig, stored, flags, source=f"{args.resume}/checkpoint")
    return GANConfig.from_recipe(flags.pop("dataset", None), args.recipe, **flags)


def _main(args: argparse.Namespace) -> int:
    from .train import train_gan

    cfg = config_from_args(args)
    metrics = train_gan(cfg, resume=args.resume).metrics
    keys = (tags.D_REAL, tags.D_FAKE, tags.GRAD_G_MEAN, tags.FD, tags.CLASS_COVERAGE, tags.CLASS_KL, tags.MODES,
            tags.MODES_ROBUST)
    print("  ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics))
    return 0
