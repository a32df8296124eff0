"""Sampling (bernoulli, normal, multinomial): distributions, seeding, tracing, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from runtime import run_graph

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log(0) of zero weights


def test_bernoulli_has_the_given_probabilities_and_dtype():
    graphc.manual_seed(0)
    p = graphc.tensor([0.0, 0.25, 0.9, 1.0]).expand(20000, 4)
    draws = graphc.bernoulli(p)
    assert draws.dtype == graphc.float32 and set(np.unique(draws.numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0).numpy(), [0.0, 0.25, 0.9, 1.0], atol=0.015)
    assert 0.45 < graphc.zeros(4000).bernoulli_(0.5).mean().item() < 0.55


def test_normal_with_tensors_and_with_numbers():
    graphc.manual_seed(0)
    z = graphc.normal(graphc.full((40000,), 3.0), graphc.full((40000,), 2.0))
    assert abs(z.mean().item() - 3.0) < 0.05 and abs(z.std().item() - 2.0) < 0.05
    z = graphc.normal(-1.0, 0.5, (40000,))
    assert z.shape == (40000,) and abs(z.mean().item() + 1) < 0.02
    assert graphc.normal(graphc.zeros(2, 3, dtype=graphc.float64), 1.0).dtype == graphc.float64


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_frequencies(replacement):
    graphc.manual_seed(0)
    weights = graphc.tensor([[1.0, 0.0, 6.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
    draws = np.stack([graphc.multinomial(weights, 2, replacement).numpy() for _ in range(3000)])
    assert draws.dtype == np.int64 and draws.shape == (3000, 2, 2)
    first = np.bincount(draws[:, 0, 0], minlength=4) / 3000
    np.testing.assert_allclose(first, [0.1, 0.0, 0.6, 0.3], atol=0.03)
    assert not (draws == 1).any()  # zero weight: never drawn
    if not replacement:
        assert (draws[:, :, 0] != draws[:, :, 1]).all()


def test_manual_seed_repeats_draws():
    results = []
    for _ in range(2):
        graphc.manual_seed(7)
        results.append((graphc.multinomial(graphc.ones(5), 3).numpy(),
                        graphc.normal(0.0, 1.0, (4,)).numpy(),
                        graphc.bernoulli(graphc.full((6,), 0.5)).numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_traced_sampling_takes_its_randomness_from_key_inputs():
    def fn(p):
        return graphc.bernoulli(p), graphc.normal(p, 1.0), graphc.multinomial(p, 2)

    graph = graphc.trace(fn, graphc.spec((4,)))
    keys = graph.meta["random_keys"]
    assert len(keys) == 3
    p = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    runs = [run_graph(graph, [p, *(np.array(k) for k in seeds)]) for seeds in ((1, 2, 3),) * 2]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    other = run_graph(graph, [p, np.array(4), np.array(5), np.array(6)])
    assert not np.array_equal(other[1], runs[0][1])


@pytest.mark.parametrize(
    "call",
    [lambda t: t.multinomial(t.tensor([1.0, -1.0]), 1),
     lambda t: t.multinomial(t.tensor([1.0, 2.0]), 3),
     lambda t: t.multinomial(t.tensor([[[1.0]]]), 1),
     lambda t: t.normal(0.0, -1.0, (2,))],
)
def test_sampling_errors_are_pytorchs(call):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(RuntimeError if isinstance(theirs.value, RuntimeError) else Exception):
        call(graphc)
