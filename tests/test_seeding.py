"""One seeding helper for both pipelines: every random stream of a run derived from its seed in one table."""

import torch

from rlgan_ls.distill.rollouts import eval_seed
from rlgan_ls.seeding import PURPOSES, Seeds


def test_streams_are_reproducible_distinct_and_per_rank_only_where_declared():
    draws = {p: torch.rand(4, generator=Seeds(7).torch(p)) for p in PURPOSES}
    for p in PURPOSES:
        assert torch.equal(draws[p], torch.rand(4, generator=Seeds(7).torch(p)))  # same seed, same stream
    assert len({Seeds(7).of(p) for p in PURPOSES if PURPOSES[p][:2] != (1, 0)}) == len(
        [p for p in PURPOSES if PURPOSES[p][:2] != (1, 0)])  # offset streams never share a seed
    for p, (_, _, per_rank) in PURPOSES.items():
        assert (Seeds(7, rank=1).of(p) != Seeds(7).of(p)) == per_rank
    assert Seeds(7).numpy("dagger").random() == Seeds(7).numpy("dagger").random()


def test_the_evaluation_seed_is_the_one_the_readme_names():
    assert eval_seed(3) == Seeds(3).of("evaluation") == 10_003  # "the run's seed + 10000"


def test_seeding_the_global_rng_makes_the_same_weights():
    Seeds(5).seed_global()
    a = torch.nn.Linear(3, 2).weight.detach().clone()
    Seeds(5).seed_global("weights")
    assert torch.equal(a, torch.nn.Linear(3, 2).weight)
