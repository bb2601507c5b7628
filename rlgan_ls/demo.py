"""``rlgan-ls demo``: the main job. Two sweeps and their reports, offline, in minutes on a CPU.

1. Trains (or reuses the cached) PPO teacher for CartPole-v1.
2. Sweeps policy distillation (DAgger) on CartPole-v1 over α ∈ {0, 0.1, 0.3} and five seeds, in
   persistent workers (the numbers a process per cell would give, without its start-up cost).
3. Sweeps a DCGAN on the bundled 8×8 digits (resized to 32×32) over α ∈ {0, 0.1, 0.3}, in the regime
   where smoothing shows: no augmentation and the minimax generator loss, so the unsmoothed
   discriminator becomes confident and the generator's gradient fades, while one-sided smoothing caps
   D(real) at 1 - α and keeps it alive.
4. Writes both comparison reports and prints where they are and how to open TensorBoard.

Rerunning skips every cell that already finished, so an interrupted demo resumes. The budget is a
:class:`DemoBudget`; the default one is what ``make demo`` runs.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .study.compare import compare
from .study.sweep import SweepPlan, run_sweep

ALPHAS = (0.0, 0.1, 0.3)


@dataclass(frozen=True)
class DemoBudget:
    """How much the demo trains. The defaults run the whole demo in about 6 minutes on 2 CPU cores."""

    teacher_steps: int | None = None
    """Training steps of the CartPole-v1 PPO teacher (None: the env recipe's, 100k)."""
    distill_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds of the distillation sweep."""
    distill_args: tuple[str, ...] = ("--method", "dagger")
    """Flags of every distillation cell (on CartPole-v1)."""
    gan_seeds: tuple[int, ...] = (0,)
    """Seeds of the DCGAN sweep."""
    gan_args: tuple[str, ...] = ("--augment", "", "--generator-loss", "minimax", "--image-size", "32", "--steps",
                                 "1000", "--eval-every", "250")
    """Flags of every DCGAN cell (on digits)."""


def run_demo(logdir: str | Path, workers: int = 2, budget: DemoBudget = DemoBudget()) -> dict[str, Path]:
    """Run the demo under ``logdir``; return the report folders."""
    from .cli import main as cli_main

    root = Path(logdir)
    t0 = time.perf_counter()
    steps = ["--steps", str(budget.teacher_steps)] if budget.teacher_steps else []
    distill_args = [*budget.distill_args, *(["--teacher-steps", str(budget.teacher_steps)] if steps else [])]

    print("[1/4] CartPole-v1 PPO teacher (trained once, then cached)", flush=True)
    if cli_main(["teacher", "--env", "CartPole-v1", "--no-progress", *steps]) != 0:
        raise UsageError("demo: training the CartPole-v1 teacher failed; see the message above")

    print("[2/4] distillation sweep on CartPole-v1", flush=True)
    cartpole = root / "cartpole-ls"
    results = run_sweep(SweepPlan("distill", ALPHAS, budget.distill_seeds, cartpole, ["CartPole-v1"], distill_args,
                                  workers))
    print("[3/4] DCGAN sweep on digits", flush=True)
    _warm_classifier_cache(["--dataset", "digits", *budget.gan_args])
    digits = root / "digits-ls"
    results += run_sweep(SweepPlan("gan", ALPHAS, budget.gan_seeds, digits, ["digits"], budget.gan_args, workers))
    failed = [r for r in results if r.status == "failed"]

    print("[4/4] reports", flush=True)
    reports = {}
    for name, exp in (("cartpole", cartpole), ("digits", digits)):
        try:
            report = compare(exp)
        except UsageError as e:  # every cell of this sweep failed
            print(f"  no report for {exp}: {e}")
            continue
        reports[name] = report.out
        print(f"\n{exp.name}: {report.out / 'report.md'}")
        print((report.out / "table.md").read_text(), end="")
    minutes = (time.perf_counter() - t0) / 60
    print(f"\ndemo finished in {minutes:.1f} min; reports:")
    for path in reports.values():
        print(f"  {path / 'report.md'}")
    print(f"open the curves with:  tensorboard --logdir {root}")
    if failed:
        names = ", ".join(f"{r.cell.run_dir.parent.name}/{r.cell.run_name}" for r in failed)
        raise UsageError(f"demo: {len(failed)} cell(s) failed ({names}); their logs are in <experiment>/logs/")
    return reports


def _warm_classifier_cache(gan_args: list[str]) -> None:
    """Train the cells' evaluation classifier once here, so parallel GAN cells find it cached instead
    of each training their own copy. The config is built from the cells' own flags, as a cell does."""
    from .cli import build_parser
    from .dcgan.commands import config_from_args
    from .dcgan.data import load_dataset
    from .dcgan.evaluation import get_classifier

    cfg = config_from_args(build_parser().parse_args(["gan", *gan_args]))
    data = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.download, cfg.max_images)
    get_classifier(data, cfg.classifier_steps)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: both sweeps and both reports (minutes on 2 CPU cores)",
                       description="Train (or reuse) a CartPole-v1 PPO teacher, sweep DAgger distillation over "
                                   "alpha 0, 0.1, 0.3 and a DCGAN on the bundled 8x8 digits over the same alphas, "
                                   "write both comparison reports and print how to open TensorBoard. Offline; "
                                   "rerunning skips every finished run.")
    p.add_argument("--logdir", default="runs/demo", help="where the experiments go (default: runs/demo)")
    p.add_argument("--workers", type=int, default=2, help="cells run at once (default: 2)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    run_demo(args.logdir, args.workers)
    return 0
