"""The comparison report, on synthetic runs whose values are known in advance."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from rlgan_ls.cli import main
from rlgan_ls.errors import UsageError
from rlgan_ls.experiments import Experiment
from rlgan_ls.runs import Run
from rlgan_ls.storage import write_json
from rlgan_ls.study.compare import compare
from rlgan_ls.study.plots import pooled_reliability


def _fake_run(root, alpha, seed, kind="distill", steps=(0, 10, 20), finished=True, image=None, task=None,
              normalized=None, **config):
    task = task or ("CartPole-v1" if kind == "distill" else "digits")
    run = Run.create(root, f"{task}-a{alpha:g}-s{seed}")
    entropy = 0.2 + alpha + 0.01 * seed  # what the oracle expects
    key = "env" if kind == "distill" else "dataset"
    run.write_config(kind, {"alpha": alpha, "seed": seed, key: task, **config})
    log = run.open_logger()
    for i, step in enumerate(steps):
        if kind == "distill":
            log.scalars({"explore/entropy": entropy * (i + 1) / len(steps), "eval/return_mean": 100.0 * i,
                         "loss/kl_uniform": 1.0 - alpha}, step)
        else:  # the generator's gradient falls over the run; its run mean is 1 + alpha + seed
            log.scalars({"grad_norm/generator": 1 + alpha + seed + (1 - i), "d/real": 0.9 - alpha,
                         "eval/fd": 50.0 / (i + 1)}, step)
    if image is not None:
        log.image("samples", image, steps[-1])
        from PIL import Image

        frames = [Image.new("RGB", (8, 8), (40 * k, 0, 0)) for k in range(3)]
        frames[0].save(run.animation_file, save_all=True, append_images=frames[1:])
    if not finished:
        run.close()
        return run.path
    if kind == "distill":
        metrics = {"explore/entropy": entropy, "eval/return_mean": 200.0 + seed, "loss/kl_uniform": 1.0 - alpha}
        if normalized is not None:
            metrics["eval/normalized_return"] = normalized
    else:
        metrics = {"grad_norm/generator": alpha + seed, "d/real": 0.9 - alpha,
                   "grad_norm/generator_mean": 1 + alpha + seed, "eval/fd": 50.0 / len(steps)}
    run.finish(metrics, {"alpha": alpha}, ())
    return run.path


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_summary_statistics_and_unfinished_runs(tmp_path):
    exp = tmp_path / "exp"
    for alpha in (0.0, 0.1, 0.3):
        for seed in (0, 1, 2):
            _fake_run(exp, alpha, seed)
    _fake_run(exp, 0.5, 0, finished=False)
    cells = [f"CartPole-v1-a{a:g}-s{s}" for a in (0, 0.1, 0.3, 0.5) for s in (0, 1, 2)]
    Experiment(exp).write_plan({"cells": cells})
    report = compare(exp, reps=500)
    assert report.kind == "distill" and len(report.runs) == 9
    skipped = dict(report.skipped)
    assert "unfinished" in skipped["CartPole-v1-a0.5-s0"] and "missing" in skipped["CartPole-v1-a0.5-s1"]
    rows = _rows(report.out / "summary.csv")
    assert [(r["task"], float(r["alpha"])) for r in rows] == [("CartPole-v1", a) for a in (0.0, 0.1, 0.3)]
    for r in rows:
        a = float(r["alpha"])
        values = [0.2 + a, 0.21 + a, 0.22 + a]  # seeds 0, 1, 2
        assert int(r["explore/entropy_n"]) == 3
        assert float(r["explore/entropy_mean"]) == pytest.approx(np.mean(values))
        assert float(r["explore/entropy_std"]) == pytest.approx(0.01)  # sample std
        assert float(r["explore/entropy_median"]) == pytest.approx(values[1])
        assert float(r["explore/entropy_iqm"]) == pytest.approx(np.mean(values))  # 3 runs: nothing to trim
        lo, hi = float(r["explore/entropy_mean_lo"]), float(r["explore/entropy_mean_hi"])
        assert values[0] - 1e-9 <= lo < hi <= values[2] + 1e-9  # a mean of resampled runs stays within them
        # every run at alpha > 0 has more entropy than every run at 0: P(improvement) = 1
        assert float(r["explore/entropy_poi"]) == (1.0 if a > 0 else pytest.approx(math.nan, nan_ok=True))
    md = (report.out / "report.md").read_text()
    assert md.index("![intervals](intervals.png)") < md.index("| task | α |")  # intervals lead
    assert "n = 3 run(s) per task and α" in md and "n < 5 runs per α" in md and "CartPole-v1-a0.5-s0" in md
    for name in ("intervals.png", "improvement.png", "explore_entropy.png", "eval_return_mean.png", "runs.csv"):
        assert (report.out / name).stat().st_size > 0
    assert not (report.out / "tb_layout").exists()  # the layout lives in the runs' own event files


def test_tasks_are_pooled_only_where_the_scale_is_shared(tmp_path):
    exp = tmp_path / "exp"
    for task, level in (("CartPole-v1", 0.0), ("Acrobot-v1", 1.0)):
        for alpha in (0.0, 0.3):
            for seed in range(4):
                _fake_run(exp, alpha, seed, task=task, normalized=level + 0.1 * alpha)
    report = compare(exp, reps=300)
    rows = {(r["task"], float(r["alpha"])): r for r in _rows(report.out / "summary.csv")}
    assert set(rows) == {(t, a) for t in ("Acrobot-v1", "CartPole-v1", "all") for a in (0.0, 0.3)}
    pooled = rows[("all", 0.3)]
    # Every run of a task scores the same, so stratified resampling cannot move the pooled mean.
    assert float(pooled["eval/normalized_return_mean"]) == pytest.approx(0.53)
    assert float(pooled["eval/normalized_return_mean_lo"]) == pytest.approx(0.53)
    assert float(pooled["eval/normalized_return_mean_hi"]) == pytest.approx(0.53)
    assert int(pooled["eval/normalized_return_n"]) == 8
    assert pooled["eval/return_mean_n"] == "0"  # raw returns are not pooled over tasks
    assert float(pooled["eval/normalized_return_poi"]) == 1.0  # 0.3 beats 0 on both tasks
    assert "× 2 task(s)" in (report.out / "report.md").read_text() and (report.out / "profile.png").is_file()


def test_calibration_is_pooled_per_alpha_weighted_by_bin_counts(tmp_path):
    exp = tmp_path / "cal"
    files = {(0.0, 0): ([2, 0, 1], [0.5, 0.0, 0.9], [0.5, 0.0, 0.6]),
             (0.0, 1): ([2, 1, 0], [0.4, 0.7, 0.0], [0.2, 0.7, 0]),
             (0.3, 0): ([1, 1, 1], [0.5, 0.6, 0.8], [0.5, 0.6, 0.8])}
    runs = []
    for (alpha, seed), (count, conf, target) in files.items():
        runs.append(Run(_fake_run(exp, alpha, seed)))
        write_json(runs[-1].calibration_file, {"against": "teacher probability", "count": count,
                                               "confidence": conf, "target": target})
    _fake_run(exp, 0.3, 1)  # an older run without calibration.json is left out
    pooled, against = pooled_reliability(runs)
    # By hand: bin 0 of alpha 0 holds 2 + 2 samples with mean confidence (2*0.5 + 2*0.4) / 4.
    assert pooled[0.0][0].tolist() == [4, 1, 1]
    assert pooled[0.0][1] / np.maximum(pooled[0.0][0], 1) == pytest.approx([0.45, 0.7, 0.9])
    assert pooled[0.0][2] / np.maximum(pooled[0.0][0], 1) == pytest.approx([0.35, 0.7, 0.6])
    assert pooled[0.3][0].tolist() == [1, 1, 1] and against == {"teacher probability"}
    report = compare(exp, reps=50)
    assert (report.out / "calibration.png").is_file() and "calibration.png" in (report.out / "report.md").read_text()


def test_one_seed_missing_metrics_and_mixed_settings(tmp_path, capsys):
    exp = tmp_path / "one"
    _fake_run(exp, 0.0, 0, normalized=0.9)
    _fake_run(exp, 0.1, 0)  # no eval/normalized_return
    assert main(["compare", str(exp), "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "One run per cell: no interval can be computed" in out and "eval/normalized_return` is missing in 1" in out
    rows = _rows(exp / "report" / "summary.csv")
    assert rows[0]["explore/entropy_mean_lo"] == "nan" and rows[1]["eval/normalized_return_n"] == "0"
    mixed = tmp_path / "mixed"
    _fake_run(mixed, 0.0, 0, prior="uniform")
    _fake_run(mixed, 0.1, 0, prior="ordinal")
    assert main(["compare", str(mixed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differ in prior" in err and "Traceback" not in err


def _colour_runs(path) -> list[str]:
    """Colours of the solid panels crossed by the middle row of an RGB image, left to right."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    row = rgb[rgb.shape[0] // 2]  # (W, 3)
    names = []
    for r, g, b in row:
        strong = [c for c, v in zip("RGB", (r, g, b)) if v > 200]
        colour = strong[0] if len(strong) == 1 and min(r, g, b) < 60 else None
        if colour and (not names or names[-1] != colour):
            names.append(colour)
    return names


def test_gan_report_has_a_sample_grid_per_alpha(tmp_path):
    exp = tmp_path / "gan"
    for i, alpha in enumerate((0.0, 0.1, 0.3)):
        img = torch.zeros(3, 8, 8)
        img[i] = 1.0  # red for alpha 0, green for 0.1, blue for 0.3
        _fake_run(exp, alpha, 0, kind="gan", image=img)
    report = compare(exp, tmp_path / "out", reps=100)
    assert report.kind == "gan" and report.out == tmp_path / "out"
    assert _colour_runs(report.out / "samples.png") == ["R", "G", "B"]  # each alpha's own grid, in alpha order
    md = (report.out / "report.md").read_text()
    for alpha in ("0", "0.1", "0.3"):  # each alpha's animation over training, in the report
        assert (report.out / f"samples_a{alpha}.gif").is_file() and f"(samples_a{alpha}.gif)" in md
    rows = {float(r["alpha"]): r for r in _rows(report.out / "summary.csv")}
    assert float(rows[0.3]["d/real_mean"]) == pytest.approx(0.6)
    # The table reports the run mean of the generator's gradient, not its last value.
    assert float(rows[0.1]["grad_norm/generator_mean_mean"]) == pytest.approx(1.1)
    assert math.isclose(float(rows[0.0]["eval/fd_mean"]), 50 / 3)


def test_runs_without_a_kind_are_skipped_with_the_reason(tmp_path):
    exp = tmp_path / "exp"
    _fake_run(exp, 0.0, 0)
    old = _fake_run(exp, 0.1, 0)
    write_json(Run(old).config_file, {"alpha": 0.1, "seed": 0})  # as an older rlgan-ls wrote it
    report = compare(exp, reps=0)
    assert [r.name for r in report.runs] == ["CartPole-v1-a0-s0"]
    assert "kind" in dict(report.skipped)["CartPole-v1-a0.1-s0"]


def test_compare_errors_are_one_line(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no finished runs" in err and err.count("\n") == 1
    _fake_run(tmp_path / "mixed", 0.0, 0)
    _fake_run(tmp_path / "mixed", 0.1, 0, kind="gan")
    with pytest.raises(UsageError, match="mixes"):
        compare(tmp_path / "mixed")


def test_bad_files_are_skipped_with_the_file_and_the_problem(tmp_path, capsys):
    exp = tmp_path / "exp"
    for seed in (0, 1):
        _fake_run(exp, 0.0, seed)
    problems = {"abc": ("config", '{"kind": "distill", "alpha": "abc", "seed": 0, "env": "CartPole-v1"}'),
                "list-metrics": ("metrics", "[]"), "broken": ("config", "{"), "shape": ("config", "[1, 2]")}
    for name, (which, text) in problems.items():
        run = Run(_fake_run(exp, 0.1, 5 + len(name)))
        (run.config_file if which == "config" else run.metrics_file).write_text(text)
        run.path.rename(exp / name)
    assert main(["compare", str(exp), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "compared 2 runs" in out
    for name in problems:
        assert f"skipped {name}: " in out and str(exp / name) in out  # names the file
    assert "alpha 'abc' is not a number" in out and "not a JSON object" in out and "not valid JSON" in out


def test_a_seed_counted_twice_is_refused_naming_both_folders(tmp_path, capsys):
    exp = tmp_path / "exp"
    first = _fake_run(exp, 0.1, 0)
    (exp / "copy").mkdir()
    for f in first.iterdir():
        if f.is_file() and f.name != ".lock":
            (exp / "copy" / f.name).write_bytes(f.read_bytes())
    assert main(["compare", str(exp)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(first) in err and str(exp / "copy") in err and "\n" not in err


def test_curves_read_a_runs_own_event_files_only(tmp_path):
    from rlgan_ls.events import RunLogger
    from rlgan_ls.study.plots import _scalars

    run = Run(_fake_run(tmp_path / "exp", 0.1, 0, steps=(0, 10)))
    with RunLogger(run.path / "nested-by-hand") as log:  # another tool's events inside the run's folder
        log.scalars({"explore/entropy": 99.0}, 10)
    values = _scalars([Run.open(run.path)], ["explore/entropy"])["value"].tolist()
    assert 99.0 not in values and len(values) == 2


def test_no_run_goes_inside_another(tmp_path, capsys):
    run = _fake_run(tmp_path / "exp", 0.1, 0)
    assert main(["gan", "--logdir", str(run / "inner")]) == 2
    assert "inside the run directory" in capsys.readouterr().err and not (run / "inner").exists()


def test_without_bootstrap_the_report_says_there_are_no_intervals(tmp_path):
    exp = tmp_path / "exp"
    for seed in (0, 1):
        _fake_run(exp, 0.0, seed)
        _fake_run(exp, 0.1, seed)
    text = (compare(exp, reps=0).out / "report.md").read_text()
    assert "95 %" not in text and "intervals are wide" not in text
    assert "IQM [no intervals: --bootstrap 0]" in text and "No intervals were computed (--bootstrap 0)" in text


def test_factors_are_reported_per_level_with_their_own_iqm(tmp_path):
    from scipy import stats

    exp = tmp_path / "exp"
    values = {}
    for noise in (0.0, 0.2):
        for alpha in (0.0, 0.3):
            for seed in range(5):
                ent = seed + (5 if alpha else 0) + 20 * noise + (10 if seed == 4 else 0)  # an outlier the IQM trims
                run = Run(_fake_run(exp / f"n{noise}", alpha, seed, label_noise=noise))
                run.metrics_file.write_text(json.dumps({"explore/entropy": ent, "eval/normalized_return": 1 - noise}))
                values.setdefault((noise, alpha), []).append(ent)
    for d in (exp / "n0.0").iterdir():
        d.rename(exp / f"{d.name}-n0")
    for d in (exp / "n0.2").iterdir():
        d.rename(exp / f"{d.name}-n0.2")
    (exp / "n0.0").rmdir()
    (exp / "n0.2").rmdir()
    with pytest.raises(UsageError, match="differ in label_noise.*compare --factor label_noise"):
        compare(exp, reps=0)  # an undeclared difference is refused
    report = compare(exp, reps=200, factors=["label-noise"])
    assert set(report.levels) == {"label_noise=0.0", "label_noise=0.2"}
    rows = {(float(r["label_noise"]), float(r["alpha"])): r for r in _rows(report.out / "summary.csv")}
    for key, xs in values.items():
        assert float(rows[key]["explore/entropy_iqm"]) == pytest.approx(stats.trim_mean(xs, 0.25))
    # P(alpha beats 0) within each level, counted by hand: 5, 6, 7, 8 beat 0-3 (4 pairs each), 19 beats all 5
    assert float(rows[(0.2, 0.3)]["explore/entropy_poi"]) == pytest.approx(21 / 25)
    assert (report.out / "levels.png").is_file() and "label_noise=0.2" in (report.out / "report.md").read_text()


def test_a_setting_derived_from_a_factor_may_differ_between_levels_only(tmp_path):
    exp = tmp_path / "wide"
    for width in (64, 256):
        for alpha in (0.0, 0.3):
            for seed in range(2):
                student = {"arch": "mlp", "width": width}  # what the run derives from its width
                _fake_run(exp / f"w{width}", alpha, seed, width=width, student=student)
    for d in list((exp / "w64").iterdir()) + list((exp / "w256").iterdir()):
        d.rename(exp / f"{d.name}-{d.parent.name}")
    report = compare(exp, reps=0, factors=["width"])
    assert set(report.levels) == {"width=64", "width=256"}
    # A difference inside one level is still refused, even where a factor is declared.
    odd = Run(_fake_run(exp / "odd", 0.0, 7, width=64, student={"arch": "cnn", "width": 64}))
    odd.path.rename(exp / "CartPole-v1-a0-s7-odd")
    with pytest.raises(UsageError, match="differ in student"):
        compare(exp, reps=0, factors=["width"])
