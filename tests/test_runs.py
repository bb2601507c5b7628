"""The run object: a run directory written and read in one place."""

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.errors import UsageError
from rlgan_ls.experiments import Experiment
from rlgan_ls.runs import Run


def test_create_never_reuses_a_nonempty_directory(tmp_path):
    first = Run.create(tmp_path, "CartPole-v1 a=0.1")
    assert first.path == tmp_path / "CartPole-v1-a-0.1" and first.path.is_dir()
    first.write_config("distill", {"env": "CartPole-v1", "alpha": 0.1, "seed": 0})
    second = Run.create(tmp_path, "CartPole-v1 a=0.1")
    assert second.path.name == "CartPole-v1-a-0.1-2"
    assert Run.open(first.path).config == {"kind": "distill", "env": "CartPole-v1", "alpha": 0.1, "seed": 0}
    (tmp_path / "taken").write_text("a file, not a directory")
    assert Run.create(tmp_path, "taken").path.name == "taken-2"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Run.create(tmp_path, "empty").path == empty  # an empty folder holds nothing to lose


def test_a_run_reads_back_what_it_wrote(tmp_path):
    run = Run.create(tmp_path, "digits-a0.1-s3")
    run.write_config("gan", {"dataset": "digits", "alpha": 0.1, "seed": 3})
    logger = run.open_logger(("d/real",))
    logger.scalars({"d/real": 0.8}, 1)
    assert not Run.open(run.path).finished
    run.finish({"d/real": 0.8, "eval/fd": math.nan, "note": "text"}, {"alpha": 0.1, "augment": ""}, ("d/real",))
    back = Run.open(run.path, kind="gan")
    assert back.finished and back.kind == "gan" and back.task == "digits" and back.alpha == 0.1 and back.seed == 3
    assert back.metrics["d/real"] == 0.8 and math.isnan(back.metrics["eval/fd"]) and "note" not in back.metrics
    acc = EventAccumulator(str(run.path))
    acc.Reload()
    assert [e.value for e in acc.Scalars("d/real")] == pytest.approx([0.8])
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    assert [p.name for p in run.path.iterdir() if p.is_dir()] == []  # nothing nested: one run, one folder


@pytest.mark.parametrize("make, needle", [
    (lambda p: None, "no such directory"),
    (lambda p: p.write_text("x"), "is a file, not a run directory"),
    (lambda p: p.mkdir(), "is not an rlgan-ls run"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text("{")), "not valid JSON"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text("[1, 2]")), "not a JSON object"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text('{"alpha": 0.1}')), "names no kind"),
    (lambda p: (p.mkdir(), (p / "config.json").write_text('{"kind": "gan"}')), "is a gan run, not a distill run"),
])
def test_open_names_the_folder_and_what_is_wrong(tmp_path, make, needle):
    path = tmp_path / "candidate"
    make(path)
    with pytest.raises(UsageError, match=needle) as info:
        Run.open(path, kind="distill")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_second_sweep_into_a_folder_keeps_the_first_ones_plan(tmp_path):
    exp = Experiment(tmp_path)
    first = {"kind": "distill", "tasks": ["CartPole-v1"], "alphas": [0, 0.1], "seeds": [0], "grid": {},
             "cells": ["c-a0-s0", "c-a0.1-s0"]}
    second = {"kind": "distill", "tasks": ["Pendulum-v1"], "alphas": [0.1], "seeds": [0, 1],
              "grid": {"label_noise": [0.2]}, "cells": ["p-a0.1-s0", "p-a0.1-s1"]}
    exp.write_plan(first)
    exp.write_plan(second)
    exp.write_plan(second)  # a rerun (resume) adds nothing
    plan = exp.plan()
    assert plan["cells"] == first["cells"] + second["cells"] and plan["tasks"] == ["CartPole-v1", "Pendulum-v1"]
    assert plan["alphas"] == [0, 0.1] and plan["seeds"] == [0, 1] and plan["grid"] == {"label_noise": [0.2]}
    assert plan["sweeps"] == [first, second]
    with pytest.raises(UsageError, match="holds a distill sweep"):
        exp.write_plan({"kind": "gan", "cells": ["d-a0-s0"]})
    assert exp.plan() == plan


def test_experiment_lists_its_runs_and_its_plan(tmp_path):
    exp = Experiment(tmp_path)
    assert exp.plan() is None
    exp.write_plan({"kind": "gan", "cells": ["a", "b"]})
    for name in ("b", "a"):
        Run.create(tmp_path, name)
    exp.log_file("a").parent.mkdir()
    assert [p.name for p in exp.run_dirs()] == ["a", "b"] and exp.plan()["cells"] == ["a", "b"]
