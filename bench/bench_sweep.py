"""Studies at the speed of the hardware (issue 22): one study run three ways, side by side in one run.

    python bench/bench_sweep.py [--envs CartPole-v1 Pendulum-v1 InvertedPendulum-v5 ...]
                                [--alphas 0 0.1 0.3] [--seeds 0 1 2 3 4] [--workers 2] [--logdir DIR]
                                [--device cuda] [--no-reference]
    python bench/bench_sweep.py profile [--env CartPole-v1] [--cells 10]
    python bench/bench_sweep.py memory [--env CartPole-v1] [--members 60]
    python bench/bench_sweep.py breakdown [--envs ...] [--workers 2]

The default: the issue-13 study (DAgger, agent defaults, cached teachers, trained first if missing and
not timed) with ``--isolate`` (a process per cell), with persistent workers (the default) and with
``--ensemble``, in that order, each into its own experiment folder, timed from the sweep's start to its
end. Prints the wall times and their ratios; whether every metrics.json of the workers' runs equals the
isolated run's (wall-clock fields aside); and, per task, the IQM of the normalized return and of the
entropy of the ensemble's runs and of the isolated runs with their 95 % stratified bootstrap intervals,
and whether each lies inside the other's interval; then, as the yardstick for that check, a fourth sweep of
solo runs (persistent workers) with other seeds (5-9 for seeds 0-4) against the isolated runs: how often
two sets of runs that differ only in their seeds pass it.

``profile`` runs ``--cells`` distillation cells one after another in this process, as a worker does,
under cProfile (after one warm-up cell), and prints where the time goes. ``memory`` trains one ensemble of
``--members`` members (alphas x seeds on one env) in a child process and prints its peak resident memory.
``breakdown`` trains each task's first ensemble of the study (its cells split over ``--workers`` as the sweep
splits them) in this process, after the imports and teachers, and prints the seconds of each phase:
collection (rollouts, the teacher's labels, the students' choices), the stacked updates, the evaluation
episodes, the members' finishing (the teacher's labels of the evaluation states, metrics, files) and the rest
(set-up: students, optimizer, run directories, envs); then what one update costs by itself, stacked and
solo, at the study's sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rlgan_ls import tags
from rlgan_ls.cli import main as cli
from rlgan_ls.runs import Run
from rlgan_ls.study.compare import load_runs
from rlgan_ls.study.summary import summarize
from rlgan_ls.study.sweep import SweepPlan, run_sweep

ENVS = ["CartPole-v1", "Pendulum-v1", "InvertedPendulum-v5", "MountainCarContinuous-v0"]
CLOCK = {tags.WALL_S, tags.SPS}


def _device(args: argparse.Namespace) -> list[str]:
    """The cells' --device flag, when one was given."""
    return ["--device", args.device] if args.device else []


def _teachers(envs: list[str]) -> None:
    for env in envs:
        assert cli(["teacher", "--env", env, "--no-progress"]) == 0, env


def _sweep(root: Path, mode: str, args: argparse.Namespace) -> float:
    seeds = [s + len(args.seeds) for s in args.seeds] if mode == "reference" else args.seeds
    plan = SweepPlan("distill", args.alphas, seeds, root / mode, args.envs, ["--method", "dagger", *_device(args)],
                     args.workers,
                     isolate=mode == "isolate", ensemble=mode == "ensemble")
    t0 = time.perf_counter()
    results = run_sweep(plan, quiet=True)
    seconds = time.perf_counter() - t0
    bad = [r for r in results if r.status != "done"]
    assert not bad, [(r.cell.run_name, r.status, r.message) for r in bad]
    return seconds


def _identical(a: Path, b: Path) -> tuple[int, int]:
    """(runs compared, runs whose metrics.json differs outside the wall-clock fields)."""
    runs = sorted(p.name for p in a.iterdir() if (p / "metrics.json").is_file())
    differ = 0
    for name in runs:
        x, y = (json.loads((d / name / "metrics.json").read_text()) for d in (a, b))
        differ += {k: v for k, v in x.items() if k not in CLOCK} != {k: v for k, v in y.items() if k not in CLOCK}
    return len(runs), differ


def _iqm(folder: Path) -> dict[tuple[str, str], tuple[float, float, float]]:
    runs, _ = load_runs(folder)
    study = summarize(runs, "distill", 2000)
    out = {}
    for (task, alpha, metric), cell in study.cells.items():
        if metric in (tags.NORMALIZED_RETURN, tags.ENTROPY) and task != "all":
            out[(f"{task} α={alpha:g}", metric)] = (cell.iqm.point, cell.iqm.low, cell.iqm.high)
    return out


def study(args: argparse.Namespace) -> None:
    _teachers(args.envs)
    root = Path(args.logdir or tempfile.mkdtemp(prefix="bench-sweep-"))
    times = {}
    for mode in ("isolate", "workers", "ensemble"):
        times[mode] = _sweep(root, mode, args)
        print(f"  ({mode} took {times[mode]:.1f} s)", flush=True)  # as it goes, for a run cut short by a time limit
    cells = len(args.envs) * len(args.alphas) * len(args.seeds)
    print(f"{cells} cells ({', '.join(args.envs)} x alpha {args.alphas} x seeds {args.seeds}), "
          f"{args.workers} at a time, folder {root}")
    for mode, s in times.items():
        print(f"  {mode:>8}: {s:7.1f} s   {times['isolate'] / s:5.2f}x the isolated sweep")
    n, differ = _identical(root / "isolate", root / "workers")
    print(f"persistent workers vs isolate: {n - differ} of {n} metrics.json identical (wall-clock fields aside)")
    if args.reference:
        _reference(root, args)
    else:
        iso, ens = _iqm(root / "isolate"), _iqm(root / "ensemble")
        inside = {m: sum(_inside(iso[k], ens[k]) for k in iso if k[1] == m) for m in {k[1] for k in iso}}
        print("ensemble vs isolate, IQMs inside each other's intervals: "
              + ", ".join(f"{m} {n} of {len(iso) // 2}" for m, n in sorted(inside.items())))


def _inside(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Each IQM inside the other's interval."""
    return a[1] <= b[0] <= a[2] and b[1] <= a[0] <= b[2]


def _reference(root: Path, args: argparse.Namespace) -> None:
    """Ensemble against isolate, beside the same check between two sets of solo runs that differ only in
    their seeds (how often runs from one distribution pass it, 5 seeds against 5)."""
    _sweep(root, "reference", args)
    iso, ens, ref = (_iqm(root / m) for m in ("isolate", "ensemble", "reference"))
    print(f"IQM [95 % CI]: isolate | ensemble | solo runs with seeds {[s + len(args.seeds) for s in args.seeds]}; "
          f"each inside the other's interval (ensemble vs isolate; other seeds vs isolate)?")
    passed: dict[tuple[str, str], int] = {}
    for key in sorted(iso):
        a, b, c = iso[key], ens[key], ref[key]
        flags = _inside(a, b), _inside(a, c)
        for who, ok in zip(("ensemble", "other seeds"), flags):
            passed[(key[1], who)] = passed.get((key[1], who), 0) + ok
        print(f"  {key[0]:<32} {key[1]:<24} " + " | ".join(f"{x[0]:.3f} [{x[1]:.3f}, {x[2]:.3f}]" for x in (a, b, c))
              + "  " + " ".join("yes" if ok else "NO" for ok in flags))
    cells = len(iso) // 2
    for (metric, who), n in sorted(passed.items()):
        print(f"  {metric}: {who} vs isolate inside each other's intervals in {n} of {cells} cells")


def profile(args: argparse.Namespace) -> None:
    _teachers([args.env])
    root = Path(tempfile.mkdtemp(prefix="bench-profile-"))

    def cell(seed: int) -> None:
        assert cli(["distill", "--env", args.env, "--seed", str(seed), "--logdir", str(root), "--no-progress",
                    *_device(args)]) == 0

    cell(0)  # warm-up: imports, teacher, random return, as a worker's first cell
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for s in range(1, args.cells + 1):
        cell(s)
    prof.disable()
    wall = time.perf_counter() - t0
    walls = [Run(p).metrics[tags.WALL_S] for p in sorted(root.iterdir()) if Run(p).finished][1:]
    print(f"{args.cells} {args.env} cells in one process: {wall:.2f} s, {wall / args.cells:.3f} s a cell, of "
          f"which the runs themselves (first env step to final evaluation) {sum(walls) / len(walls):.3f} s")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def memory(args: argparse.Namespace) -> None:
    _teachers([args.env])
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    alphas = [0.0, 0.1, 0.2, 0.3]
    seeds = range(max(1, args.members // len(alphas)))
    members = [["distill", "--env", args.env, "--alpha", str(a), "--seed", str(s), "--logdir", str(root),
                "--run-name", f"a{a}-s{s}", "--no-progress", *_device(args)] for a in alphas for s in seeds]
    spec = root / "spec.json"
    spec.write_text(json.dumps({"members": members}))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rlgan_ls.cli", "ensemble", str(spec)], check=True,
                   stdout=subprocess.DEVNULL)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"an ensemble of {len(members)} {args.env} members: {time.perf_counter() - t0:.1f} s, peak resident "
          f"memory {peak_mb:.0f} MB")


def breakdown(args: argparse.Namespace) -> None:
    """Where a worker's time goes in ``--ensemble``: each task's first ensemble (as the sweep splits the
    task's cells over ``--workers``) trained in this process, after the imports and teachers are loaded."""
    import collections
    import functools

    from rlgan_ls.distill import ensemble, recorder, rollouts
    from rlgan_ls.distill.config import DistillConfig
    from rlgan_ls.distill.envs import probe_env, resolve_env
    from rlgan_ls.distill.teachers import resolve_teacher
    from rlgan_ls.study.sweep import _split

    _teachers(args.envs)
    t0 = time.perf_counter()
    for env in args.envs:  # every teacher loaded once (SB3 imported), as a worker's first cell of each task does
        resolve_teacher(DistillConfig(env=env, train_teacher=False), probe_env(resolve_env(env)), None)
    loaded = time.perf_counter() - t0
    print(f"the {len(args.envs)} teachers loaded (SB3 and the envs' modules imported): {loaded:.1f} s, once per worker")
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(owner: object, name: str, phase: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[phase] += time.perf_counter() - t

        setattr(owner, name, wrapper)

    for owner, name, phase in ((rollouts.Collector, "collect", "collect"), (ensemble, "_fit_members", "fit"),
                               (ensemble, "evaluate_members", "evaluate"), (ensemble, "distill_ensemble", "total"),
                               (recorder.DistillRecorder, "finish", "finish")):
        timed(owner, name, phase)
    root = Path(args.logdir or tempfile.mkdtemp(prefix="bench-breakdown-"))
    cells = [(a, s) for a in args.alphas for s in args.seeds]
    members = _split(cells, args.workers)[0]
    phases = ("collect", "fit", "evaluate", "finish")
    print(f"{'task':<26} members  total   " + "  ".join(f"{p:>8}" for p in phases) + "     rest")
    for env in args.envs:
        spent.clear()
        argv = [["distill", "--env", env, "--method", "dagger", "--alpha", str(a), "--seed", str(s), "--logdir",
                 str(root), "--run-name", f"{env}-a{a}-s{s}", "--no-progress", *_device(args)] for a, s in members]
        spec = root / f"{env}.json"
        spec.write_text(json.dumps({"members": argv}))
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli(["ensemble", str(spec)]) == 0
        rest = spent["total"] - sum(spent[p] for p in phases)
        print(f"{env:<26} {len(members):>7} {spent['total']:6.2f}   " + "  ".join(f"{spent[p]:8.2f}" for p in phases)
              + f" {rest:8.2f}")
    _arithmetic(len(members))


def _arithmetic(members: int, batch: int = 256) -> None:
    """What an update costs by itself at the study's sizes (Pendulum's student: 3 inputs, 64-64 Tanh, 11 bins):
    the stacked update of ``members`` students against as many solo updates, and torch's tanh beside sigmoid."""
    import torch

    from rlgan_ls.distill.ensemble import StackedStudents
    from rlgan_ls.distill.objective import DistillLoss
    from rlgan_ls.distill.students import MLPStudent, StudentSpec

    torch.manual_seed(0)
    spec = StudentSpec("mlp", (3,), (11,))
    students = [MLPStudent(spec) for _ in range(members)]
    stacked = StackedStudents(students)
    opt = torch.optim.Adam(list(stacked.params.values()))
    solo_opts = [torch.optim.Adam(s.parameters()) for s in students]
    loss_fn = DistillLoss((11,), 0.1)
    obs, actions = torch.randn(members, batch, 3), torch.randint(0, 11, (members, batch, 1))

    def stacked_update() -> None:
        loss, _ = loss_fn(stacked(obs).reshape(-1, 11), actions.reshape(-1, 1), None, reduction="none")
        opt.zero_grad()
        loss.reshape(members, -1).mean(1).sum().backward()
        opt.step()

    def solo_updates() -> None:
        for m, (student, o) in enumerate(zip(students, solo_opts)):
            loss, _ = loss_fn(student(obs[m]), actions[m], None)
            o.zero_grad()
            loss.backward()
            o.step()

    h = torch.randn(members, batch, 64)

    def per_call(fn) -> float:  # type: ignore[no-untyped-def]
        for _ in range(20):
            fn()
        t = time.perf_counter()
        for _ in range(200):
            fn()
        return (time.perf_counter() - t) / 200 * 1e3

    tanh, sigmoid = per_call(lambda: torch.tanh(h)) * 1e3, per_call(lambda: torch.sigmoid(h)) * 1e3
    print(f"one update of {members} students on {batch} states each: stacked {per_call(stacked_update):.2f} ms, "
          f"{members} solo updates {per_call(solo_updates):.2f} ms; on {members} x {batch} x 64 values torch.tanh "
          f"{tanh:.0f} us, torch.sigmoid {sigmoid:.0f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", choices=("study", "profile", "memory", "breakdown"), default="study")
    ap.add_argument("--envs", nargs="+", default=ENVS)
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--members", type=int, default=60)
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--device", default=None, help="passed to every cell (e.g. cuda); default: the cells' own")
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="study: skip the fourth sweep (solo runs with other seeds, the faithfulness yardstick)")
    args = ap.parse_args()
    {"study": study, "profile": profile, "memory": memory, "breakdown": breakdown}[args.what](args)


if __name__ == "__main__":
    main()
