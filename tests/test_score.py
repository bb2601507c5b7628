"""``rlgan-ls score`` and ``rlgan_ls.dcgan.score``: images from anywhere, scored as a run scores its own.

The oracle is a run's own ``metrics.json``: the exact float images its last evaluation scored, written to a
``.npy`` file, must score the same; the same images as uint8 (``rlgan-ls sample``'s PNG folder and ``.npz``)
score alike whichever file holds them. Every bad input is one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_gan_config

from rlgan_ls.cli import main
from rlgan_ls.dcgan import load_generator, score, train_gan
from rlgan_ls.dcgan.sampling import generate, noise

# What a run on TINY_GAN's data uses: 64 digits, a classifier of 20 steps (the same cached one).
SETTINGS = ["--dataset", "digits", "--max-images", "64", "--classifier-steps", "20"]
EVAL_KEYS = ("eval/fd", "eval/class_coverage", "eval/class_kl", "eval/confident_frac", "eval/classifier_accuracy")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, torch.Tensor, Path]:
    """A tiny digits run: its metrics, the float images its final evaluation scored, and a scratch folder."""
    tmp = tmp_path_factory.mktemp("score")
    result = train_gan(tiny_gan_config(steps=3, eval_every=100, logdir=str(tmp), run_name="tiny"))
    g, header = load_generator(result.run_dir)
    images = generate(g, noise(header["eval_samples"], header["z_dim"], header["noise_seed"]), "cpu")
    return result.metrics, images, tmp


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, float]:
    assert main(["score", *argv, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # one JSON object, nothing else on stdout
    return json.loads(out[0])


def test_a_runs_own_images_score_as_its_metrics(run: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    metrics, images, tmp = run
    assert images.shape == (32, 1, 32, 32) and images.dtype == torch.float32
    np.save(tmp / "floats.npy", images.numpy())
    got = _json(capsys, [str(tmp / "floats.npy"), *SETTINGS])
    assert sorted(got) == sorted(EVAL_KEYS)  # metrics.json's keys, no others
    for key in EVAL_KEYS:
        assert got[key] == pytest.approx(metrics[key], rel=1e-6, abs=1e-9), key
    # The Python API, on the tensor itself, says the same.
    api = score(images, "digits", classifier_steps=20, max_images=64)
    assert api == pytest.approx(got, rel=1e-9)


def test_png_folder_npz_and_npy_of_the_same_uint8_images_score_alike(
        run: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    metrics, images, tmp = run
    u8 = images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)  # (32, 1, 32, 32)
    assert main(["sample", str(tmp / "tiny"), "--n", "32", "--out", str(tmp / "pngs")]) == 0
    assert main(["sample", str(tmp / "tiny"), "--n", "32", "--out", str(tmp / "s.npz")]) == 0
    np.save(tmp / "u8.npy", u8.numpy())
    capsys.readouterr()
    folder = _json(capsys, [str(tmp / "pngs"), *SETTINGS])
    npz = _json(capsys, [str(tmp / "s.npz"), *SETTINGS])
    assert folder == npz  # the same pixels, wherever they are kept
    ours = _json(capsys, [str(tmp / "u8.npy"), *SETTINGS])
    assert (np.abs(np.load(tmp / "s.npz")["images"].astype(int) - u8.numpy()) <= 1).all()
    assert ours["eval/fd"] == pytest.approx(npz["eval/fd"], rel=0.02)
    # 8-bit rounding moves FD by far less than training does (step 0 to 3 here).
    assert npz["eval/fd"] == pytest.approx(metrics["eval/fd"], rel=0.05)
    assert npz["eval/class_kl"] == pytest.approx(metrics["eval/class_kl"], abs=0.05)


def test_readable_output_names_each_metric(run: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    _, images, tmp = run
    np.save(tmp / "plain.npy", images.numpy())
    assert main(["score", str(tmp / "plain.npy"), *SETTINGS]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(EVAL_KEYS)


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = main(["score", *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _save(path: Path, array: np.ndarray) -> str:
    np.save(path, array) if path.suffix == ".npy" else np.savez(path, **{"a": array, "b": array})
    return str(path)


@pytest.mark.parametrize(("name", "make", "expect"), [
    ("missing.npz", None, "no such file or folder"),
    ("empty", "folder", "holds no .png files"),
    ("notes.txt", "text", "expected a folder of PNG files, a .npy or a .npz file"),
    ("hw.npy", np.zeros((4, 32, 32), np.uint8), "expected N x C x H x W"),
    ("nhwc.npy", np.zeros((4, 32, 32, 3), np.uint8), "looks like N x H x W x C"),
    ("wide.npy", np.zeros((4, 1, 32, 16), np.uint8), "square images"),
    ("one.npy", np.zeros((1, 1, 32, 32), np.uint8), "at least 2"),
    ("big.npy", np.full((4, 1, 32, 32), 300, np.int32), "must be in [0, 255]"),
    ("unit.npy", np.full((4, 1, 32, 32), 0.5, np.float32), "for [0, 1] images pass 2x - 1"),
    ("wild.npy", np.linspace(-3, 3, 4096, dtype=np.float32).reshape(4, 1, 32, 32), "must span [-1, 1]"),
    ("nan.npy", np.full((4, 1, 32, 32), np.nan, np.float32), "NaN or inf"),
    ("bool.npy", np.zeros((4, 1, 32, 32), bool), "dtype bool"),
    ("two.npz", np.zeros((4, 1, 32, 32), np.uint8), "holds 2 arrays (a, b)"),
    ("objects.npy", "pickle", "pickled objects, which are never loaded"),
])
def test_bad_samples_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: object,
                                  expect: str) -> None:
    path = tmp_path / name
    if isinstance(make, np.ndarray):
        _save(path, make)
    elif make == "folder":
        path.mkdir()
        (path / "readme.txt").write_text("no images here")
    elif make == "text":
        path.write_text("hello")
    elif make == "pickle":
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    line = _one_line(capsys, [str(path), *SETTINGS])
    assert line.startswith("rlgan-ls score: error: ") and expect in line, line


def test_bad_dataset_and_channels_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grey = _save(tmp_path / "grey.npy", np.zeros((4, 1, 32, 32), np.uint8))
    assert "unknown dataset 'imagenet'" in _one_line(capsys, [grey, "--dataset", "imagenet"])
    assert "have 3 channels" in _one_line(capsys, [grey, "--dataset", "stacked-mnist-5k"])
    assert "--classifier-steps must be >= 1" in _one_line(capsys, [grey, "--dataset", "digits",
                                                                   "--classifier-steps", "0"])
    (tmp_path / "mixed").mkdir()
    from PIL import Image

    Image.new("L", (32, 32)).save(tmp_path / "mixed" / "a.png")
    Image.new("L", (16, 16)).save(tmp_path / "mixed" / "b.png")
    assert "same size" in _one_line(capsys, [str(tmp_path / "mixed"), "--dataset", "digits"])
    (tmp_path / "mixed" / "b.png").write_bytes(b"not a png")
    assert "not a readable PNG" in _one_line(capsys, [str(tmp_path / "mixed"), "--dataset", "digits"])
