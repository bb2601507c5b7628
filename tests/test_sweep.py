"""The sweep runner on real (tiny) GAN cells: failure isolation, resuming, Ray = local pool."""

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gan_flags

from rlgan_ls.cli import main
from rlgan_ls.study.compare import compare
from rlgan_ls.study.sweep import SweepPlan, run_local, run_sweep

TINY_GAN = [f for f in gan_flags(steps=4, g_width=8, d_width=8, eval_every=4)
            if f not in ("--dataset", "digits", "--no-progress")]  # the sweep names the task and silences cells


def test_plan_rejects_flags_the_sweep_owns(tmp_path):
    with pytest.raises(ValueError, match="--seed is set per cell"):
        SweepPlan("gan", [0.1], [0], tmp_path, extra=["--seed", "3"]).cells()
    with pytest.raises(ValueError, match="--alpha must be in"):
        SweepPlan("gan", [1.5], [0], tmp_path).cells()
    with pytest.raises(ValueError, match="--env is set per cell"):
        SweepPlan("distill", [0.1], [0], tmp_path, extra=["--env", "CartPole-v1"]).cells()
    cells = SweepPlan("distill", [0.0, 0.1], [0, 1], tmp_path, tasks=["CartPole-v1", "toy:Env-v0"]).cells()
    assert [c.run_name for c in cells[:4]] == ["CartPole-v1-a0-s0", "CartPole-v1-a0-s1", "CartPole-v1-a0.1-s0",
                                               "CartPole-v1-a0.1-s1"]
    assert cells[4].run_name == "toy-Env-v0-a0-s0" and cells[4].argv[cells[4].argv.index("--env") + 1] == "toy:Env-v0"
    assert cells[4].argv[:3] == (sys.executable, "-P", "-m")  # the working directory is not on the import path
    assert cells[3].argv[-5:] == ("--logdir", str(tmp_path.resolve()), "--run-name", "CartPole-v1-a0.1-s1",
                                  "--no-progress")
    assert SweepPlan("gan", [0.1], [0], tmp_path).cells()[0].run_name == "digits-a0.1-s0"  # the default task
    with pytest.raises(ValueError, match="0.1 and 0.1000001 would both be run digits-a0.1-s0"):
        SweepPlan("gan", [0.1, 0.1000001], [0], tmp_path).cells()


def test_a_failing_cell_does_not_stop_the_others_and_a_rerun_skips_finished_cells(tmp_path, capsys):
    exp = tmp_path / "digits-ls"
    plan = SweepPlan("gan", [0.0, 0.1], [0], exp, ["digits"], TINY_GAN, workers=2)
    cells = plan.cells()
    bad = cells[0]
    cells[0] = dataclasses.replace(bad, args=(*bad.args, "--smoothing", "sideways"))  # a bad flag in one cell
    results = run_local(cells, plan)
    assert [r.status for r in results] == ["failed", "done"]
    assert results[0].returncode == 2 and "sideways" in results[0].message
    assert "Traceback" not in bad.log_file.read_text()
    finished = exp / "digits-a0.1-s0" / "metrics.json"
    first_result = finished.read_bytes()
    stamp = finished.stat().st_mtime_ns

    # The same sweep from the command line: the failed cell runs now, the finished one is skipped.
    argv = ["sweep", "gan", "--dataset", "digits", "--alpha", "0", "0.1", "--seed", "0", "--workers", "2", "--logdir",
            str(exp), *TINY_GAN]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[   done] digits-a0-s0" in out and "[skipped] digits-a0.1-s0" in out
    assert "1 ran, 1 skipped (finished earlier), 0 failed" in out
    assert finished.stat().st_mtime_ns == stamp and finished.read_bytes() == first_result
    assert (exp / "digits-a0-s0" / "metrics.json").is_file()
    assert json.loads((exp / "sweep.json").read_text())["cells"] == ["digits-a0-s0", "digits-a0.1-s0"]
    assert sorted(p.name for p in exp.iterdir()) == ["digits-a0-s0", "digits-a0.1-s0", "logs", "sweep.json"]


def test_ray_backend_matches_the_local_pool(tmp_path):
    ray = pytest.importorskip("ray")
    local, remote = tmp_path / "local", tmp_path / "ray"
    grid = {"kind": "gan", "alphas": [0.0, 0.3], "seeds": [1], "extra": TINY_GAN, "workers": 2}
    assert [r.status for r in run_sweep(SweepPlan(logdir=local, **grid), quiet=True)] == ["done", "done"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert [r.status for r in run_sweep(SweepPlan(logdir=remote, backend="ray", **grid), quiet=True)] == ["done",
                                                                                                           "done"]
    finally:
        ray.shutdown()
    runs = ["digits-a0-s1", "digits-a0.3-s1"]
    for exp in (local, remote):
        assert sorted(p.name for p in exp.iterdir() if p.name.startswith("digits-")) == runs
    # Ray's own trial folders (with event files of their own) stay out of the experiment.
    assert sorted(p.name for p in remote.iterdir()) == [*runs, "logs", "sweep.json"]
    assert sorted(p.name for p in (remote / "logs").iterdir()) == [f"{r}.log" for r in runs]
    for name in runs:  # same seed, same settings, same thread count: the same numbers
        a = json.loads((local / name / "metrics.json").read_text())
        b = json.loads((remote / name / "metrics.json").read_text())
        for tag in ("grad_norm/generator", "d/real", "eval/fd", "loss/discriminator"):
            assert a[tag] == pytest.approx(b[tag], rel=1e-5), tag
    tables = []
    for exp in (local, remote):
        with open(compare(exp).out / "summary.csv") as f:
            tables.append([{k: v if k == "task" else f"{float(v):.4g}" for k, v in row.items()}  # nan == nan
                           for row in csv.DictReader(f)])
    assert tables[0] == tables[1]


def _children() -> set[int]:
    """The pids of this process's live (or unreaped) children, from Linux's /proc."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return pids


def test_persistent_workers_give_the_isolated_numbers(tmp_path):
    from stable_baselines3 import PPO

    teacher = tmp_path / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", seed=0).save(teacher)
    distill_flags = ["--teacher", str(teacher), "--n-envs", "2", "--rounds", "2", "--steps-per-round", "16",
                     "--updates-per-round", "5", "--eval-episodes", "2", "--eval-envs", "2"]
    grids = [("gan", ["digits"], TINY_GAN), ("distill", ["CartPole-v1"], distill_flags)]
    probe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert probe.pid in _children()  # the check sees a live child
    probe.kill()
    probe.wait()
    before = _children()
    for kind, tasks, extra in grids:
        for isolate in (True, False):
            plan = SweepPlan(kind, [0.0, 0.3], [0, 1], tmp_path / f"{kind}-{isolate}", tasks, extra, workers=2,
                             isolate=isolate)
            assert {r.status for r in run_sweep(plan, quiet=True)} == {"done"}
            assert _children() <= before  # every worker (or cell process) has exited and been waited for
        for a in sorted((tmp_path / f"{kind}-True").glob("*-a*")):
            ours, theirs = (json.loads((d / "metrics.json").read_text())
                            for d in (a, tmp_path / f"{kind}-False" / a.name))
            assert {k: v for k, v in ours.items() if k not in ("time/wall_s", "charts/SPS")} == \
                {k: v for k, v in theirs.items() if k not in ("time/wall_s", "charts/SPS")}, a.name


def test_a_worker_that_dies_fails_its_cell_only(tmp_path):
    import os
    import signal
    import threading
    import time

    from rlgan_ls.runs import Run

    plan = SweepPlan("gan", [0.0, 0.1, 0.3], [0], tmp_path, ["digits"], TINY_GAN, workers=1)
    cells = plan.cells()
    cells[0] = dataclasses.replace(cells[0], args=(*cells[0].args, "--steps", "100000", "--eval-every", "100000"))
    results: list = []
    sweep = threading.Thread(target=lambda: results.extend(run_local(cells, plan)))
    sweep.start()
    first = Run(tmp_path / "digits-a0-s0")
    deadline = time.monotonic() + 120
    while not first.busy:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(int(first.lock.holder()), signal.SIGKILL)  # the worker running the first cell
    sweep.join(timeout=600)
    assert [r.status for r in results] == ["failed", "done", "done"]
    assert results[0].returncode == -signal.SIGKILL and "worker" in cells[0].log_file.read_text()


def test_the_grid_plan_names_and_flags_every_cell(tmp_path):
    from rlgan_ls.study.grid import Grid

    grid = Grid.parse("distill", ["label-noise=0,0.2"])
    plan = SweepPlan("distill", [0.0, 0.1], [0, 1], tmp_path, ["CartPole-v1", "Acrobot-v1"], ["--method", "bc"],
                     grid=grid)
    cells = plan.cells()
    assert len(cells) == 16  # 2 tasks x 2 grid points x 2 alphas x 2 seeds
    assert [c.run_name for c in cells[:5]] == ["CartPole-v1-label-noise0-a0-s0", "CartPole-v1-label-noise0-a0-s1",
                                               "CartPole-v1-label-noise0-a0.1-s0", "CartPole-v1-label-noise0-a0.1-s1",
                                               "CartPole-v1-label-noise0.2-a0-s0"]
    assert cells[4].args[cells[4].args.index("--label-noise") + 1] == "0.2"
    assert len({c.run_name for c in cells}) == 16
    two = Grid.parse("gan", ["d-width=8,16", "augment=translation,"[:-1]]).points()
    assert two == [("8", "translation"), ("16", "translation")]


@pytest.mark.parametrize(("items", "extra", "needle"), [
    (["bogus=1,2"], [], "distill has no setting 'bogus'"),
    (["label-noise=abc"], [], "label_noise takes a number"),
    (["demos=1.5"], [], "demos takes a whole number"),
    (["label-noise="], [], "at least one value"),
    (["alpha=0,0.1"], [], "the sweep sets alpha itself"),
    (["env=CartPole-v1"], [], "the sweep sets env itself"),
    (["label-noise=0", "label_noise=0.1"], [], "given twice"),
    (["label-noise=0,0.1"], ["--label-noise", "0.3"], "given twice"),
    (["prior=uniform,sideways"], [], "prior must be one of"),
])
def test_bad_grids_are_one_line(items, extra, needle):
    from rlgan_ls.study.grid import Grid

    with pytest.raises(ValueError, match=needle):
        Grid.parse("distill", items, extra)


def test_a_grid_value_out_of_range_fails_before_any_cell(tmp_path, capsys):
    argv = ["sweep", "distill", "--alpha", "0", "--grid", "label-noise=0,1.5", "--logdir", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "--label-noise must be in" in capsys.readouterr().err and not (tmp_path / "x").exists()
