"""The sweep runner on real (tiny) GAN cells: failure isolation, resuming, Ray = local pool."""

import csv
import dataclasses
import json
import sys

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
    cells = SweepPlan("gan", [0.0, 0.1], [0], exp, ["digits"], TINY_GAN).cells()
    bad = cells[0]
    cells[0] = dataclasses.replace(bad, argv=(*bad.argv, "--smoothing", "sideways"))  # a bad flag in one cell
    results = run_local(cells, workers=2)
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
