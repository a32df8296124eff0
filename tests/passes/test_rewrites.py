"""fold, simplify, cse and layout, one rule at a time: what fires, what must not (NaN, inf and the
sign of zero), and that results stay bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from ir.compare import same_array
from passes.cse import eliminate_common_subexpressions
from passes.fold import fold_constants, freeze_params
from passes.layout import assign_layouts
from passes.simplify import simplify
from runtime import run_graph

F32 = "float32"
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0], F32)


def graph_of(build, *types):
    """A graph with inputs of `types` whose output is build(b, *inputs)."""
    g = ir.Graph("g")
    inputs = [g.add_input(f"x{i}", ir.TensorType(*t)) for i, t in enumerate(types)]
    b = ir.Builder(g, loc="m.py:1")
    out = build(b, *inputs)
    g.set_outputs(out if isinstance(out, (list, tuple)) else [out])
    return g


def same_results(a: ir.Graph, b: ir.Graph, *arrays) -> None:
    with np.errstate(all="ignore"):
        for x, y in zip(run_graph(a, list(arrays)), run_graph(b, list(arrays))):
            assert same_array(x, y), (x, y)


def ops(g: ir.Graph) -> list[str]:
    return [n.op for n in g.nodes]


@pytest.mark.parametrize("build, expected_ops", [
    (lambda b, x: b.mul(x, b.const(1.0, F32)), []),
    (lambda b, x: b.div(x, b.const(1.0, F32)), []),
    (lambda b, x: b.sub(x, b.const(0.0, F32)), []),
    (lambda b, x: b.add(x, b.const(-0.0, F32)), []),
    (lambda b, x: b.add(x, b.const(0.0, F32)), ["add"]),  # -0.0 + 0.0 is 0.0: kept
    (lambda b, x: b.mul(x, b.const(0.0, F32)), ["mul"]),  # inf * 0 is NaN: kept
    (lambda b, x: b.pow(x, b.const(1.0, F32)), []),
    (lambda b, x: b.maximum(x, b.const(-np.inf, F32)), []),
    (lambda b, x: b.neg(b.neg(x)), []),
    (lambda b, x: b.abs(b.abs(x)), ["abs"]),
    (lambda b, x: b.relu(b.relu(x)), ["relu"]),
    (lambda b, x: b.maximum(x, x), []),
    (lambda b, x: b.where(b.gt(x, b.const(0.0, F32)), x, x), []),
    (lambda b, x: b.cast(x, dtype=F32), []),
    (lambda b, x: b.stop_gradient(x), []),
    (lambda b, x: b.reshape(b.reshape(x, shape=(7, 1)), shape=(1, 7)), ["reshape"]),
    (lambda b, x: b.reshape(x, shape=(7,)), []),
    (lambda b, x: b.add(x, b.broadcast_to(b.const(2.0, F32), shape=(7,))), ["add"]),
    (lambda b, x: b.mul(x, b.full(shape=(7,), dtype=F32, value=3.0)), ["mul"]),
    (lambda b, x: b.where(b.const(np.ones(7, bool), "bool"), x, b.neg(x)), []),
])
def test_simplify_rules_keep_values_bit_for_bit(build, expected_ops):
    g = graph_of(build, ((7,), F32))
    after = simplify(g)
    after.verify()
    assert ops(after) == expected_ops
    same_results(g, after, SPECIAL)


def test_integer_multiplication_by_zero_folds_but_float_does_not():
    g = graph_of(lambda b, x: b.mul(x, b.const(0, "int64")), ((3,), "int64"))
    assert ops(simplify(g)) == ["full"]
    same_results(g, simplify(g), np.array([1, -5, 7]))


def test_permute_of_permute_composes_and_cancels():
    g = graph_of(lambda b, x: [b.permute(b.permute(x, perm=(1, 2, 0)), perm=(2, 0, 1)),
                               b.permute(b.permute(x, perm=(1, 0, 2)), perm=(0, 2, 1))],
                 ((2, 3, 4), F32))
    after = simplify(g)
    assert [n.attrs.get("perm") for n in after.nodes] == [(1, 2, 0)]
    assert after.outputs[0] is after.inputs[0]
    same_results(g, after, np.arange(24, dtype=F32).reshape(2, 3, 4))


def test_reshape_of_a_keepdims_sum_becomes_a_plain_sum():
    g = graph_of(lambda b, x: b.reshape(b.sum(x, axes=(0,), keepdims=True), shape=(3,)),
                 ((4, 3), F32))
    after = simplify(g)
    assert ops(after) == ["sum"] and after.nodes[0].attrs["keepdims"] is False


def test_fold_evaluates_constant_subgraphs_with_the_op_kernels():
    g = graph_of(lambda b, x: b.add(x, b.div(b.const(1.0, F32), b.const(64.0, F32))), ((2,), F32))
    after = fold_constants(g)
    assert ops(after) == ["add"]
    (c,) = [v for v in after.nodes[0].inputs if v.kind == ir.CONST]
    assert c.data == np.float32(1.0) / np.float32(64.0)


def test_fold_leaves_random_ops_and_big_results_alone():
    def build(b, x):
        key = b.const(7, "int64")
        return [b.mul(x, b.random_mask(key, shape=(3,), p=0.5, dtype=F32)),
                b.add(b.full(shape=(100,), dtype=F32, value=1.0), b.const(1.0, F32))]

    after = fold_constants(graph_of(build, ((3,), F32)))
    assert "random_mask" in ops(after) and "full" in ops(after)


def test_freeze_makes_parameters_constants_and_fold_sees_through_them():
    g = ir.Graph("frozen")
    x = g.add_input("x", ir.TensorType((2, 3), F32))
    w = g.add_param("w", ir.TensorType((4, 3), F32))
    b = ir.Builder(g)
    g.set_outputs([b.matmul(x, b.permute(w, perm=(1, 0)))])
    weights = np.arange(12, dtype=F32).reshape(4, 3)
    frozen = fold_constants(freeze_params(g, {"w": weights}))
    assert not frozen.params and ops(frozen) == ["matmul"]
    xs = np.ones((2, 3), F32)
    np.testing.assert_array_equal(run_graph(frozen, [xs])[0], xs @ weights.T)


def test_cse_merges_repeats_and_interns_constants_but_tells_signed_zeros_apart():
    def build(b, x):
        lr = b.cast(x, dtype="float64")
        again = b.cast(x, dtype="float64")
        zero, zero2, minus = b.const(0.0, F32), b.const(0.0, F32), b.const(-0.0, F32)
        return [b.add(lr, again), b.mul(b.add(x, zero), b.add(x, zero2)), b.add(x, minus)]

    g = graph_of(build, ((), F32))
    after = eliminate_common_subexpressions(g)
    assert ops(after).count("cast") == 1 and ops(after).count("add") == 3
    assert len(after.constants) == 2  # 0.0 and -0.0
    same_results(g, after, np.float32(-0.0))


def test_cse_keeps_nodes_whose_attributes_differ_in_type():
    g = graph_of(lambda b, x: [b.full(shape=(2,), dtype="int64", value=1),
                               b.full(shape=(2,), dtype="int64", value=True)], ((), F32))
    assert len(eliminate_common_subexpressions(g).nodes) == 2


def test_layout_reads_transposes_through_gemm_flags():
    def build(b, x, w):
        y = b.matmul(x, b.permute(w, perm=(1, 0)))  # nn.Linear
        return b.permute(b.matmul(b.permute(x, perm=(1, 0)), y), perm=(1, 0))  # a weight grad

    g = graph_of(build, ((4, 3), F32), ((5, 3), F32))
    after = assign_layouts(g)
    assert ops(after) == ["matmul", "matmul"]
    assert [(n.attrs["trans_a"], n.attrs["trans_b"]) for n in after.nodes] == [
        (False, True), (True, False)]
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3)).astype(F32), rng.standard_normal((5, 3)).astype(F32)
    np.testing.assert_allclose(run_graph(after, [x, w])[0], run_graph(g, [x, w])[0], rtol=1e-6)


def test_layout_never_computes_a_product_twice():
    def build(b, x):
        p = b.matmul(x, x)
        return [p, b.permute(p, perm=(1, 0))]

    after = assign_layouts(graph_of(build, ((3, 3), F32)))
    assert ops(after).count("matmul") == 1
