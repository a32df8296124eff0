"""Symbolic autodiff: finite differences for every differentiable op, composites, split, meta."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cube_function_body

from ir import Builder, Graph, GraphError, TensorType
from ir.ops.registry import NONDIFFERENTIABLE, OPS
from passes.autodiff import differentiate
from runtime import run_graph

F64 = "float64"


# -- helpers ---------------------------------------------------------------------------------------
def shape(rng, min_rank=1, max_rank=3):
    return tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(min_rank, max_rank + 1))))


def broadcast_pair(rng):
    rank = int(rng.integers(0, 4))
    full = [int(d) for d in rng.integers(1, 4, size=rank)]
    out = []
    for _ in range(2):
        drop = int(rng.integers(0, rank + 1))
        out.append(tuple(1 if rng.random() < 0.3 else d for d in full[drop:]))
    return out


def normal(rng, s):
    return rng.standard_normal(s)


def positive(rng, s):
    return rng.random(s) + 0.5


def away_from_zero(rng, s):
    x = rng.standard_normal(s)
    return np.sign(x) * (np.abs(x) + 0.1)


def scalar_loss_graph(op, inputs, attrs, rng):
    """Graph: x0..xn -> sum over outputs of sum(cast(out, f64) * r) with fixed random weights r."""
    g = Graph(op)
    values = [g.add_input(f"x{i}", TensorType.of(a)) for i, a in enumerate(inputs)]
    b = Builder(g)
    outs = b.emit(op, *values, **attrs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = None
    for out in outs:
        out = out if out.dtype == F64 else b.cast(out, dtype=F64)
        term = b.sum(b.mul(out, b.const(rng.standard_normal(out.shape), F64)), axes=None)
        loss = term if loss is None else b.add(loss, term)
    g.set_outputs([loss])
    return g


def numeric_grad(graph, inputs, index, eps):
    x = inputs[index]
    grad = np.zeros(x.shape)
    for pos in np.ndindex(x.shape):
        values = []
        for sign in (1, -1):
            moved = x.copy()
            moved[pos] += sign * eps
            args = [moved if i == index else a for i, a in enumerate(inputs)]
            values.append(float(run_graph(graph, args)[0]))
        grad[pos] = (values[0] - values[1]) / (2 * eps)
    return grad


def check_gradients(graph, inputs, eps=1e-6, rtol=1e-6, atol=1e-7):
    wrt = [v.name for v in graph.inputs if v.dtype == F64]
    result = differentiate(graph, wrt=wrt)
    result.joint.verify(), result.forward.verify(), result.backward.verify()
    grads = run_graph(result.joint, inputs)[1:]
    assert len(grads) == len(wrt)
    for name, grad in zip(wrt, grads):
        index = [v.name for v in graph.inputs].index(name)
        np.testing.assert_allclose(
            grad,
            numeric_grad(graph, inputs, index, eps),
            rtol=rtol,
            atol=atol,
            err_msg=f"gradient of {name} in graph {graph.name}",
        )
    return result


# -- gradient cases: op -> (rng) -> (inputs, attrs[, check options]) -------------------------------
GRAD_CASES = {}


def grad_case(*names):
    def register(fn):
        for name in names:
            GRAD_CASES[name] = lambda rng, name=name: fn(rng, name)
        return fn

    return register


def unit(rng, s):
    return rng.uniform(-0.9, 0.9, s)


def above_one(rng, s):
    return rng.random(s) * 2 + 1.1


def off_integers(rng, s):
    """Values at least 0.1 from an integer and from a half: rounding is locally constant."""
    return rng.integers(-5, 5, size=s) + rng.choice([0.2, 0.3, 0.7, 0.8], size=s)


UNARY_DOMAIN = {"log": positive, "sqrt": positive, "abs": away_from_zero, "log2": positive,
                "log10": positive, "log1p": positive, "asin": unit, "acos": unit, "atanh": unit,
                "erfinv": unit, "acosh": above_one, "floor": off_integers, "ceil": off_integers,
                "trunc": off_integers, "round": off_integers}


@grad_case("neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "erf", "relu",
           "sign", "log2", "log10", "log1p", "exp2", "expm1", "tan", "asin", "acos", "atan",
           "sinh", "cosh", "asinh", "acosh", "atanh", "erfinv", "floor", "ceil", "trunc", "round",
           "erfc")
def _unary(rng, name):
    # relu and sign are not differentiable at 0: keep finite differences away from it.
    make = away_from_zero if name in ("relu", "sign") else UNARY_DOMAIN.get(name, normal)
    return [make(rng, shape(rng, 0))], {}


@grad_case("add", "sub", "mul", "div", "pow", "maximum", "minimum")
def _binary(rng, name):
    sx, sy = broadcast_pair(rng)
    x = (positive if name == "pow" else normal)(rng, sx)
    y = (positive if name == "div" else normal)(rng, sy)
    return [x, y], {}


@grad_case("atan2", "hypot", "copysign")
def _two_argument(rng, name):
    # Away from the origin (atan2's and hypot's singular point) and from x = 0 (copysign's kink).
    sx, sy = broadcast_pair(rng)
    return [away_from_zero(rng, sx), away_from_zero(rng, sy)], {}


@grad_case("floor_divide", "fmod", "remainder")
def _division(rng, name):
    # Random quotients land within eps of a jump with negligible probability.
    sx, sy = broadcast_pair(rng)
    return [3 * normal(rng, sx), away_from_zero(rng, sy)], {}


@grad_case("where")
def _where(rng, name):
    sx, sy = broadcast_pair(rng)
    return [rng.random(sx) < 0.5, normal(rng, sx), normal(rng, sy)], {}


@grad_case("clamp")
def _clamp(rng, name):
    # Bounds of every shape that broadcasts, kept 0.1 away from x so no tie sits within eps.
    sx, sb = broadcast_pair(rng)
    x = normal(rng, sx)
    low = np.full(sb, -0.5) if rng.random() < 0.5 else normal(rng, sb) - 0.3
    high = low + 0.6 + rng.random(sb)
    gap = np.minimum(np.abs(x - low), np.abs(x - high))
    return [np.where(gap < 0.1, x + 0.25, x), low, high], {}


@grad_case("cast")
def _cast(rng, name):
    # Through float32 and back: rounding needs a wider step and tolerance.
    return (
        [normal(rng, shape(rng))],
        {"dtype": "float32"},
        {"eps": 1e-2, "rtol": 1e-5, "atol": 1e-5},
    )


@grad_case("sum", "max", "min")
def _reduce(rng, name):
    x = normal(rng, shape(rng))
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(x.ndim) < 0.5))
    return [x], {"axes": None if rng.random() < 0.2 else axes, "keepdims": bool(rng.integers(2))}


@grad_case("prod")
def _prod(rng, name):
    x = normal(rng, shape(rng))
    if rng.random() < 0.5:  # zeros: one, or two in a row, must not poison the gradient
        x.flat[: int(rng.integers(1, 3))] = 0.0
    axes = None if rng.random() < 0.3 else (int(rng.integers(x.ndim)),)
    return [x], {"axes": axes, "keepdims": bool(rng.integers(2))}


@grad_case("cumsum", "cumprod", "cummax", "cummin", "sort", "flip")
def _along_axis(rng, name):
    x = normal(rng, shape(rng))
    axis = int(rng.integers(-x.ndim, x.ndim))
    if name == "cumprod" and rng.random() < 0.7:
        x.flat[int(rng.integers(x.size))] = 0.0
        x.flat[int(rng.integers(x.size))] = 0.0
    if name == "flip":
        return [x], {"axes": (axis,)}
    return [x], {"axis": axis, **({"descending": bool(rng.integers(2))} if name == "sort" else {})}


def matmul_case(rng):
    """Operands of matmul with random transpose flags (stored transposed when flagged)."""
    ba, bb = broadcast_pair(rng)
    ba, bb = ba[-2:], bb[-2:]
    m, k, n = (int(d) for d in rng.integers(1, 4, size=3))
    flags = {"trans_a": bool(rng.integers(2)), "trans_b": bool(rng.integers(2))}
    a = normal(rng, (*ba, k, m) if flags["trans_a"] else (*ba, m, k))
    b = normal(rng, (*bb, n, k) if flags["trans_b"] else (*bb, k, n))
    return a, b, flags


@grad_case("matmul")
def _matmul(rng, name):
    a, b, flags = matmul_case(rng)
    return [a, b], flags


@grad_case("gemm")
def _gemm(rng, name):
    a, b, flags = matmul_case(rng)
    n = b.shape[-2] if flags["trans_b"] else b.shape[-1]
    return [a, b, normal(rng, (n,)), np.asarray(-0.7), np.asarray(0.9)], flags


@grad_case("fused")
def _fused(rng, name):
    body = Graph("body")
    x = body.add_input("x", TensorType((3, 4), F64))
    y = body.add_input("y", TensorType((4,), F64))
    b = Builder(body)
    s = b.mul(x, y)
    body.set_outputs([b.tanh(s), b.sum(b.exp(s), axes=(0,))])
    return [normal(rng, (3, 4)), normal(rng, (4,))], {"body": body}


@grad_case("custom")
def _custom(rng, name):
    x = normal(rng, shape(rng))
    return [x], cube_function_body(F64, x.shape)[1]


@grad_case("reshape")
def _reshape(rng, name):
    x = normal(rng, shape(rng))
    return [x], {"shape": (-1, x.shape[0])}


@grad_case("permute")
def _permute(rng, name):
    x = normal(rng, shape(rng))
    return [x], {"perm": tuple(int(i) for i in rng.permutation(x.ndim))}


@grad_case("broadcast_to")
def _broadcast_to(rng, name):
    sx, _ = broadcast_pair(rng)
    return [normal(rng, sx)], {"shape": (2, *(d if d != 1 else 3 for d in sx))}


def region(rng, s, unit_steps):
    return {
        "starts": tuple(int(rng.integers(-n, n)) for n in s),
        "stops": tuple(int(rng.integers(0, n + 2)) for n in s),
        "steps": tuple(1 if unit_steps else int(rng.integers(1, 3)) for _ in s),
    }


@grad_case("slice")
def _slice(rng, name):
    x = normal(rng, shape(rng))
    return [x], region(rng, x.shape, unit_steps=rng.random() < 0.5)


@grad_case("slice_scatter")
def _slice_scatter(rng, name):
    base = normal(rng, shape(rng))
    attrs = region(rng, base.shape, unit_steps=False)
    src_shape = base[tuple(slice(*r) for r in zip(*attrs.values()))].shape
    return [base, normal(rng, src_shape)], attrs


@grad_case("concat")
def _concat(rng, name):
    s = list(shape(rng))
    axis = int(rng.integers(len(s)))
    parts = []
    for _ in range(3):
        s[axis] = int(rng.integers(1, 3))
        parts.append(normal(rng, tuple(s)))
    return parts, {"axis": axis}


@grad_case("split")
def _split(rng, name):
    x = normal(rng, (5, *shape(rng, 0, 2)))
    return [x], {"sizes": (2, 0, 3), "axis": 0}


@grad_case("pad")
def _pad(rng, name):
    x = normal(rng, shape(rng))
    return [x], {
        "pads": tuple((int(rng.integers(2)), int(rng.integers(2))) for _ in x.shape),
        "value": 2.0,
    }


def along(rng, s, unique=False):
    """An axis and indices along it; smaller than `s` off the axis, distinct along it if asked."""
    axis = int(rng.integers(len(s)))
    idx_shape = tuple(int(rng.integers(1, 4)) if i == axis else int(rng.integers(1, d + 1))
                      for i, d in enumerate(s))
    if unique:
        n = s[axis]
        idx_shape = tuple(min(d, n) if i == axis else d for i, d in enumerate(idx_shape))
        order = np.argsort(rng.random((*idx_shape[:axis], n, *idx_shape[axis + 1:])), axis=axis)
        return axis, np.take(order, np.arange(idx_shape[axis]), axis=axis)
    return axis, rng.integers(-s[axis], s[axis], size=idx_shape)


@grad_case("gather")
def _gather(rng, name):
    x = normal(rng, shape(rng))
    axis, idx = along(rng, x.shape)
    return [x, idx], {"axis": axis}


@grad_case("scatter_add", "scatter", "scatter_reduce")
def _scatter_add(rng, name):
    base = normal(rng, shape(rng))
    axis, idx = along(rng, base.shape, unique=name == "scatter")
    attrs = {"axis": axis, **({"reduce": str(rng.choice(["amax", "amin"]))}
                              if name == "scatter_reduce" else {})}
    return [base, idx, normal(rng, idx.shape)], attrs


@grad_case("take", "index_add")
def _take(rng, name):
    x = normal(rng, shape(rng, 1, 2))
    axis = int(rng.integers(x.ndim))
    idx = rng.integers(0, x.shape[axis], size=(2, 2))  # repeats: gradients must accumulate
    if name == "take":
        return [x, idx], {"axis": axis}
    return [x, idx, normal(rng, np.take(x, idx, axis=axis).shape)], {"axis": axis}


CONV = {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2}


@grad_case("conv2d")
def _conv2d(rng, name):
    return [normal(rng, (2, 4, 5, 6)), normal(rng, (6, 2, 3, 2))], CONV


@grad_case("conv2d_grad_input")
def _conv2d_grad_input(rng, name):
    # conv2d of (2, 4, 5, 6) by (6, 2, 3, 2) with CONV gives (2, 6, 3, 4)
    return [normal(rng, (2, 6, 3, 4)), normal(rng, (6, 2, 3, 2))], {**CONV, "input_hw": (5, 6)}


@grad_case("conv2d_grad_weight")
def _conv2d_grad_weight(rng, name):
    return [normal(rng, (2, 4, 5, 6)), normal(rng, (2, 6, 3, 4))], {**CONV, "kernel_hw": (3, 2)}


def pool_attrs(rng, name):
    attrs = {"kernel": (3, 2), "stride": None if rng.random() < 0.5 else (2, 2),
             "padding": (1, 1), "ceil_mode": True}
    if name.startswith("max"):
        return {**attrs, "dilation": (1, 1)}
    return {**attrs, "count_include_pad": bool(rng.random() < 0.5), "divisor_override": None}


@grad_case("max_pool2d", "avg_pool2d")
def _pool(rng, name):
    return [normal(rng, (2, 2, 5, 4))], pool_attrs(rng, name)


@grad_case("max_pool2d_grad")
def _max_pool_grad(rng, name):
    # Linear in g; x (distinct values, so the maxima stay put) and out carry no gradient.
    attrs = pool_attrs(rng, "max")
    x = rng.permutation(40).reshape(2, 2, 5, 2).astype(F64) / 7
    out = OPS["max_pool2d"].impl(np, x, **attrs)
    return [normal(rng, out.shape), x, out], attrs


@grad_case("avg_pool2d_grad")
def _avg_pool_grad(rng, name):
    attrs = pool_attrs(rng, name)
    out = OPS["avg_pool2d"].shape(TensorType((2, 2, 5, 4), F64), **attrs)
    return [normal(rng, out.shape)], {**attrs, "input_hw": (5, 4)}


@grad_case("adaptive_max_pool2d")
def _adaptive_max_pool(rng, name):
    return [normal(rng, (2, 2, 5, 7))], {"output_size": (3, 4)}


@grad_case("all_reduce", "all_reduce_start", "all_reduce_wait")
def _collective(rng, name):
    # Alone, a reduction is the identity; its rule must say so (the MPI tests check N processes).
    return [normal(rng, shape(rng))], {"reduce": "avg"} if name != "all_reduce_wait" else {}


# -- per-op checks ---------------------------------------------------------------------------------
def test_every_differentiable_op_has_a_gradient_case():
    differentiable = {name for name, op in OPS.items() if not op.has(NONDIFFERENTIABLE)}
    missing = sorted(differentiable - set(GRAD_CASES))
    assert not missing, f"differentiable ops without a gradient case: {missing}"


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("op", sorted(GRAD_CASES))
def test_gradient_matches_finite_differences(op, seed):
    rng = np.random.default_rng([seed, sorted(GRAD_CASES).index(op)])
    inputs, attrs, *options = GRAD_CASES[op](rng)
    inputs = [np.asarray(a) for a in inputs]
    check_gradients(
        scalar_loss_graph(op, inputs, attrs, rng), inputs, **(options[0] if options else {})
    )


# -- composite graphs ------------------------------------------------------------------------------
def mlp(batch=4, hidden=5, classes=3):
    """x -> tanh(x @ w1 + b1) @ w2 + b2 -> cross entropy on int64 labels y; w1 is read twice."""
    g = Graph("mlp")
    x = g.add_input("x", TensorType((batch, 3), F64))
    y = g.add_input("y", TensorType((batch, 1), "int64"))
    w1 = g.add_param("w1", TensorType((3, hidden), F64))
    b1 = g.add_param("b1", TensorType((hidden,), F64))
    w2 = g.add_param("w2", TensorType((hidden, classes), F64))
    b2 = g.add_param("b2", TensorType((1, classes), F64))
    b = Builder(g, loc="model.py:10", scope="net.0")
    h = b.tanh(b.add(b.matmul(x, w1), b1))
    with b.meta(loc="model.py:11", scope="net.1"):
        logits = b.add(b.matmul(h, w2), b2)
    with b.meta(loc="model.py:12", scope=""):
        top = b.stop_gradient(b.max(logits, axes=(1,), keepdims=True))
        shifted = b.sub(logits, top)
        lse = b.log(b.sum(b.exp(shifted), axes=(1,), keepdims=True))
        picked = b.gather(b.sub(shifted, lse), y, axis=1)
        reg = b.sum(b.mul(w1, w1), axes=None)  # w1 read a second time
        n = b.const(-1.0 / batch, F64)
        loss = b.add(b.mul(b.sum(picked, axes=None), n), b.mul(reg, b.const(0.01, F64)))
    g.set_outputs([loss, logits])
    return g


def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((4, 3)), rng.integers(0, 3, size=(4, 1))]
    params = {
        "w1": rng.standard_normal((3, 5)),
        "b1": rng.standard_normal(5),
        "w2": rng.standard_normal((5, 3)),
        "b2": rng.standard_normal((1, 3)),
    }
    return inputs, params


def test_composite_graph_matches_finite_differences():
    g = mlp()
    inputs, params = mlp_data()
    result = differentiate(g, wrt=["w1", "b1", "w2", "b2", "x"])
    grads = dict(zip(result.wrt, run_graph(result.joint, inputs, params)[2:]))
    for name, grad in grads.items():
        base = params[name] if name in params else inputs[0]
        numeric = np.zeros(base.shape)
        for pos in np.ndindex(base.shape):
            vals = []
            for sign in (1, -1):
                moved = base.copy()
                moved[pos] += sign * 1e-6
                p = {**params, name: moved} if name in params else params
                x = moved if name == "x" else inputs[0]
                vals.append(float(run_graph(g, [x, inputs[1]], p)[0]))
            numeric[pos] = (vals[0] - vals[1]) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_default_wrt_is_float_params_and_data_gradient_is_not_computed():
    g = mlp()
    result = differentiate(g)
    assert result.wrt == ["w1", "b1", "w2", "b2"]
    x = g.inputs[0]
    # Nothing computes a value of x's shape from w1 (the x-gradient matmul): DCE removed it.
    backward_matmuls = [n for n in result.backward.nodes if n.op == "matmul"]
    assert all(n.out.shape != x.shape for n in backward_matmuls)
    assert "y" not in result.saved or g.inputs[1].dtype == "int64"


def test_values_used_several_times_get_summed_gradients():
    g = Graph()
    x = g.add_input("x", TensorType((3,), F64))
    b = Builder(g)
    y = b.add(b.mul(x, x), b.mul(x, b.const(2.0, F64)))  # x read three times
    g.set_outputs([b.sum(b.mul(y, b.sin(x)), axes=None)])
    xv = np.array([0.3, -1.2, 2.0])
    result = differentiate(g, wrt=["x"])
    (grad,) = run_graph(result.joint, [xv])[1:]
    expected = (2 * xv + 2) * np.sin(xv) + (xv**2 + 2 * xv) * np.cos(xv)
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    x = result.joint.inputs[0]
    sums = [n for n in result.joint.nodes if n.op == "add" and n.meta.get("grad_of") is x]
    assert sums, "the contributions to x's gradient are summed by add nodes tagged grad_of='x'"


def test_no_gradient_into_integer_values():
    g = Graph()
    idx = g.add_input("idx", TensorType((4,), "int64"))
    table = g.add_param("table", TensorType((5, 2), F64))
    b = Builder(g)
    rows = b.take(table, idx, axis=0)
    scaled = b.mul(rows, b.cast(b.reshape(idx, shape=(4, 1)), dtype=F64))
    g.set_outputs([b.sum(scaled, axes=None)])
    result = differentiate(g)
    assert result.wrt == ["table"]
    assert all(
        v.dtype != "int64"
        for n in result.backward.nodes
        if n.op != "reshape"
        for v in n.outputs
        if n.op == "cast"
    )
    idx_v = np.array([0, 3, 3, 1])
    (grad,) = run_graph(result.joint, [idx_v], {"table": np.ones((5, 2))})[1:]
    expected = np.zeros((5, 2))
    np.add.at(expected, idx_v, idx_v[:, None] * np.ones((4, 2)))
    np.testing.assert_array_equal(grad, expected)
    with pytest.raises(GraphError, match="only float values have gradients"):
        differentiate(g, wrt=["idx"])


def test_unreachable_wrt_is_reported_and_gets_zeros():
    g = Graph()
    x = g.add_input("x", TensorType((3,), F64))
    g.add_param("unused", TensorType((2, 2), F64))
    through_argmax = g.add_param("p", TensorType((3,), F64))
    b = Builder(g)
    arg = b.cast(b.argmax(through_argmax, axis=0), dtype=F64)
    g.set_outputs([b.add(b.sum(b.mul(x, x), axes=None), arg)])
    result = differentiate(g, wrt=["x", "unused", "p"])
    assert result.unreachable == ["unused", "p"]
    _, gx, gu, gp = run_graph(
        result.joint, [np.arange(3.0)], {"unused": np.ones((2, 2)), "p": np.ones(3)}
    )
    np.testing.assert_array_equal(gx, 2 * np.arange(3.0))
    np.testing.assert_array_equal(gu, np.zeros((2, 2)))
    np.testing.assert_array_equal(gp, np.zeros(3))
    with pytest.raises(GraphError, match="not an input or parameter"):
        differentiate(g, wrt=["nope"])


def test_first_output_must_be_a_float_scalar_unless_seeded():
    g = Graph()
    x = g.add_input("x", TensorType((3,), F64))
    g.set_outputs([Builder(g).exp(x)])
    with pytest.raises(GraphError, match="float scalar"):
        differentiate(g, wrt=["x"])


# -- the forward/backward split --------------------------------------------------------------------
def test_forward_then_backward_recomputes_the_joint_result():
    g = mlp()
    inputs, params = mlp_data(1)
    result = differentiate(g)
    joint = run_graph(result.joint, inputs, params)
    forward = run_graph(result.forward, inputs, params)
    assert [v.name for v in result.forward.outputs[2:]] == result.saved
    assert result.forward.meta["saved"] == result.forward.outputs[2:]
    assert [v.name for v in result.backward.inputs] == result.saved
    assert result.backward.meta["saved"] == result.backward.inputs
    assert [v.name for v in result.joint.meta["saved"]] == result.saved
    backward = run_graph(result.backward, forward[2:])
    for got, expected in zip(forward[:2] + backward, joint):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert "x" in result.saved  # the w1 gradient needs the data
    assert all(n.meta["phase"] == "forward" for n in result.forward.nodes)
    assert all(n.meta["phase"] == "backward" for n in result.backward.nodes)


def test_seeded_outputs_take_their_gradient_as_backward_inputs():
    g = mlp()
    inputs, params = mlp_data(2)
    result = differentiate(g, wrt=["w2", "x"], seed_outputs=True)
    seeds = [v.name for v in result.backward.inputs[len(result.saved) :]]
    assert seeds == ["grad_" + v.name for v in g.outputs]
    rng = np.random.default_rng(3)
    g_loss, g_logits = np.array(0.5), rng.standard_normal((4, 3))
    forward = run_graph(result.forward, inputs, params)
    grads = run_graph(result.backward, [*forward[2:], g_loss, g_logits])
    joint = run_graph(result.joint, [*inputs, g_loss, g_logits], params)
    for got, expected in zip(grads, joint[2:]):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    # Linear in the seeds: equal to the gradient of 0.5 * loss + <g_logits, logits>.
    h = Graph()
    values = {v: h.add_input(v.name, v.type) for v in g.inputs}
    values |= {v: h.add_param(v.name, v.type) for v in g.params}
    b = Builder(h)
    for c in g.constants:
        values[c] = h.add_constant(c.data, c.name)
    for node in g.nodes:
        out = b.emit(node.op, *(values[v] for v in node.inputs), **node.attrs)
        values.update(zip(node.outputs, out if isinstance(out, tuple) else (out,)))
    loss, logits = (values[v] for v in g.outputs)
    total = b.add(
        b.mul(loss, b.const(0.5, F64)), b.sum(b.mul(logits, b.const(g_logits, F64)), axes=None)
    )
    h.set_outputs([total])
    reference = run_graph(differentiate(h, wrt=["w2", "x"]).joint, inputs, params)[1:]
    for got, expected in zip(grads, reference):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_backward_nodes_carry_phase_grad_of_and_source():
    g = mlp()
    result = differentiate(g)
    forward_values = {v for v in result.joint.values() if v.kind != "node"}
    forward_values |= {
        v for n in result.joint.nodes if n.meta["phase"] == "forward" for v in n.outputs
    }
    backward = [n for n in result.joint.nodes if n.meta["phase"] == "backward"]
    assert backward and all(n.meta["phase"] in ("forward", "backward") for n in result.joint.nodes)
    for node in backward:
        assert node.meta["grad_of"] in forward_values
    tanh_grads = [
        n
        for n in backward
        if n.meta["grad_of"] in {v for m in result.joint.nodes if m.op == "tanh" for v in m.outputs}
    ]
    assert tanh_grads and all(
        n.meta["loc"] == "model.py:10" and n.meta["scope"] == "net.0" for n in tanh_grads
    )
    assert [n.meta.get("phase") for n in g.nodes] == [None] * len(g.nodes), "input graph untouched"


def test_gradient_of_a_gradient():
    # Second order through conv2d: the gradient ops differentiate too.
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 5, 5), F64))
    w = g.add_input("w", TensorType((2, 2, 3, 3), F64))
    b = Builder(g)
    y = b.conv2d(x, w, padding=(1, 1))
    g.set_outputs([b.sum(b.mul(y, y), axes=None)])
    first = differentiate(g, wrt=["x"]).joint
    gx = first.outputs[1]
    b2 = Builder(first)
    first.set_outputs([b2.sum(b2.mul(gx, b2.sin(gx)), axes=None)])
    rng = np.random.default_rng(0)
    check_gradients(
        first,
        [rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3))],
        rtol=1e-5,
        atol=1e-6,
    )


# -- against PyTorch -------------------------------------------------------------------------------
def torch_grads(fn, arrays, weight):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=a.dtype == np.float64) for a in arrays]
    (fn(torch.nn.functional, *tensors) * torch.tensor(weight)).sum().backward()
    return [t.grad.numpy() for t in tensors if t.requires_grad]


def our_grads(op, arrays, weight, **attrs):
    g = Graph(op)
    values = [g.add_input(f"x{i}", TensorType.of(a)) for i, a in enumerate(arrays)]
    b = Builder(g)
    out = b.emit(op, *values, **attrs)
    g.set_outputs([b.sum(b.mul(out, b.const(weight, F64)), axes=None)])
    wrt = [v.name for v in values if v.dtype == F64]
    return run_graph(differentiate(g, wrt=wrt).joint, arrays)[1:]


def pool_input(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    x[0, 0, :2, :2] = 0.0  # ties: both must pick the first maximum
    return [x]


# op -> (make inputs, our attrs, the same op in torch.nn.functional, output shape)
TORCH_CASES = {
    "conv2d": (
        lambda rng: [rng.standard_normal((2, 3, 8, 7)), rng.standard_normal((4, 3, 3, 3))],
        {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)},
        lambda F, x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        (2, 4, 4, 7),
    ),
    "max_pool2d": (
        pool_input,
        {"kernel": (3, 2), "stride": (2, 2), "padding": (1, 1)},
        lambda F, x: F.max_pool2d(x, (3, 2), (2, 2), (1, 1)),
        (2, 3, 4, 4),
    ),
    "matmul": (
        lambda rng: [rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))],
        {},
        lambda F, a, b: a @ b,
        (2, 5, 3, 2),
    ),
    "take": (
        lambda rng: [rng.standard_normal((6, 3)), np.array([[1, 4], [4, 0], [5, 1]])],
        {"axis": 0},
        lambda F, table, idx: F.embedding(idx, table),
        (3, 2, 3),
    ),
}


@pytest.mark.parametrize("op", sorted(TORCH_CASES))
def test_gradients_match_torch(op):
    pytest.importorskip("torch")
    make, attrs, torch_fn, out_shape = TORCH_CASES[op]
    rng = np.random.default_rng(7)
    arrays, weight = make(rng), rng.standard_normal(out_shape)
    expected = torch_grads(torch_fn, arrays, weight)
    got = our_grads(op, arrays, weight, **attrs)
    assert len(got) == len(expected)
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)
