"""GEMM epilogue folding and fusion: what becomes one kernel, what must not (a product read
elsewhere, a cycle), and that the results stay what the unfused graph computes."""

from __future__ import annotations

import networkx as nx
import numpy as np

import ir
from passes.fusion import fuse
from passes.gemm import fold_gemm_epilogues
from passes.layout import assign_layouts
from runtime import run_graph

F64 = "float64"


def linear_sgd() -> ir.Graph:
    """relu(x @ W^T + b), and W - lr * (g^T @ x) for an incoming gradient g."""
    g = ir.Graph("sgd")
    x = g.add_input("x", ir.TensorType((4, 3), F64))
    grad = g.add_input("g", ir.TensorType((4, 5), F64))
    lr = g.add_input("lr", ir.TensorType((), F64))
    w = g.add_param("w", ir.TensorType((5, 3), F64))
    bias = g.add_param("b", ir.TensorType((5,), F64))
    b = ir.Builder(g, loc="m.py:1")
    out = b.relu(b.add(b.matmul(x, w, trans_b=True), bias))
    g.set_outputs([out])
    g.updates.append((w, b.sub(w, b.mul(b.matmul(grad, x, trans_a=True), lr))))
    return g


def feeds(rng):
    return ([rng.standard_normal((4, 3)), rng.standard_normal((4, 5)), np.asarray(0.1)],
            {"w": rng.standard_normal((5, 3)), "b": rng.standard_normal(5)})


def with_updates(graph):
    g = graph.copy()
    g.set_outputs([*g.outputs, *(v for _, v in g.updates)])
    g.updates = []
    return g


def test_bias_add_and_sgd_update_fold_into_gemms(rng):
    g = linear_sgd()
    folded = fold_gemm_epilogues(g)
    gemms = [n for n in folded.nodes if n.op == "gemm"]
    assert len(gemms) == 2 and not any(n.op == "matmul" for n in folded.nodes)
    update = folded.updates[0][1].node
    assert update.op == "gemm" and update.inputs[2] is folded.param("w")  # C is W itself
    inputs, params = feeds(rng)
    for got, want in zip(run_graph(with_updates(folded), inputs, params),
                         run_graph(with_updates(g), inputs, params)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_a_product_read_elsewhere_is_not_folded():
    g = ir.Graph("shared")
    x = g.add_input("x", ir.TensorType((3, 3), F64))
    b = ir.Builder(g)
    p = b.matmul(x, x)
    g.set_outputs([p, b.mul(p, b.const(2.0, F64))])
    assert [n.op for n in fold_gemm_epilogues(g).nodes] == ["matmul", "mul"]


def test_two_terms_of_one_product_are_not_combined():
    # P - 0.5 * P is NaN for P = inf; 0.5 * P is inf: never fold it into one coefficient.
    g = ir.Graph("twice")
    x = g.add_input("x", ir.TensorType((2, 1), F64))
    b = ir.Builder(g)
    p = b.matmul(x, x, trans_b=True)
    g.set_outputs([b.sub(p, b.mul(p, b.const(0.5, F64)))])
    folded = fold_gemm_epilogues(g)
    xs = np.array([[np.inf], [1.0]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(run_graph(folded, [xs])[0], run_graph(g, [xs])[0])


def test_fusion_makes_one_kernel_per_chain_and_keeps_values(rng):
    g = assign_layouts(linear_sgd())
    fused = fuse(fold_gemm_epilogues(g))
    fused.verify()
    assert ir.parse(str(fused)) == fused
    # gemm+relu fused; -lr (a 0-d scalar); the update gemm
    assert [n.op for n in fused.nodes] == ["fused", "neg", "gemm"]
    body = fused.nodes[0].subgraph
    assert [n.op for n in body.nodes] == ["gemm", "relu"]
    assert body.nodes[1].meta["loc"] == "m.py:1"  # members keep their own meta
    inputs, params = feeds(rng)
    for got, want in zip(run_graph(with_updates(fused), inputs, params),
                         run_graph(with_updates(g), inputs, params)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_fusion_never_creates_a_cycle():
    # a -> exp -> (opaque take) -> add(exp, take): exp and add may not fuse around the take.
    g = ir.Graph("cycle")
    x = g.add_input("x", ir.TensorType((4,), F64))
    idx = g.add_input("i", ir.TensorType((4,), "int64"))
    b = ir.Builder(g)
    e = b.exp(x)
    t = b.take(e, idx, axis=0)
    g.set_outputs([b.add(b.mul(e, e), t)])
    fused = fuse(g)
    fused.verify()
    dag = fused.to_networkx()
    assert nx.is_directed_acyclic_graph(dag)
    xs, ids = np.arange(4.0), np.array([3, 2, 1, 0])
    np.testing.assert_array_equal(run_graph(fused, [xs, ids])[0], run_graph(g, [xs, ids])[0])


def test_reductions_fuse_with_their_prologue_and_epilogue():
    g = ir.Graph("logsumexp")
    x = g.add_input("x", ir.TensorType((3, 5), F64))
    m = g.add_input("m", ir.TensorType((3, 1), F64))
    b = ir.Builder(g)
    g.set_outputs([b.log(b.sum(b.exp(b.sub(x, m)), axes=(1,), keepdims=True))])
    fused = fuse(g)
    assert [n.op for n in fused.nodes] == ["fused"]
    assert [n.op for n in fused.nodes[0].subgraph.nodes] == ["sub", "exp", "sum", "log"]
