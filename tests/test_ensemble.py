"""Ensembles: members trained together as one stacked student are faithful to their solo runs.

Oracles: the solo run of the same config (exactly, for an ensemble of one; its first round's loss, for
a member of several, where the stacked forward rounds differently), and the run directory a solo run
writes (an ensemble member's must read the same to evaluate, export and compare)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import tiny_distill
from scripted_teachers import lean_teacher
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.cli import main
from rlgan_ls.distill import distill
from rlgan_ls.distill.ensemble import distill_ensemble
from rlgan_ls.distill.objective import DistillLoss
from rlgan_ls.errors import TrainingDiverged, UsageError
from rlgan_ls.runs import Run

WALL_CLOCK = {"time/wall_s", "charts/SPS"}


def _without_clock(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in WALL_CLOCK}


def _first(run_dir, tag: str) -> float:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc.Scalars(tag)[0].value


@pytest.mark.parametrize("method", ["dagger", "bc"])
def test_an_ensemble_of_one_is_the_solo_run(tmp_path, method):
    cfg = tiny_distill(tmp_path, alpha=0.1, seed=3, method=method, prior="ordinal")
    solo = distill(cfg, teacher=lean_teacher)
    (member,) = distill_ensemble([dataclasses.replace(cfg, logdir=str(tmp_path / "ens"))], teacher=lean_teacher)
    assert _without_clock(member.metrics) == _without_clock(solo.metrics)
    for k, v in solo.student.state_dict().items():
        assert torch.equal(v, member.student.state_dict()[k]), k


def test_members_of_an_ensemble_start_as_their_solo_runs_and_write_ordinary_runs(tmp_path, capsys):
    # two pairs share an objective (one loss call over both members' rows), one member has its own
    cfgs = [tiny_distill(tmp_path, alpha=a, seed=s, prior=p, run_name=f"a{a}-s{s}-{p}")
            for a, s, p in ((0.0, 0, "uniform"), (0.1, 1, "ordinal"), (0.3, 2, "uniform"), (0.1, 4, "ordinal"),
                            (0.0, 5, "uniform"))]
    solos = [distill(c, teacher=lean_teacher) for c in cfgs]
    members = distill_ensemble([dataclasses.replace(c, logdir=str(tmp_path / "ens")) for c in cfgs],
                               teacher=lean_teacher)
    for solo, member in zip(solos, members):
        assert not isinstance(member, Exception)
        # the first round: the same states, labels and minibatches; only the stacked forward's rounding differs
        for tag in ("loss/total", "loss/kl_uniform", "dagger/dataset_size"):
            assert _first(member.run_dir, tag) == pytest.approx(_first(solo.run_dir, tag), rel=1e-5), tag
        assert Run.open(member.run_dir).config["ensemble"] == 5
    # an ensemble member is an ordinary run: evaluate and export read it, compare takes it beside solo runs
    assert main(["evaluate", str(members[1].run_dir), "--episodes", "2", "--envs", "2"]) == 0
    assert main(["export", str(members[1].run_dir), "--out", str(tmp_path / "m.zip")]) == 0


def test_a_diverging_member_stops_alone(tmp_path, monkeypatch):
    original = DistillLoss.__call__

    def nan_for_alpha_03(self, logits, actions, probs, reduction="mean"):
        loss, parts = original(self, logits, actions, probs, reduction)
        if self.alpha == 0.3:
            loss, parts = loss * float("nan"), parts | {"loss/total": parts["loss/total"] * float("nan")}
        return loss, parts

    monkeypatch.setattr(DistillLoss, "__call__", nan_for_alpha_03)
    cfgs = [tiny_distill(tmp_path, alpha=a, run_name=f"a{a}") for a in (0.0, 0.3, 0.1)]
    results = distill_ensemble(cfgs, teacher=lean_teacher)
    assert isinstance(results[1], TrainingDiverged) and "NaN/inf" in str(results[1])
    assert not Run(tmp_path / "runs" / "a0.3").finished
    for r in (results[0], results[2]):
        assert not isinstance(r, Exception) and r.metrics["eval/return_mean"] > 100  # the others learned


def test_an_ensemble_needs_one_shape(tmp_path, capsys):
    with pytest.raises(UsageError, match="must agree in every setting but"):
        distill_ensemble([tiny_distill(tmp_path), tiny_distill(tmp_path, width=16)], teacher=lean_teacher)
    assert main(["sweep", "gan", "--alpha", "0", "--ensemble", "--logdir", str(tmp_path / "g")]) == 2
    assert "distillation students together" in capsys.readouterr().err


def test_sweep_ensemble_splits_cells_of_other_shapes_and_reruns_only_what_is_missing(tmp_path, capsys):
    from stable_baselines3 import PPO

    teacher = tmp_path / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", seed=0).save(teacher)
    base = ["sweep", "distill", "--alpha", "0", "0.3", "--seed", "0", "1", "--workers", "2", "--ensemble",
            "--teacher", str(teacher), "--n-envs", "2", "--rounds", "2", "--steps-per-round", "16",
            "--updates-per-round", "5", "--eval-episodes", "2", "--eval-envs", "2"]
    assert main([*base, "--logdir", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert out.count("in an ensemble of 2") == 4 and "instead of" not in out  # one ensemble per worker
    victim = Run(tmp_path / "exp" / "CartPole-v1-a0.3-s1")
    victim.metrics_file.unlink()  # as if it had died unfinished
    assert main([*base, "--logdir", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert out.count("[skipped]") == 3 and "in an ensemble of 1" in out and Run(victim.path).finished
    from rlgan_ls.study.ensembles import group_cells
    from rlgan_ls.study.sweep import SweepPlan

    narrow, wide = (SweepPlan("distill", [0.0, 0.1], [0], tmp_path / "g", ["CartPole-v1"], ["--width", w]).cells()
                    for w in ("16", "32"))
    assert [len(g) for g in group_cells([*narrow, *wide])] == [2, 2]  # one ensemble per shape


def test_a_tasks_ensemble_is_split_evenly_over_the_workers():
    from rlgan_ls.study.sweep import _split

    cells = list(range(15))
    for parts in (1, 2, 4, 15, 40):
        chunks = _split(cells, parts)
        sizes = [len(c) for c in chunks]
        assert len(chunks) == min(parts, 15) and max(sizes) - min(sizes) <= 1
        assert [x for c in chunks for x in c] == cells  # every cell once, in order


def test_stacked_states_draw_what_each_member_would_draw_alone():
    import numpy as np

    from rlgan_ls.distill.dataset import LabelledStates, StackedStates
    from rlgan_ls.distill.teachers import Labels

    caps = (40, 25, 40)  # a member with --demos 25 keeps its own capacity inside the shared buffer
    sets = [LabelledStates(c, (3,), np.dtype(np.float32), 2, 5) for c in caps]
    alone = [LabelledStates(c, (3,), np.dtype(np.float32), 2, 5) for c in caps]
    stacked = StackedStates(sets)
    rng = np.random.default_rng(0)
    for r in range(2):  # two rounds of 20 states; the 25-row member keeps only its first 25
        for a, b in zip(sets, alone):
            obs = rng.normal(size=(20, 3)).astype(np.float32)
            labels = Labels(torch.as_tensor(rng.integers(0, 5, (20, 2))), torch.softmax(torch.randn(20, 5), -1))
            a.add(obs, labels, r)
            b.add(obs, labels, r)
    assert [d.size for d in sets] == [40, 25, 40]
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    copies = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    for _ in range(3):
        obs, actions, probs = stacked.sample(16, gens)  # (M, B, ...)
        for m, (b, g) in enumerate(zip(alone, copies)):
            o, act, p = b.sample(16, g)
            assert torch.equal(obs[m], o) and torch.equal(actions[m], act) and torch.equal(probs[m], p)
