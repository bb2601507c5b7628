"""``run_demo`` end to end on a tiny budget: both sweeps, both reports, and a rerun that skips every cell."""

from __future__ import annotations

import csv

from helpers import gan_flags

from rlgan_ls.demo import ALPHAS, DemoBudget, run_demo

TINY = DemoBudget(
    teacher_steps=512,
    distill_seeds=(0,),
    distill_args=("--method", "dagger", "--n-envs", "2", "--rounds", "1",
                  "--steps-per-round", "8", "--updates-per-round", "5", "--eval-episodes", "2", "--eval-envs", "2"),
    gan_args=tuple(f for f in gan_flags(steps=2, eval_every=2, classifier_steps=10)
                   if f not in ("--dataset", "digits", "--no-progress")),
)


def test_tiny_demo_reports_every_alpha_and_a_rerun_skips_every_cell(tmp_path, capsys):
    reports = run_demo(tmp_path, workers=2, budget=TINY)
    assert set(reports) == {"cartpole", "digits"}
    for name, report in reports.items():
        with open(report / "summary.csv") as f:
            assert [float(r["alpha"]) for r in csv.DictReader(f)] == list(ALPHAS), name
        assert (report / "report.md").is_file()
    assert (reports["digits"] / "samples.png").is_file()
    first = capsys.readouterr().out
    assert first.count("[   done]") == 6 and f"tensorboard --logdir {tmp_path}" in first

    run_demo(tmp_path, workers=2, budget=TINY)  # an interrupted or finished demo resumes: nothing reruns
    again = capsys.readouterr().out
    assert again.count("[skipped]") == 6 and "[   done]" not in again
    assert "cached PPO teacher" in again
