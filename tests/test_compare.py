"""The comparison report, on synthetic runs whose values are known in advance."""

import csv
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.cli import main
from rlgan_ls.compare import compare
from rlgan_ls.errors import UsageError
from rlgan_ls.runs import RunLogger, write_json


def _fake_run(root, alpha, seed, kind="distill", steps=(0, 10, 20), finished=True, image=None):
    run = root / f"a{alpha:g}-s{seed}"
    run.mkdir(parents=True)
    entropy = 0.2 + alpha + 0.01 * seed  # what the oracle expects
    with RunLogger(run) as log:
        for i, step in enumerate(steps):
            if kind == "distill":
                log.scalars({"explore/entropy": entropy * (i + 1) / len(steps), "eval/return_mean": 100.0 * i,
                             "loss/kl_uniform": 1.0 - alpha}, step)
            else:  # the generator's gradient falls over the run; its run mean is 1 + alpha + seed
                log.scalars({"grad_norm/generator": 1 + alpha + seed + (1 - i), "d/real": 0.9 - alpha,
                             "eval/fd": 50.0 / (i + 1)}, step)
        if image is not None:
            log.image("samples", image, steps[-1])
    write_json(run / "config.json", {"kind": kind, "alpha": alpha, "seed": seed})
    if finished:
        if kind == "distill":
            write_json(run / "metrics.json", {"explore/entropy": entropy, "eval/return_mean": 200.0 + seed,
                                              "loss/kl_uniform": 1.0 - alpha})
        else:
            write_json(run / "metrics.json", {"grad_norm/generator": alpha + seed, "d/real": 0.9 - alpha,
                                              "grad_norm/generator_mean": 1 + alpha + seed,
                                              "eval/fd": 50.0 / len(steps)})
    return run


def test_summary_is_mean_and_std_over_seeds_and_unfinished_runs_are_skipped(tmp_path):
    exp = tmp_path / "exp"
    for alpha in (0.0, 0.1, 0.3):
        for seed in (0, 1, 2):
            _fake_run(exp, alpha, seed)
    _fake_run(exp, 0.5, 0, finished=False)
    write_json(exp / "sweep.json", {"cells": [f"a{a:g}-s{s}" for a in (0, 0.1, 0.3, 0.5) for s in (0, 1, 2)]})
    report = compare(exp)
    assert report.kind == "distill" and len(report.runs) == 9
    skipped = dict(report.skipped)
    assert "unfinished" in skipped["a0.5-s0"] and "missing" in skipped["a0.5-s1"]
    with open(report.out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["alpha"]) for r in rows] == [0.0, 0.1, 0.3]
    for r in rows:
        a = float(r["alpha"])
        assert float(r["explore/entropy_mean"]) == pytest.approx(0.2 + a + 0.01)  # seeds 0, 1, 2
        assert float(r["explore/entropy_std"]) == pytest.approx(0.01)  # sample std of 0, .01, .02
        assert float(r["eval/return_mean_mean"]) == pytest.approx(201.0)
        assert int(r["n_seeds"]) == 3
    md = (report.out / "report.md").read_text()
    assert "| 0.3 | 3 |" in md and "a0.5-s0" in md and "![explore_entropy](explore_entropy.png)" in md
    for name in ("explore_entropy.png", "eval_return_mean.png", "loss_kl_uniform.png", "runs.csv"):
        assert (report.out / name).stat().st_size > 0
    acc = EventAccumulator(str(report.out / "tb_layout"))
    acc.Reload()
    assert "custom_scalars__config__" in acc.Tags()["tensors"]


def _colour_runs(path) -> list[str]:
    """Colours of the solid panels crossed by the middle row of an RGB image, left to right."""
    import numpy as np
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
    report = compare(exp, tmp_path / "out")
    assert report.kind == "gan" and report.out == tmp_path / "out"
    assert _colour_runs(report.out / "samples.png") == ["R", "G", "B"]  # each alpha's own grid, in alpha order
    with open(report.out / "summary.csv") as f:
        rows = {float(r["alpha"]): r for r in csv.DictReader(f)}
    assert float(rows[0.3]["d/real_mean"]) == pytest.approx(0.6)
    # The table reports the run mean of the generator's gradient, not its last value.
    assert float(rows[0.1]["grad_norm/generator_mean_mean"]) == pytest.approx(1.1)
    assert "grad_norm/generator_mean" not in rows[0.1]
    assert math.isclose(float(rows[0.0]["eval/fd_mean"]), 50 / 3)


def test_runs_without_a_kind_are_skipped_with_the_reason(tmp_path):
    exp = tmp_path / "exp"
    _fake_run(exp, 0.0, 0)
    old = _fake_run(exp, 0.1, 0)
    write_json(old / "config.json", {"alpha": 0.1, "seed": 0})  # as an older rlgan-ls wrote it
    report = compare(exp)
    assert [r.name for r in report.runs] == ["a0-s0"]
    assert "kind" in dict(report.skipped)["a0.1-s0"]


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
