"""Images out of a GAN run (``rlgan-ls sample``), its generator as a file that loads without the suite
(``rlgan-ls export-generator`` and README.md's plain-PyTorch snippet), and the 128 and 256 sizes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import gan_flags, kill_and_resume, tiny_gan_config
from PIL import Image
from safetensors.torch import load_file

from rlgan_ls.cli import main
from rlgan_ls.dcgan import load_generator, sample, train_gan
from rlgan_ls.dcgan.sample_commands import grid_image
from rlgan_ls.runs import Run

README = Path(__file__).parent.parent / "README.md"
SNIPPET_MARKER = "<!-- the standalone generator (tests/test_sample.py runs this block) -->"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny digits run: evaluations at steps 0, 2 and 4, checkpoints (and kept generators) at 2 and 4."""
    logdir = tmp_path_factory.mktemp("runs")
    cfg = tiny_gan_config(steps=4, eval_every=2, checkpoint_every=2, logdir=str(logdir), run_name="tiny")
    return train_gan(cfg).run_dir


def _png(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)  # (3, H, W)


def test_sample_draws_the_evaluation_images_and_is_deterministic(run_dir: Path) -> None:
    run = Run(run_dir)
    assert sorted(run.generator_files()) == [2, 4]
    state = torch.get_rng_state()
    for step, frame in ((None, 4), (4, 4), (2, 2)):
        images = sample(run_dir, 32, step=step)  # 32 = the run's --eval-samples: its evaluation noise
        assert images.shape == (32, 1, 32, 32) and images.dtype == torch.uint8
        # The grid the run's evaluation drew from the same noise, pixel for pixel.
        assert torch.equal(grid_image(images), _png(run_dir / "samples" / f"step_{frame:07d}.png")), step
    assert not torch.equal(sample(run_dir, 32, step=2), sample(run_dir, 32, step=4))
    a, b, c = sample(run_dir, 12, seed=5), sample(run_dir, 12, seed=5), sample(run_dir, 12, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)  # sampling leaves the caller's random state alone
    g, header = load_generator(run_dir)
    assert header["step"] == 4 and header["image_size"] == 32 and not g.training


def test_sample_command_writes_pngs_npz_and_a_grid(run_dir: Path, tmp_path: Path) -> None:
    want = sample(run_dir, 10, seed=1)
    for out in ("pngs", "images.npz", "grid.png"):
        extra = ["--grid"] if out.endswith(".png") else []
        assert main(["sample", str(run_dir), "--n", "10", "--seed", "1", "--out", str(tmp_path / out), *extra]) == 0
    pngs = sorted((tmp_path / "pngs").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(10)]
    assert all(torch.equal(_png(p)[:1], want[i]) for i, p in enumerate(pngs))  # grey PNGs, read back as RGB
    assert torch.equal(torch.from_numpy(np.load(tmp_path / "images.npz")["images"]), want)
    assert torch.equal(_png(tmp_path / "grid.png"), grid_image(want))
    assert not list(tmp_path.glob(".*"))  # no temporary file or folder left


def _gan_run_without_checkpoint(tmp_path: Path) -> str:
    run = Run.create(tmp_path, "early")
    run.write_config("gan", tiny_gan_config().record())
    run.close()
    return str(run.path)


def _distill_run(tmp_path: Path) -> str:
    run = Run.create(tmp_path, "distilled")
    run.write_config("distill", {"env": "CartPole-v1", "alpha": 0.1, "seed": 0})
    run.close()
    return str(run.path)


@pytest.mark.parametrize("case, argv, words", [
    ("distill run", ["sample", "{distill}", "--n", "4", "--out", "{out}"], "is a distill run, not a gan run"),
    ("no checkpoint", ["sample", "{early}", "--n", "4", "--out", "{out}"], "has no checkpoint"),
    ("n < 1", ["sample", "{run}", "--n", "0", "--out", "{out}"], "--n must be >= 1"),
    ("unsaved step", ["sample", "{run}", "--n", "4", "--step", "3", "--out", "{out}"], "saved steps: 2, 4"),
    ("bad suffix", ["sample", "{run}", "--n", "4", "--out", "{out}/images.txt"], "neither a folder"),
    ("grid without png", ["sample", "{run}", "--n", "4", "--grid", "--out", "{out}.npz"], "pass FILE.png"),
    ("export suffix", ["export-generator", "{run}", "--out", "{out}/G.pt"], "pass FILE.safetensors"),
    ("export unsaved step", ["export-generator", "{run}", "--step", "1", "--out", "{out}/G.safetensors"],
     "saved steps: 2, 4"),
    ("image size 48", ["gan", *gan_flags(image_size=48), "--logdir", "{out}"], "power of two from 32 to 256"),
    ("image size 512", ["gan", *gan_flags(image_size=512), "--logdir", "{out}"], "32, 64, 128, 256"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], case: str,
                                                         argv: list[str], words: str) -> None:
    paths = {"run": str(run_dir), "distill": _distill_run(tmp_path), "early": _gan_run_without_checkpoint(tmp_path),
             "out": str(tmp_path / "out")}
    before = sorted(run_dir.rglob("*"))
    capsys.readouterr()
    assert main([a.format(**paths) for a in argv]) == 2, case
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines
    assert not list(tmp_path.glob("out*")) and sorted(run_dir.rglob("*")) == before


def test_exported_generator_runs_in_plain_pytorch_as_readme_shows(run_dir: Path, tmp_path: Path) -> None:
    """README.md's snippet, in a fresh interpreter where ``rlgan_ls`` cannot be imported, draws sample's images."""
    assert main(["export-generator", str(run_dir), "--out", str(tmp_path / "G.safetensors")]) == 0
    blocks = re.findall(re.escape(SNIPPET_MARKER) + r"\s*```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "README.md must hold the snippet once, after its marker"
    snippet = blocks[0]
    assert 'path, n = "G.safetensors", 16' in snippet and len(snippet.strip().splitlines()) <= 25
    script = tmp_path / "standalone.py"
    script.write_text('import sys\nsys.modules["rlgan_ls"] = None  # any import of the suite fails\n' + snippet
                      + '\nimport numpy\nnumpy.save("images.npy", images.numpy())\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # the same threads, the same floats
    done = subprocess.run([sys.executable, "-P", str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.equal(torch.from_numpy(np.load(tmp_path / "images.npy")), sample(run_dir, 16))


@pytest.mark.parametrize("size", [128, 256])
def test_large_sizes_train_and_resume_bit_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      size: int) -> None:
    flags = gan_flags(dataset="fake", image_size=size, max_images=48, batch_size=8, eval_samples=16,
                      classifier_steps=2, augment="translation,cutout", seed=3, log_every=1, eval_every=100)
    kill_and_resume(tmp_path, monkeypatch, flags)
    straight, killed = Run(tmp_path / "straight"), Run(tmp_path / "killed")
    assert sorted(straight.generator_files()) == sorted(killed.generator_files()) == [4, 8, 9]
    for step, path in straight.generator_files().items():  # the generator kept at every checkpoint, too
        a, b = load_file(path), load_file(killed.generator_files()[step])
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), step
    assert sample(straight.path, 2).shape == (2, 3, size, size)
