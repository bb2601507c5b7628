"""``rlgan-ls teacher``, ``rlgan-ls distill`` and ``rlgan-ls evaluate``.

    rlgan-ls teacher  --env CartPole-v1 [--algo ppo] [--steps N] [--seed S] [--out PATH]
    rlgan-ls distill  --env CartPole-v1 --method dagger --alpha 0.1 --seed 0 --logdir runs
    rlgan-ls evaluate runs/CartPole-v1-dagger-a0.1-s0 [--episodes 20]

``--teacher PATH`` loads a Stable-Baselines3 .zip. Such files are pickles and can run code when
loaded: use only files you trust (a warning says so each time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

import numpy as np

from .. import tags
from ..errors import UsageError
from ..flags import add_config_flags, field_docs, flags_layer, help_text
from ..recipes import recipe_summary
from ..storage import writable_file
from .config import DistillConfig, task_name
from .envs import TEACHER_ALGOS, make_vec, resolve_env
from .rollouts import EVAL_SEED_OFFSET

__all__ = ["config_from_args", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("teacher", help="train (or reuse) a cached Stable-Baselines3 teacher for an env",
                       description="Train a Stable-Baselines3 teacher with the env recipe's rl-baselines3-zoo "
                                   "settings (or, for an env without a recipe, SB3's defaults) and cache it; "
                                   "later runs reuse it.")
    t.add_argument("--env", required=True, help="Gymnasium id, module:EnvId or an envs/ recipe name")
    t.add_argument("--algo", choices=TEACHER_ALGOS, default=None,
                   help="teacher algorithm (default: the recipe's; required without a recipe)")
    t.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's; required "
                                                           "without a recipe)")
    t.add_argument("--hyperparams", nargs="+", default=(), metavar="KEY=VALUE",
                   help="override SB3 settings, e.g. learning_rate=3e-4 n_steps=512 "
                        "\"policy_kwargs={'net_arch': [64, 64]}\" (values are Python literals)")
    t.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    t.add_argument("--out", default=None, help="also copy the teacher .zip here")
    t.add_argument("--cache-dir", default=None, help="teacher cache (default: $RLGAN_LS_CACHE/teachers or "
                                                     "~/.cache/rlgan-ls/teachers)")
    t.add_argument("--force", action="store_true", help="retrain even if a cached teacher exists")
    t.add_argument("--eval-episodes", type=int, default=20, help="episodes to evaluate the teacher (default: 20)")
    t.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    t.set_defaults(func=_teacher)

    d = sub.add_parser("distill", help="distill a teacher into a small student (bc or dagger) with smoothed targets",
                       description="Flags override the agent recipe (agents/<env>.toml or --recipe), which "
                                   "overrides the defaults shown. --teacher PATH loads an SB3 .zip: a pickle, "
                                   "trusted files only.",
                       epilog="agent recipes (agents/<env>.toml) and the defaults they change:\n"
                              + recipe_summary("agents"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--recipe", default=None, help="agent recipe name or .toml path (default: agents/<env>.toml "
                                                  "if it exists)")
    d.add_argument("--env", nargs="+", default=None, metavar="ENV",
                   help=help_text(field_docs(DistillConfig)["env"], DistillConfig.env))
    add_config_flags(d, DistillConfig, skip=("env",))
    d.set_defaults(func=_distill)

    en = sub.add_parser("ensemble", help="train distillation runs together as one stacked student "
                                         "(what 'sweep distill --ensemble' runs)",
                        description="Train the distillation runs listed in SPEC (a JSON file: "
                                    "{\"members\": [[\"distill\", ARGS...], ...]}) together: their shapes must "
                                    "agree; they may differ in alpha, seed, prior, loss and label noise. Each writes "
                                    "its own run directory.")
    en.add_argument("spec", help="the JSON file listing each member's 'rlgan-ls distill' arguments")
    en.set_defaults(func=_ensemble)

    e = sub.add_parser("evaluate", help="evaluate a saved student and print mean ± std return")
    e.add_argument("run_dir", help="a run directory written by 'rlgan-ls distill'")
    e.add_argument("--episodes", type=int, default=20, help="episodes (default: 20)")
    e.add_argument("--seed", type=int, default=None,
                   help=f"evaluation seed (default: the run's seed + {EVAL_SEED_OFFSET}, as in its final evaluation)")
    e.add_argument("--envs", type=int, default=10, help="parallel environments (default: 10)")
    e.add_argument("--env", default=None, metavar="TASK",
                   help="a multi-task run: the env whose head to evaluate (one of the run's --env)")
    e.add_argument("--json", action="store_true", help="print a JSON object instead")
    e.add_argument("--video", nargs="?", const="", default=None, metavar="PATH",
                   help="also film one greedy episode: an MP4 (default RUN_DIR/student.mp4) and eval/video in the "
                        "run's TensorBoard")
    e.set_defaults(func=_evaluate)


# ------------------------------------------------------------------------------------ teacher

def _teacher(args: argparse.Namespace) -> int:
    from .teachers.cache import TeacherRequest, cached_teacher, teacher_path, train_teacher

    if args.eval_episodes < 1:
        raise UsageError(f"--eval-episodes must be >= 1, got {args.eval_episodes}")
    if args.out:
        writable_file(args.out, "--out")  # before minutes of training
    recipe = resolve_env(args.env)
    req = TeacherRequest(recipe, args.algo, args.seed, args.steps, tuple(args.hyperparams), args.cache_dir)
    path, algo, params = teacher_path(req)
    cached = None if args.force else cached_teacher(path, algo, params["steps"])
    if cached is not None:
        print(f"cached {algo.upper()} teacher for {recipe.env_id}: {path} (return {cached.return_mean:.2f} ± "
              f"{cached.return_std:.2f}); --force retrains")
    else:
        info = train_teacher(req, args.eval_episodes, args.progress)
        print(f"trained {algo.upper()} teacher for {recipe.env_id}: {info.path} "
              f"(return {info.return_mean:.2f} ± {info.return_std:.2f} over {info.episodes} episodes)")
    if args.out:
        out = writable_file(args.out, "--out")
        shutil.copyfile(path, out)
        print(f"copied to {out}")
    return 0


# ------------------------------------------------------------------------------------ distill

def config_from_args(args: argparse.Namespace) -> DistillConfig:
    """The config of parsed ``distill`` flags: defaults, the agent recipe, then the flags given."""
    flags = flags_layer(args, DistillConfig)
    env = task_name(flags.pop("env")) if "env" in flags else None
    return DistillConfig.from_recipe(env, args.recipe, **flags)


def _distill(args: argparse.Namespace) -> int:
    from .tasks import task_label
    from .trainer import distill

    cfg = config_from_args(args)
    result = distill(cfg)
    m = result.metrics
    if len(cfg.tasks) == 1:
        print(f"{result.run_dir}: {_summary(m)}, wall {m[tags.WALL_S]:.2f} s")
        return 0
    print(f"{result.run_dir}: {len(cfg.tasks)} tasks, normalized return {m[tags.NORMALIZED_RETURN]:.3f} (their "
          f"geometric mean), wall {m[tags.WALL_S]:.2f} s")
    for env in cfg.tasks:
        print(f"  {env}: {_summary({k: m[tags.per_task(k, task_label(env))] for k in _SUMMARY})}")
    return 0


_SUMMARY = (tags.RETURN_MEAN, tags.RETURN_STD, tags.NORMALIZED_RETURN, tags.ENTROPY, tags.AGREEMENT)


def _summary(m: dict[str, float]) -> str:
    """One task's final return, normalized return, entropy and agreement in words."""
    return (f"return {m[tags.RETURN_MEAN]:.2f} ± {m[tags.RETURN_STD]:.2f} (normalized {m[tags.NORMALIZED_RETURN]:.3f}: "
            f"teacher 1, random 0), {tags.ENTROPY} {m[tags.ENTROPY]:.4f}, agreement {m[tags.AGREEMENT]:.4f}")


def _ensemble(args: argparse.Namespace) -> int:
    from ..cli import build_parser
    from ..storage import read_json
    from .ensemble import distill_ensemble

    spec = read_json(args.spec)
    members = spec.get("members") if isinstance(spec, dict) else None
    if not isinstance(members, list) or not members or not all(isinstance(m, list) and m[:1] == ["distill"]
                                                                 for m in members):
        raise UsageError(f"{args.spec}: expected {{\"members\": [[\"distill\", ARGS...], ...]}}")
    parser, cfgs = build_parser(), []
    for member in members:
        parsed = parser.parse_args([str(a) for a in member])
        cfgs.append(config_from_args(parsed))
    failed = 0
    for cfg, result in zip(cfgs, distill_ensemble(cfgs)):
        if isinstance(result, Exception):
            failed += 1
            print(f"{cfg.run_name or cfg.default_run_name}: stopped: {result}", file=sys.stderr)
        else:
            print(f"{result.run_dir}: return {result.metrics[tags.RETURN_MEAN]:.2f}, {tags.ENTROPY} "
                  f"{result.metrics[tags.ENTROPY]:.4f}")
    return 1 if failed else 0


# ----------------------------------------------------------------------------------- evaluate

def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from .rollouts import eval_seed, evaluate
    from .students import load_run, student_actor

    if args.episodes < 1 or args.envs < 1:
        raise UsageError("--episodes and --envs must be >= 1")
    run = load_run(args.run_dir, args.env)
    student, spec, config, recipe = run.student, run.spec, run.config, run.recipe
    if args.video is not None:
        from .video import check_filmable

        if args.video:
            from .video import mp4_path

            writable_file(mp4_path(args.video), "--video")
        check_filmable(recipe)  # before evaluating: a request that cannot be met fails first
    torch.set_num_threads(int(config.get("threads", 1)))
    envs = make_vec(recipe, min(args.envs, args.episodes))
    aspec = run.action_spec(envs.single_action_space)
    seed = args.seed if args.seed is not None else eval_seed(int(config.get("seed", 0)))
    try:
        ev = evaluate(envs, student_actor(student, spec.nvec, aspec.to_env, "cpu"), args.episodes, seed)
    finally:
        envs.close()
    mean, std = float(np.mean(ev.returns)), float(np.std(ev.returns))
    if args.json:
        json.dump({"return_mean": mean, "return_std": std, "episodes": args.episodes, "seed": seed}, sys.stdout)
        print()
    else:
        print(f"{config['env']}: return {mean:.2f} ± {std:.2f} over {args.episodes} episodes (seed {seed})")
    if args.video is not None:
        from .video import record_video

        path, episode_return = record_video(run, args.video or None, seed)
        added = " (.mp4 added to the name you gave)" if args.video and str(path) != args.video else ""
        print(f"video of one greedy episode (return {episode_return:.2f}): {path}{added}")
    return 0
