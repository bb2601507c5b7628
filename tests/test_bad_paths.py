"""Every command refuses a path it cannot use (a file where a folder belongs, a read-only folder, a file of
the right format with the wrong contents) with one line and exit 2, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import gan_flags, tiny_distill
from scripted_teachers import lean_teacher

from rlgan_ls.cli import main
from rlgan_ls.distill import distill
from rlgan_ls.runs import Run
from rlgan_ls.storage import save_checkpoint


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished distill run and a finished GAN run to point commands at."""
    root = tmp_path_factory.mktemp("runs")
    student = distill(tiny_distill(root, rounds=1), teacher=lean_teacher).run_dir
    assert main(["gan", *gan_flags(steps=2), "--logdir", str(root / "gan"), "--run-name", "g"]) == 0
    return student, root / "gan" / "g"


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    return f


CASES = {
    "distill --logdir": lambda f, s, g: ["distill", "--env", "CartPole-v1", "--logdir", str(f)],
    "gan --logdir": lambda f, s, g: ["gan", *gan_flags(steps=2), "--logdir", str(f)],
    "gan --resume": lambda f, s, g: ["gan", "--resume", str(f), "--steps", "4"],
    "sweep --logdir": lambda f, s, g: ["sweep", "gan", "--alpha", "0", "--logdir", str(f)],
    "compare EXPERIMENT": lambda f, s, g: ["compare", str(f)],
    "compare --out": lambda f, s, g: ["compare", str(s.parent), "--out", str(f)],
    "evaluate RUN_DIR": lambda f, s, g: ["evaluate", str(f)],
    "evaluate --video": lambda f, s, g: ["evaluate", str(s), "--video", str(f / "clip.mp4")],
    "export RUN_DIR": lambda f, s, g: ["export", str(f)],
    "export --out": lambda f, s, g: ["export", str(s), "--out", str(f / "student.zip")],
    "finetune RUN_DIR": lambda f, s, g: ["finetune", str(f)],
    "teacher --out": lambda f, s, g: ["teacher", "--env", "CartPole-v1", "--out", str(f / "t.zip")],
    "teacher --cache-dir": lambda f, s, g: ["teacher", "--env", "CartPole-v1", "--cache-dir", str(f)],
}


@pytest.mark.parametrize("case", CASES)
def test_a_file_where_a_folder_belongs_is_one_line(tmp_path, capsys, runs, case):
    argv = CASES[case](_file(tmp_path), *runs)
    assert main(argv) == 2, case
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err, err
    assert str(tmp_path / "a-file") in err, err  # names the path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing written beside it


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_logdir_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["gan", *gan_flags(steps=2), "--logdir", str(locked)]) == 2
    assert "read-only" in capsys.readouterr().err


def test_a_checkpoint_of_the_wrong_shape_is_one_line_and_keeps_the_run(tmp_path, capsys, runs):
    _, gan = runs
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in gan.rglob("*"):
        if f.is_file() and f.name != ".lock":
            (copy / f.relative_to(gan)).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.relative_to(gan)).write_bytes(f.read_bytes())
    state = Run(copy).load_checkpoint()
    state["G"] = {k: torch.zeros(3) for k in state["G"]}  # safetensors all right, contents wrong
    save_checkpoint(Run(copy).checkpoint_file, state)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert main(["gan", "--resume", str(copy), "--steps", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit" in err and "\n" not in err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.name != ".lock"} == before


@pytest.mark.parametrize("argv", [["distill", "--env", "CartPole-v1", "--lr", "1e38"],
                                  ["gan", "--lr-d", "1e38"]])
def test_an_absurd_learning_rate_is_refused(capsys, argv):
    assert main(argv) == 2 and "(0, 1]" in capsys.readouterr().err


def test_a_diverging_student_stops_and_leaves_the_run_unfinished(tmp_path, monkeypatch):
    from rlgan_ls.distill.objective import DistillLoss
    from rlgan_ls.errors import TrainingDiverged

    original = DistillLoss.__call__

    def nan_loss(self, logits, actions, probs):
        loss, parts = original(self, logits, actions, probs)
        return loss * float("nan"), parts | {"loss/total": parts["loss/total"] * float("nan")}

    monkeypatch.setattr(DistillLoss, "__call__", nan_loss)
    with pytest.raises(TrainingDiverged, match="NaN/inf"):
        distill(tiny_distill(tmp_path, rounds=2), teacher=lean_teacher)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not Run(run_dir).finished and not Run(run_dir).student_file.exists() and not Run(run_dir).busy
