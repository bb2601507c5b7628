"""Target distributions: exact values, priors, validation and distribution properties."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlgan_ls import hierarchical_prior, ordinal_prior, smooth_targets, tree_distances, uniform_prior

D = torch.float64


def test_issue_example_class_three_of_five():
    # The third class (index 2) of K = 5 with alpha = 0.1: 0.9 + 0.1/5 on the label, 0.1/5 elsewhere.
    p = smooth_targets(torch.tensor([2]), 5, 0.1, dtype=D)
    assert torch.allclose(p, torch.tensor([[0.02, 0.02, 0.92, 0.02, 0.02]], dtype=D), atol=1e-12)


def test_alpha_zero_is_one_hot_and_soft_base_passes_through():
    labels = torch.tensor([0, 3, 1])
    assert torch.equal(smooth_targets(labels, 4, 0.0), torch.nn.functional.one_hot(labels, 4).float())
    soft = torch.tensor([[0.5, 0.5, 0.0, 0.0]], dtype=D)  # a hybrid class split between two parents
    assert torch.allclose(smooth_targets(soft, 4, 0.2), 0.8 * soft + 0.05)


def test_vector_prior_and_matrix_prior_rows():
    prior_vec = torch.tensor([0.7, 0.1, 0.1, 0.1], dtype=D)
    p = smooth_targets(torch.tensor([1]), 4, 0.5, prior_vec)
    assert torch.allclose(p, torch.tensor([[0.35, 0.55, 0.05, 0.05]], dtype=D))
    mat = ordinal_prior(4, dtype=D)
    p = smooth_targets(torch.tensor([0, 2]), 4, 0.4, mat)
    expected = torch.tensor([[0.6, 0.4, 0.0, 0.0], [0.0, 0.2, 0.6, 0.2]], dtype=D)
    assert torch.allclose(p, expected)


def test_soft_base_with_matrix_prior_mixes_rows():
    mat = ordinal_prior(3, dtype=D)  # rows: [0,1,0], [.5,0,.5], [0,1,0]
    base = torch.tensor([[0.5, 0.0, 0.5]], dtype=D)
    p = smooth_targets(base, 3, 0.2, mat)
    # prior part = 0.5 * row0 + 0.5 * row2 = [0, 1, 0]
    assert torch.allclose(p, 0.8 * base + 0.2 * torch.tensor([[0.0, 1.0, 0.0]], dtype=D))


def test_leading_batch_dims_are_kept():
    labels = torch.randint(0, 6, (3, 4, 2))
    assert smooth_targets(labels, 6, 0.1).shape == (3, 4, 2, 6)


def test_ordinal_prior_adjacent_and_decay():
    adj = ordinal_prior(5, dtype=D)
    assert torch.allclose(adj[0], torch.tensor([0, 1, 0, 0, 0], dtype=D))
    assert torch.allclose(adj[2], torch.tensor([0, 0.5, 0, 0.5, 0], dtype=D))
    dec = ordinal_prior(5, decay=0.5, dtype=D)
    w = torch.tensor([1.0, 0, 1.0, 0.5, 0.25], dtype=D)  # class 1: distances 1,0,1,2,3
    assert torch.allclose(dec[1], w / w.sum())
    assert torch.allclose(ordinal_prior(4, decay=1.0, dtype=D).diagonal(), torch.zeros(4, dtype=D))
    with pytest.raises(ValueError, match="decay"):
        ordinal_prior(4, decay=1.5)


def test_hierarchical_prior_prefers_siblings():
    d = tree_distances([("animal", "dog"), ("animal", "cat"), ("vehicle", "car"), ("vehicle", "bus")])
    assert d[0, 1] == 2 and d[0, 2] == 4 and d[2, 3] == 2 and torch.all(d.diagonal() == 0)
    prior = hierarchical_prior(d, lam=1.0, dtype=D)
    row = torch.exp(-torch.tensor([0.0, 2.0, 4.0, 4.0], dtype=D))
    assert torch.allclose(prior[0], row / row.sum())
    assert torch.allclose(hierarchical_prior(d, lam=0.0, dtype=D), torch.full((4, 4), 0.25, dtype=D))
    with pytest.raises(ValueError, match="distances"):
        hierarchical_prior(torch.ones(3, 3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"num_classes": 1}, "num_classes"),
        ({"target": torch.tensor([0, 5])}, "target labels"),
        ({"target": torch.tensor([-1])}, "target labels"),
        ({"target": torch.ones(2, 3)}, "target"),
        ({"target": torch.tensor([[0.5, 0.6, -0.1, 0.0]])}, "target"),
        ({"prior": torch.tensor([0.5, 0.5, 0.5, 0.5])}, "prior"),
        ({"prior": torch.ones(3)}, "prior"),
        ({"prior": torch.tensor([1.5, -0.5, 0.0, 0.0])}, "prior"),
        ({"prior": torch.eye(4)[[1, 1, 1, 2]] * 2}, "prior"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    args = {"target": torch.tensor([0, 1]), "num_classes": 4, "alpha": 0.1, "prior": None} | kwargs
    with pytest.raises(ValueError, match=match):
        smooth_targets(**args)


@st.composite
def _case(draw):
    k = draw(st.integers(2, 12))
    n = draw(st.integers(1, 6))
    alpha = draw(st.floats(0.0, 0.999, allow_nan=False))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    kind = draw(st.sampled_from(["uniform", "vector", "matrix", "ordinal", "ordinal-decay", "hier"]))
    prior = {
        "uniform": None,
        "vector": torch.softmax(3 * torch.randn(k, generator=gen, dtype=D), -1),
        "matrix": torch.softmax(3 * torch.randn(k, k, generator=gen, dtype=D), -1),
        "ordinal": ordinal_prior(k, dtype=D),
        "ordinal-decay": ordinal_prior(k, decay=draw(st.floats(0.01, 1.0)), dtype=D),
        "hier": hierarchical_prior(tree_distances([(str(i % 3), str(i)) for i in range(k)]),
                                   lam=draw(st.floats(0.0, 5.0)), dtype=D),
    }[kind]
    if draw(st.booleans()):
        target = torch.randint(0, k, (n,), generator=gen)
    else:
        target = torch.softmax(5 * torch.randn(n, k, generator=gen, dtype=D), -1)
    return target, k, alpha, prior


@settings(max_examples=150, deadline=None)
@given(_case())
def test_every_row_is_a_distribution(case):
    target, k, alpha, prior = case
    p = smooth_targets(target, k, alpha, prior, dtype=D)
    assert p.shape == (target.shape[0], k)
    assert torch.all(p >= 0)
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[0], dtype=D), atol=1e-9)
    if alpha > 0 and prior is None:  # uniform smoothing puts mass alpha/K on every class
        assert torch.all(p >= alpha / k - 1e-12)


def test_uniform_prior_constructor():
    u = uniform_prior(4, dtype=D)
    assert torch.allclose(u, torch.full((4,), 0.25, dtype=D))
    # A (K,) uniform prior and prior=None give the same targets.
    labels = torch.tensor([0, 3])
    assert torch.allclose(smooth_targets(labels, 4, 0.3, u), smooth_targets(labels, 4, 0.3, dtype=D))
