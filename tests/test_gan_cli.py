"""``rlgan-ls gan`` end to end in-process: a tiny run's outputs, and every bad input's one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import gan_flags
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlgan_ls.cli import main

TINY = gan_flags(max_images=96, eval_samples=64, seed=0)


def _events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tiny_run_writes_everything(tmp_path: Path) -> None:
    rc = main(["gan", *TINY, "--steps", "8", "--log-every", "3", "--layer-grad-every", "4", "--eval-every", "4",
               "--logdir", str(tmp_path), "--run-name", "tiny"])
    assert rc == 0
    run = tmp_path / "tiny"
    assert (run / "config.json").is_file() and (run / "checkpoints" / "last.safetensors").is_file()
    assert (run / "samples.png").is_file()
    from PIL import Image

    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{i:07d}.png" for i in (0, 4, 8)]
    assert Image.open(run / "samples.gif").n_frames == 3  # the grid at every evaluation, animated
    config = json.loads((run / "config.json").read_text())
    assert config["alpha"] == 0.1 and config["smoothing"] == "one-sided" and config["g_width"] == 4
    metrics = json.loads((run / "metrics.json").read_text())
    acc = _events(run)
    tags = set(acc.Tags()["scalars"])
    for tag in ("grad_norm/generator", "grad_norm/discriminator", "d/real", "d/fake", "loss/discriminator",
                "loss/generator", "eval/fd", "eval/class_coverage", "eval/class_kl"):
        assert tag in tags, tag
    assert "grad_norm/generator_layer/net.0" in tags
    assert acc.Tags()["images"] == ["samples"]
    assert "custom_scalars__config__" in acc.Tags()["tensors"]  # the layout, in the run's own event file
    # grad_norm/generator is logged at every step; layer norms at the slower cadence.
    assert [e.step for e in acc.Scalars("grad_norm/generator")] == list(range(1, 9))
    assert [e.step for e in acc.Scalars("grad_norm/generator_layer/net.0")] == [4, 8]
    assert [e.step for e in acc.Scalars("eval/fd")] == [0, 4, 8]
    # metrics.json holds the final values that TensorBoard shows; d/real is a probability.
    assert metrics["d/real"] == pytest.approx(acc.Scalars("d/real")[-1].value)
    assert metrics["eval/fd"] == pytest.approx(acc.Scalars("eval/fd")[-1].value)
    gn = [e.value for e in acc.Scalars("grad_norm/generator")]
    assert metrics["grad_norm/generator_mean"] == pytest.approx(sum(gn) / len(gn), rel=1e-5)
    assert 0.0 < metrics["d/real"] < 1.0 and metrics["step"] == 8
    # hparams were written into the run's own directory (no sub-run).
    assert [p.parent for p in run.rglob("events.out.tfevents.*")] == [run]


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["gan", "--dataset", "imagenet", "--logdir", str(tmp_path)])
    assert "--dataset" in line and "imagenet" in line and "digits" in line
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("alpha", ["1.0", "-0.1", "nan"])
def test_alpha_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], alpha: str) -> None:
    line = _error(capsys, ["gan", *TINY, "--alpha", alpha, "--logdir", str(tmp_path)])
    assert "--alpha" in line and "[0, 1)" in line
    assert not any(tmp_path.iterdir())


def test_alpha_without_smoothing_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An alpha that has no effect would label the run, and compare would group it, by a smoothing it never had."""
    line = _error(capsys, ["gan", *TINY, "--smoothing", "none", "--alpha", "0.3", "--logdir", str(tmp_path)])
    assert "--alpha 0.3" in line and "--smoothing none" in line
    assert not any(tmp_path.iterdir())
    from rlgan_ls.dcgan import GANConfig

    assert GANConfig(smoothing="none", alpha=0.0).default_run_name == "digits-none-a0-ns-s0"


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _error(capsys, ["gan", "--dataset", f"folder:{empty}", "--logdir", str(tmp_path / "runs")])
    assert f"folder:{empty}" in line
    assert not (tmp_path / "runs").exists()


def test_offline_torchvision_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["gan", "--dataset", "fashion-mnist", "--no-download", "--data-root", str(tmp_path / "d"),
                           "--logdir", str(tmp_path / "runs")])
    assert "train-images-idx3-ubyte" in line and "--dataset digits" in line


def test_corrupt_checkpoint_is_reported_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gan", *TINY, "--steps", "2", "--logdir", str(tmp_path), "--run-name", "r"]) == 0
    run = tmp_path / "r"
    ckpt = run / "checkpoints" / "last.safetensors"
    garbage = b"\x00not a checkpoint" * 10
    ckpt.write_bytes(garbage)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    line = _error(capsys, ["gan", "--resume", str(run), "--steps", "4"])
    assert str(ckpt) in line and "corrupt" in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing lost or changed


def test_resume_refuses_to_change_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gan", *TINY, "--steps", "2", "--logdir", str(tmp_path), "--run-name", "r"]) == 0
    line = _error(capsys, ["gan", "--resume", str(tmp_path / "r"), "--steps", "4", "--alpha", "0.3"])
    assert "--alpha" in line
    line = _error(capsys, ["gan", "--resume", str(tmp_path / "r"), "--steps", "2"])
    assert "--steps" in line
    line = _error(capsys, ["gan", "--resume", str(tmp_path / "missing"), "--steps", "4"])
    assert "--resume" in line


def test_unknown_recipe_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text('dataset = "digits"\nalhpa = 0.2\n')
    line = _error(capsys, ["gan", "--recipe", str(recipe), "--logdir", str(tmp_path)])
    assert "alhpa" in line


@pytest.mark.parametrize("folder", ["gan", "agents"])
def test_recipes_carry_only_values_that_change_the_defaults(folder: str) -> None:
    """Every shipped recipe builds, each of its settings lands in the config, and none repeats a default
    (a recipe says what is special about its dataset or env; ``dataset`` names it)."""
    import dataclasses

    from rlgan_ls.dcgan.config import GANConfig
    from rlgan_ls.distill.config import DistillConfig
    from rlgan_ls.recipes import build_config, find_recipe, list_recipes, load_toml

    cls = {"gan": GANConfig, "agents": DistillConfig}[folder]
    names = list_recipes(folder)
    assert names
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for name in names:
        layer = load_toml(find_recipe(folder, name))
        cfg = build_config(cls, layer, {"dataset": "folder:x"} if name == "folder" else None)
        for key, value in layer.items():
            assert getattr(cfg, key) == value, (name, key)
            if key != "dataset":
                assert value != defaults[key], f"{folder}/{name}.toml repeats the default {key} = {value!r}"
