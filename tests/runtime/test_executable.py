"""Executable: same results as the reference interpreter, in-place updates, exact input checks."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from passes.memory import plan_memory
from runtime import Executable, ExecutionError, available_backends, get_backend, run_graph


def build(graph, **options) -> Executable:
    return Executable(graph, plan_memory(graph), **options)


def random_inputs(graph, rng):
    def make(value):
        return rng.standard_normal(value.shape).astype(value.dtype)

    return [make(v) for v in graph.inputs], {v.name: make(v) for v in graph.params}


def assert_same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_match_the_interpreter(seed, make_random_graph):
    rng = np.random.default_rng(seed)
    graph = make_random_graph(rng, n_nodes=15)
    inputs, params = random_inputs(graph, rng)
    with np.errstate(all="ignore"):
        expected = run_graph(graph, inputs, {k: v.copy() for k, v in params.items()})
        new_w = expected_update(graph, inputs, params)
        outputs = build(graph)(inputs, params)
    for got, want in zip(outputs, expected, strict=True):
        assert_same(np.asarray(got), np.asarray(want))
    assert_same(params["layer.0.weight"], new_w)


def expected_update(graph, inputs, params):
    """The update's new value, computed by the interpreter on a graph that outputs it."""
    _, new = graph.updates[0]
    saved = graph.outputs
    graph.outputs = [new]
    try:
        return run_graph(graph, inputs, {k: v.copy() for k, v in params.items()})[0]
    finally:
        graph.outputs = saved


def sgd_graph():
    g = ir.Graph("sgd")
    x = g.add_input("x", ir.TensorType((4, 3), "float64"))
    w = g.add_param("w", ir.TensorType((3, 2), "float64"))
    b = ir.Builder(g, loc="train.py:3")
    y = b.matmul(x, w)
    loss = b.sum(b.mul(y, y), axes=None, keepdims=False)
    grad = b.matmul(b.permute(x, perm=(1, 0)), b.mul(y, b.scalar_like(2.0, y)))
    new_w = b.sub(w, b.mul(grad, b.scalar_like(0.01, grad)))
    g.set_outputs([loss, b.reshape(w, shape=(6,))])
    g.updates.append((w, new_w))
    return g


def test_updates_land_in_the_callers_arrays(rng):
    graph = sgd_graph()
    exe = build(graph)
    x = rng.standard_normal((4, 3))
    w = rng.standard_normal((3, 2))
    storage, w0 = w, w.copy()
    for _ in range(3):
        loss, flat_w = exe([x], {"w": w})
        # Outputs read the parameters as they were before this step's update.
        np.testing.assert_array_equal(flat_w, w0.reshape(6))
        np.testing.assert_allclose(loss, ((x @ w0) ** 2).sum())
        w0 = w0 - 0.01 * (x.T @ (2 * (x @ w0)))
        np.testing.assert_allclose(w, w0, rtol=1e-12)
    assert w is storage


def test_swapped_updates_do_not_clobber_each_other():
    g = ir.Graph("swap")
    a = g.add_param("a", ir.TensorType((3,), "float32"))
    b = g.add_param("b", ir.TensorType((3,), "float32"))
    g.updates += [(a, b), (b, a)]
    g.set_outputs([a])
    A, B = np.zeros(3, np.float32), np.ones(3, np.float32)
    (out,) = build(g)([], {"a": A, "b": B})
    np.testing.assert_array_equal(A, 1)
    np.testing.assert_array_equal(B, 0)
    np.testing.assert_array_equal(out, 0)


def test_random_keys_come_from_keys():
    g = ir.Graph("dropout")
    x = g.add_input("x", ir.TensorType((64,), "float32"))
    key = g.add_input("key", ir.TensorType((), "int64"))
    g.meta["random_keys"] = [g.inputs[-1]]
    b = ir.Builder(g)
    g.set_outputs([b.mul(x, b.random_mask(key, shape=(64,), p=0.5, dtype="float32"))])
    exe = build(g)
    x = np.ones(64, np.float32)
    first, again, other = exe([x], {}, keys=[7]), exe([x], {}, keys=[7]), exe([x], {}, keys=[8])
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[0], run_graph(g, [x, np.int64(7)])[0])
    with pytest.raises(ExecutionError, match=r"takes 1 random key\(s\) in keys=, got 0"):
        exe([x], {})
    with pytest.raises(ExecutionError, match="random key 'key' must be an int"):
        exe([x], {}, keys=[1.5])


def test_fused_nodes_run_their_subgraph(fused_graph, rng):
    inputs, params = random_inputs(fused_graph, rng)
    (got,) = build(fused_graph)(inputs, params)
    x, w, bias = inputs[0], params["fc.weight"], params["fc.bias"]
    np.testing.assert_allclose(got, np.maximum(x @ w + bias, 0), rtol=1e-6)


@pytest.mark.parametrize(
    "inputs, params, message",
    [
        ([], None, "graph 'sgd' takes 1 input(s) (x: f64[4,3]), got 0"),
        ([np.zeros((4, 4))], None, "input 'x' expects f64[4,3], got float64[4, 4]"),
        ([np.zeros((4, 3), np.float32)], None, "input 'x' expects f64[4,3], got float32[4, 3]"),
        ([np.zeros((3,))], None, "input 'x' expects f64[4,3], got float64[3]"),
        ([[[0.0] * 3] * 4], None, "input 'x' expects an array f64[4,3], got list"),
        ([np.zeros((4, 3))], {}, "graph 'sgd' needs parameter 'w' (f64[3,2])"),
        ([np.zeros((4, 3))], {"w": np.zeros((2, 3))}, "parameter 'w' expects f64[3,2], got"),
    ],
)
def test_wrong_inputs_give_clear_errors(inputs, params, message):
    exe = build(sgd_graph())
    params = {"w": np.zeros((3, 2))} if params is None else params
    with pytest.raises(ExecutionError) as info:
        exe(inputs, params)
    assert message in str(info.value)


def test_kernel_errors_name_the_node_and_its_source():
    g = ir.Graph("g")
    x = g.add_input("x", ir.TensorType((2,), "float32"))
    node = g.add_node("neg", [x], meta={"loc": "model.py:42", "scope": "head"}, names=["y"])
    g.set_outputs([node.out])
    exe = build(g)
    exe.program.flat[0] = _failing_kernel
    with pytest.raises(ExecutionError) as info:
        exe([np.zeros(2, np.float32)], {})
    assert "while executing %y = neg(%x) at model.py:42 (in head): ValueError: boom" in str(
        info.value
    )


def _failing_kernel(*arrays):
    raise ValueError("boom")


def test_building_verifies_the_graph():
    g = sgd_graph()
    plan = plan_memory(g)
    g.nodes[0].op = "nope"
    with pytest.raises(ir.VerifyError, match="unknown op 'nope'"):
        Executable(g, plan)


def test_backends():
    assert "numpy" in available_backends()
    assert get_backend("numpy").xp is np
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        get_backend("tpu")
    if "cupy" not in available_backends():
        with pytest.raises(RuntimeError, match="backend 'cupy' is not available"):
            build(sgd_graph(), backend="cupy")
