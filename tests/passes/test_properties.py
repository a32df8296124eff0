"""Properties on random graphs (hypothesis): every pass and every level computes what the graph
computed, the memory plan never lets two live values share memory, and running the plan equals
the reference interpreter, NaN, inf and signed zeros included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from randomgraphs import random_feeds, random_graph

import ir
from ir.compare import same_array
from passes.memory import ARENA, plan_memory
from passes.pipeline import LEVELS, PASSES, optimize
from runtime import Executable, run_graph

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REASSOCIATING = {"gemm", "layout"}  # BLAS sums a product in another order / alpha*AB + beta*C


def results(graph: ir.Graph, inputs, params) -> list:
    """Outputs, then each update's new value, by the reference interpreter."""
    g = graph.copy()
    g.set_outputs([*g.outputs, *(v for _, v in g.updates)])
    g.updates = []
    with np.errstate(all="ignore"):
        return run_graph(g, inputs, {k: v.copy() for k, v in params.items()})


def assert_same(actual, expected, exact: bool) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape
        if exact:
            assert same_array(a, e), f"not bit-for-bit equal:\n{a}\n{e}"
        else:
            tol = 1e-12 if a.dtype == np.float64 else 2e-5
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("name", sorted(PASSES))
@EXAMPLES
@given(data=st.data())
def test_every_pass_keeps_values(name, data):
    graph = random_graph(data)
    inputs, params = random_feeds(data, graph)
    after = PASSES[name](graph)
    after.verify()
    assert ir.parse(str(after)) == after
    assert_same(results(after, inputs, params), results(graph, inputs, params),
                exact=name not in REASSOCIATING)


@pytest.mark.parametrize("level", sorted(LEVELS))
@EXAMPLES
@given(data=st.data())
def test_every_level_keeps_values_and_the_plan_runs_them(level, data):
    graph = random_graph(data)
    inputs, params = random_feeds(data, graph)
    expected = results(graph, inputs, params)
    optimized = optimize(graph, level, verify=True)
    assert_same(results(optimized, inputs, params), expected, exact=level != "O2")
    plan = plan_memory(optimized)
    check_no_overlap(plan)
    state = {k: v.copy() for k, v in params.items()}
    names = [v.name for v in optimized.user_inputs()]
    feeds = [inputs[[v.name for v in graph.inputs].index(n)] for n in names]
    with np.errstate(all="ignore"):
        outputs = Executable(optimized, plan)(feeds, state)
    updated = [state[p.name] for p, _ in optimized.updates]
    assert_same([*outputs, *updated], expected, exact=False)


def check_no_overlap(plan) -> None:
    """Arena buffers live at the same time never share bytes; values sharing one buffer follow
    each other (the next is written where the last read of the previous happens, in place)."""
    step = {v: -1 for v in plan.graph.leaves()}
    step.update({v: t for t, n in enumerate(plan.graph.nodes) for v in n.outputs})
    buffers = {id(b): b for b in plan.buffer_of.values() if b.kind == ARENA}.values()
    spans = [(b.offset, b.offset + b.nbytes, b.start, b.end) for b in buffers]
    spans += [(w.offset, w.offset + w.nbytes, plan.graph.nodes.index(n), plan.graph.nodes.index(n))
              for n, w in plan.workspaces.items() if w.nbytes]
    for i, (lo, hi, start, end) in enumerate(spans):
        for lo2, hi2, start2, end2 in spans[i + 1:]:
            if start <= end2 and start2 <= end and lo < hi2 and lo2 < hi:
                raise AssertionError(f"bytes [{lo},{hi}) and [{lo2},{hi2}) overlap while both live")
    users = plan.graph.users()
    for buffer in buffers:
        owners = [v for v in buffer.values if v not in plan.view_of]
        for before, after in itertools.pairwise(owners):
            last = max([step[before]] + [plan.graph.nodes.index(n) for n in users.get(before, [])])
            assert step[after] >= last, f"%{after.name} overwrites %{before.name} while it is live"
