"""The regimes the theory names, as knobs: noisy teacher labels and a budget of demonstrations.

Oracles: the binomial distribution of the flips, the labels before corruption, the budget itself."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_distill
from scipy import stats
from scripted_teachers import lean_teacher, soft_lean_teacher

from rlgan_ls.cli import main
from rlgan_ls.distill import distill
from rlgan_ls.distill.dataset import corrupt
from rlgan_ls.distill.teachers import Labels
from rlgan_ls.seeding import Seeds


def _labels(n: int, nvec: tuple[int, ...], soft: bool) -> Labels:
    gen = torch.Generator().manual_seed(11)
    actions = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in nvec], dim=1)  # (N, D)
    probs = torch.cat([torch.softmax(torch.randn(n, k, generator=gen), -1) for k in nvec], -1) if soft else None
    return Labels(actions, probs)


@pytest.mark.parametrize("eps", [0.05, 0.3])
@pytest.mark.parametrize("nvec", [(2,), (3, 7)])
def test_label_noise_flips_at_its_rate_to_another_action(eps, nvec):
    n = 100_000
    clean = _labels(n, nvec, soft=False)
    noisy = corrupt(clean, eps, nvec, Seeds(5).torch("label_noise"))
    flipped = noisy.actions != clean.actions  # (N, D)
    lo, hi = stats.binom.interval(0.999, n, eps)
    for d, k in enumerate(nvec):
        assert lo <= int(flipped[:, d].sum()) <= hi, (d, int(flipped[:, d].sum()))
        assert ((noisy.actions[:, d] >= 0) & (noisy.actions[:, d] < k)).all()
        if k > 2:  # the new action is uniform over the k - 1 others
            shift = (noisy.actions[flipped[:, d], d] - clean.actions[flipped[:, d], d]) % k
            counts = torch.bincount(shift, minlength=k)[1:].numpy()
            assert stats.chisquare(counts).pvalue > 1e-3
    again = corrupt(clean, eps, nvec, Seeds(5).torch("label_noise"))
    assert torch.equal(again.actions, noisy.actions)  # the run's seed makes it reproducible
    other = corrupt(clean, eps, nvec, Seeds(6).torch("label_noise"))
    assert not torch.equal(other.actions, noisy.actions)


def test_soft_labels_become_a_one_hot_on_the_new_action():
    nvec = (3, 2)
    clean = _labels(2000, nvec, soft=True)
    noisy = corrupt(clean, 0.4, nvec, Seeds(0).torch("label_noise"))
    blocks_clean = torch.split(clean.probs, list(nvec), -1)
    for d, block in enumerate(torch.split(noisy.probs, list(nvec), -1)):
        flipped = noisy.actions[:, d] != clean.actions[:, d]
        assert torch.equal(block[flipped], torch.nn.functional.one_hot(noisy.actions[flipped, d], nvec[d]).float())
        assert torch.equal(block[~flipped], blocks_clean[d][~flipped])


@pytest.mark.parametrize("method", ["bc", "dagger"])
def test_a_demonstration_budget_keeps_exactly_that_many_states(tmp_path, method):
    result = distill(tiny_distill(tmp_path, method=method, demos=300, rounds=3), teacher=lean_teacher)
    assert result.dataset.size == result.dataset.capacity == 300
    assert result.metrics["train/dataset_size"] == 300
    first = distill(tiny_distill(tmp_path, method="bc", rounds=3, run_name="all"), teacher=lean_teacher).dataset
    if method == "bc":  # the teacher's first 300 states, as the unbudgeted run collected them
        assert torch.equal(result.dataset.obs[:300], first.obs[:300])


def test_noisy_labels_reach_the_dataset_and_the_config(tmp_path):
    result = distill(tiny_distill(tmp_path, method="bc", label_noise=0.3, target="soft"), teacher=soft_lean_teacher)
    data = result.dataset
    clean = soft_lean_teacher(data.obs[: data.size].numpy()).argmax(-1)
    rate = float((data.actions[: data.size, 0].numpy() != clean).mean())
    assert 0.25 < rate < 0.35
    from rlgan_ls.runs import Run

    assert Run.open(result.run_dir).config["label_noise"] == 0.3


@pytest.mark.parametrize(("flag", "value", "needle"), [("--label-noise", "1.0", "--label-noise must be in"),
                                                        ("--label-noise", "-0.1", "--label-noise must be in"),
                                                        ("--demos", "0", "--demos must be between 1 and"),
                                                        ("--demos", "99999999", "--demos must be between 1 and")])
def test_bad_regime_settings_are_one_line(tmp_path, capsys, flag, value, needle):
    assert main(["distill", "--env", "CartPole-v1", flag, value, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and not any(tmp_path.iterdir())
