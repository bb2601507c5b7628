"""The CLI shell: one-line errors with exit code 2; the loss-core demonstration against PyTorch's losses."""

import math
import re

import pytest
import torch
import torch.nn.functional as F

from rlgan_ls.cli import main


def _printed(out: str, label: str) -> list[float]:
    return [float(x) for x in re.findall(re.escape(label) + r"\s*= ([0-9.e+-]+)", out)]


def test_core_demo_numbers_match_pytorch(capsys):
    """Every number the demo prints, recomputed with PyTorch's own losses on the demo's logits (seed 0)."""
    assert main(["core-demo", "--alpha", "0", "0.1", "--classes", "5"]) == 0
    out = capsys.readouterr().out
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3])
    ce = [F.cross_entropy(logits, labels, label_smoothing=a).item() for a in (0.0, 0.1)]
    onehot_ce = F.cross_entropy(logits, labels).item()
    uniform = torch.full_like(logits, 1 / 5)
    kl_u = F.kl_div(F.log_softmax(logits, -1), uniform, reduction="batchmean").item()  # KL(u || q)
    assert _printed(out, "CE(p, q)") == pytest.approx(ce, abs=1e-6)
    assert _printed(out, "(1-a)*CE(onehot, q)") == pytest.approx([onehot_ce, 0.9 * onehot_ce], abs=1e-6)
    assert _printed(out, "[KL(u||q)") == pytest.approx([kl_u, kl_u], abs=1e-6)
    assert _printed(out, "a*(KL(u||q) + log K)") == pytest.approx([0.0, 0.1 * (kl_u + math.log(5))], abs=1e-6)
    assert "[0.9200, 0.0200, 0.0200, 0.0200, 0.0200]" in out  # (1 - 0.1) onehot + 0.1 / 5
    assert "[0.0000, 0.0500, 0.9000, 0.0500, 0.0000]" in out  # ordinal: 0.1 split between the neighbours
    bce = [F.binary_cross_entropy_with_logits(torch.tensor([4.0]), torch.tensor([t])).item()
           + F.binary_cross_entropy_with_logits(torch.tensor([-4.0]), torch.tensor([0.0])).item() for t in (1.0, 0.9)]
    assert [float(x) for x in re.findall(r"loss ([0-9.]+);", out)] == pytest.approx(bce, abs=1e-4)


def test_bad_alpha_is_one_line_exit_2(capsys):
    assert main(["core-demo", "--alpha", "1.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--alpha" in err and "[0, 1)" in err


def test_unknown_command_and_bad_flag_type_exit_2(capsys):
    for argv in (["nope"], ["core-demo", "--classes", "many"]):
        try:
            main(argv)
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError("expected exit 2")
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err
