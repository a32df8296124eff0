"""Forward checks for every op in the registry: the reference kernel against plain NumPy.

Each case builds random operands (shapes that exercise broadcasting), runs the op as a one-node
graph through the reference interpreter and compares with a NumPy reference, in float32 and float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.special
from conftest import cube_function_body

import ir
from ir import Graph, ShapeError, TensorType
from ir.ops.registry import OPS
from runtime import run_graph

SEEDS = range(3)
FLOATS = ("float32", "float64")


# -- helpers ---------------------------------------------------------------------------------------
def run_op(op: str, inputs, **attrs):
    """Run `op` on `inputs` as a one-node graph; check the results' types against the shape rule."""
    g = Graph(op)
    values = [g.add_input(f"x{i}", TensorType.of(np.asarray(a))) for i, a in enumerate(inputs)]
    node = g.add_node(op, values, attrs)
    g.set_outputs(node.outputs)
    arrays = [np.asarray(a) for a in inputs]
    results = run_graph(g, arrays, {})
    for value, array in zip(node.outputs, results):
        assert tuple(array.shape) == value.shape, f"{op}: shape {array.shape} != rule {value.type}"
        assert np.dtype(array.dtype) == value.type.np_dtype, (
            f"{op}: dtype {array.dtype} != {value.type}"
        )
    check_write_kernel(node, arrays, results)
    return results if len(results) > 1 else results[0]


def check_write_kernel(node, arrays, expected):
    """The op's `write` kernel gives exactly what its reference kernel gives: into fresh
    buffers, and in place on each input it may overwrite."""
    opdef = OPS[node.op]
    if opdef.write is None:
        return
    scratch_types = opdef.scratch(*(v.type for v in node.inputs), **node.attrs) \
        if opdef.scratch else None
    for scratch in ([None, tuple(np.empty(t.shape, t.np_dtype) for t in scratch_types)]
                    if scratch_types else [None]):
        extra = {} if scratch is None else {"scratch": scratch}
        outs = [np.empty(v.shape, v.type.np_dtype) for v in node.outputs]
        opdef.write(np, outs[0] if len(outs) == 1 else tuple(outs), *arrays, **node.attrs, **extra)
        for out, ref in zip(outs, expected):
            assert ir.compare.same_array(out, ref), f"{node.op}: write kernel differs from impl"
        for k in opdef.inplace:
            if TensorType.of(arrays[k]) != node.outputs[0].type:
                continue
            operands = [a.copy() for a in arrays]
            opdef.write(np, operands[k], *operands, **node.attrs, **extra)
            assert ir.compare.same_array(operands[k], expected[0]), (
                f"{node.op}: in-place write on input {k} differs from impl"
            )


def broadcast_shapes(rng, n=2, max_rank=3):
    """`n` shapes that broadcast together: a full shape, leading axes dropped, some dims 1."""
    rank = int(rng.integers(0, max_rank + 1))
    full = [int(d) for d in rng.integers(1, 5, size=rank)]
    shapes = []
    for _ in range(n):
        drop = int(rng.integers(0, rank + 1))
        shapes.append(tuple(1 if rng.random() < 0.3 else d for d in full[drop:]))
    return shapes


def shape(rng, min_rank=1, max_rank=3):
    return tuple(int(d) for d in rng.integers(1, 5, size=int(rng.integers(min_rank, max_rank + 1))))


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def positive(rng, shape, dtype):
    return (rng.random(shape) + 0.5).astype(dtype)


def unit(rng, shape, dtype):
    """Inside (-1, 1): the domain of asin, acos, atanh, erfinv."""
    return rng.uniform(-0.9, 0.9, shape).astype(dtype)


def above_one(rng, shape, dtype):
    return (rng.random(shape) * 2 + 1.1).astype(dtype)


def halves(rng, shape, dtype):
    """Multiples of 0.5 and values near them: rounding ties and both sides of them."""
    near = rng.integers(-6, 7, size=shape) * 0.5 + rng.choice([0, 0.01, -0.01], shape)
    return near.astype(dtype)


def ints(rng, shape, dtype):
    """Small integer values: comparisons and extrema hit ties."""
    return rng.integers(-2, 3, size=shape).astype(dtype)


def close(actual, expected, dtype):
    tol = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-12, "atol": 1e-12}}
    np.testing.assert_allclose(actual, expected, **tol.get(str(dtype), {"rtol": 0, "atol": 0}))


# -- cases: op -> check(rng, dtype) ----------------------------------------------------------------
CASES = {}


def case(*names):
    def register(fn):
        for name in names:
            CASES[name] = lambda rng, dtype, name=name: fn(rng, dtype, name)
        return fn

    return register


UNARY = {
    "neg": (normal, np.negative),
    "abs": (normal, np.abs),
    "sign": (normal, np.sign),
    "exp": (normal, np.exp),
    "log": (positive, np.log),
    "sqrt": (positive, np.sqrt),
    "sin": (normal, np.sin),
    "cos": (normal, np.cos),
    "tanh": (normal, np.tanh),
    "sigmoid": (normal, lambda x: 1 / (1 + np.exp(-x))),
    "erf": (normal, scipy.special.erf),
    "stop_gradient": (normal, lambda x: x),
    "relu": (normal, lambda x: np.maximum(x, 0)),
    "log2": (positive, np.log2),
    "log10": (positive, np.log10),
    "log1p": (positive, np.log1p),
    "exp2": (normal, np.exp2),
    "expm1": (normal, np.expm1),
    "tan": (normal, np.tan),
    "asin": (unit, np.arcsin),
    "acos": (unit, np.arccos),
    "atan": (normal, np.arctan),
    "sinh": (normal, np.sinh),
    "cosh": (normal, np.cosh),
    "asinh": (normal, np.arcsinh),
    "acosh": (above_one, np.arccosh),
    "atanh": (unit, np.arctanh),
    "erfinv": (unit, scipy.special.erfinv),
    "erfc": (normal, scipy.special.erfc),
    "floor": (halves, np.floor),
    "ceil": (halves, np.ceil),
    "trunc": (halves, np.trunc),
    "round": (halves, np.round),
}


@case(*UNARY)
def _unary(rng, dtype, name):
    make, ref = UNARY[name]
    x = make(rng, shape(rng, 0), dtype)
    close(run_op(name, [x]), ref(x), dtype)


BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "floor_divide": np.floor_divide,
    "fmod": np.fmod,
    "remainder": np.remainder,
    "atan2": np.arctan2,
    "hypot": np.hypot,
    "copysign": np.copysign,
}


@case(*BINARY)
def _binary(rng, dtype, name):
    sx, sy = broadcast_shapes(rng)
    make_x = positive if name == "pow" else ints if name in ("eq", "ne", "le", "ge") else normal
    x, y = make_x(rng, sx, dtype), (positive if name == "div" else normal)(rng, sy, dtype)
    if name in ("floor_divide", "fmod", "remainder"):
        y = np.where(np.abs(y) < 0.1, 0.5, y)
    if name in ("eq", "ne", "le", "ge", "maximum"):
        y = ints(rng, sy, dtype)
    close(run_op(name, [x, y]), BINARY[name](x, y), dtype)


BITWISE = {
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "left_shift": np.left_shift,
    "right_shift": np.right_shift,
}
INT_OF = {"float32": "int32", "float64": "int64"}  # the integer dtype a float case runs in


@case(*BITWISE)
def _bitwise(rng, dtype, name):
    sx, sy = broadcast_shapes(rng)
    x = rng.integers(-100, 100, size=sx).astype(INT_OF[dtype])
    y = rng.integers(0, 9, size=sy).astype(INT_OF[dtype])
    np.testing.assert_array_equal(run_op(name, [x, y]), BITWISE[name](x, y))
    if not name.endswith("shift"):
        a, b = rng.random(sx) < 0.5, rng.random(sy) < 0.5
        np.testing.assert_array_equal(run_op(name, [a, b]), BITWISE[name](a, b))


@case("bitwise_not")
def _bitwise_not(rng, dtype, name):
    x = rng.integers(-100, 100, size=shape(rng, 0)).astype(INT_OF[dtype])
    np.testing.assert_array_equal(run_op(name, [x]), ~x)


@case("logical_not")
def _logical_not(rng, dtype, name):
    x = rng.random(shape(rng, 0)) < 0.5
    np.testing.assert_array_equal(run_op(name, [x]), ~x)


@case("where")
def _where(rng, dtype, name):
    sc, sx, sy = broadcast_shapes(rng, 3)
    cond, x, y = rng.random(sc) < 0.5, normal(rng, sx, dtype), normal(rng, sy, dtype)
    close(run_op("where", [cond, x, y]), np.where(cond, x, y), dtype)
    # a zero branch (the ReLU gradient) takes the bitwise path when scratch is given
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1.5, -2.0], dtype)
    mask, zero = rng.random(6) < 0.5, np.zeros((), dtype)
    for args in ((mask, special, zero), (mask, zero, special)):
        assert ir.compare.same_array(run_op("where", list(args)), np.where(*args))


@case("clamp")
def _clamp(rng, dtype, name):
    sx, sl, sh = broadcast_shapes(rng, 3)
    x, low = normal(rng, sx, dtype), normal(rng, sl, dtype)
    high = normal(rng, sh, dtype) + 1  # sometimes below low: the result is high there
    close(run_op("clamp", [x, low, high]), np.minimum(np.maximum(x, low), high), dtype)
    nan_inf = np.array([np.nan, np.inf, -np.inf, 0.5], dtype)
    bounds = np.asarray(-1, dtype), np.asarray(1, dtype)
    close(run_op("clamp", [nan_inf, *bounds]), np.array([np.nan, 1, -1, 0.5], dtype), dtype)


@case("cast")
def _cast(rng, dtype, name):
    x = normal(rng, shape(rng, 0), dtype) * 3
    for target in ir.DTYPES:
        close(run_op("cast", [x], dtype=target), x.astype(target), target)


@case("sum", "max", "min")
def _reduce(rng, dtype, name):
    x = normal(rng, shape(rng, 0), dtype)
    subsets = [None] + [
        c for r in range(x.ndim + 1) for c in itertools.combinations(range(x.ndim), r)
    ]
    axes = subsets[int(rng.integers(len(subsets)))]
    keepdims = bool(rng.integers(2))
    ref = getattr(np, {"sum": "sum", "max": "amax", "min": "amin"}[name])
    close(
        run_op(name, [x], axes=axes, keepdims=keepdims), ref(x, axis=axes, keepdims=keepdims), dtype
    )


@case("prod")
def _prod(rng, dtype, name):
    x = normal(rng, shape(rng, 0), dtype)
    axes = None if rng.random() < 0.3 or not x.ndim else (int(rng.integers(x.ndim)),)
    keepdims = bool(rng.integers(2))
    close(run_op("prod", [x], axes=axes, keepdims=keepdims),
          np.prod(x, axis=axes, keepdims=keepdims), dtype)


@case("cumsum", "cumprod")
def _scan(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(-x.ndim, x.ndim))
    close(run_op(name, [x], axis=axis), getattr(np, name)(x, axis=axis), dtype)


@case("cummax", "cummin")
def _cum_extremum(rng, dtype, name):
    x = ints(rng, shape(rng), dtype)  # ties: the index of the latest one
    x[(0,) * x.ndim] = np.nan if rng.random() < 0.3 else x[(0,) * x.ndim]
    axis = int(rng.integers(x.ndim))
    values, index = run_op(name, [x], axis=axis)
    better = np.greater_equal if name == "cummax" else np.less_equal
    expect_v, expect_i = np.empty_like(x), np.empty(x.shape, "int64")
    for pos in np.ndindex(*x.shape[:axis], *x.shape[axis + 1:]):
        line = pos[:axis] + (slice(None),) + pos[axis:]
        best, at = x[line][0], 0
        for k, v in enumerate(x[line]):
            if np.isnan(v) or (not np.isnan(best) and better(v, best)):
                best, at = v, k
            expect_v[line][k], expect_i[line][k] = best, at
    np.testing.assert_array_equal(values, expect_v)
    np.testing.assert_array_equal(index, expect_i)


@case("sort")
def _sort(rng, dtype, name):
    x = ints(rng, shape(rng), dtype)
    axis, descending = int(rng.integers(-x.ndim, x.ndim)), bool(rng.integers(2))
    values, index = run_op("sort", [x], axis=axis, descending=descending)
    key = -x if descending else x
    expect = np.argsort(key, axis=axis, kind="stable")  # stable both ways
    np.testing.assert_array_equal(index, expect)
    np.testing.assert_array_equal(values, np.take_along_axis(x, expect, axis=axis))


@case("bitcast")
def _bitcast(rng, dtype, name):
    x = normal(rng, (*shape(rng, 0, 2), 4), dtype)
    for target in ("int32", "int64", "float32", "float64", "bool"):
        expected = np.ascontiguousarray(x).view(target)
        np.testing.assert_array_equal(run_op("bitcast", [x], dtype=target), expected)


@case("flip")
def _flip(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(x.ndim) < 0.5))
    close(run_op("flip", [x], axes=axes), np.flip(x, axis=axes), dtype)


@case("argmax", "argmin")
def _arg(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axis, keepdims = int(rng.integers(-x.ndim, x.ndim)), bool(rng.integers(2))
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(run_op(name, [x], axis=axis, keepdims=keepdims), expected)


def matmul_operands(rng, dtype):
    """Operands a, b of op(a) @ op(b) with random transpose flags, and the plain product."""
    ba, bb = broadcast_shapes(rng, 2, 2)
    m, k, n = (int(d) for d in rng.integers(1, 5, size=3))
    a, b = normal(rng, (*ba, m, k), dtype), normal(rng, (*bb, k, n), dtype)
    flags = {"trans_a": bool(rng.random() < 0.5), "trans_b": bool(rng.random() < 0.5)}
    stored = [np.swapaxes(x, -1, -2).copy() if t else x
              for x, t in zip((a, b), flags.values())]
    return stored, flags, np.matmul(a, b)


@case("matmul")
def _matmul(rng, dtype, name):
    (a, b), flags, expected = matmul_operands(rng, dtype)
    close(run_op("matmul", [a, b], **flags), expected, dtype)


@case("gemm")
def _gemm(rng, dtype, name):
    (a, b), flags, product = matmul_operands(rng, dtype)
    c = normal(rng, product.shape[-1:], dtype)
    alpha, beta = np.asarray(-0.5, dtype), np.asarray(rng.choice([0.0, 1.0, 0.9]), dtype)
    expected = alpha * product + beta * c
    close(run_op("gemm", [a, b, c, alpha, beta], **flags), expected, dtype)
    # IEEE throughout, unlike BLAS: beta == 0 still reads c (0 * NaN is NaN), alpha == 0 the product
    nan = np.full_like(c, np.nan)
    assert np.isnan(run_op("gemm", [a, b, nan, alpha, np.asarray(0.0, dtype)], **flags)).all()


@case("fused")
def _fused(rng, dtype, name):
    x, y = normal(rng, (3, 4), dtype), normal(rng, (4,), dtype)
    body = Graph("body")
    bx, by = body.add_input("x", TensorType.of(x)), body.add_input("y", TensorType.of(y))
    b = ir.Builder(body)
    s = b.add(bx, by)
    body.set_outputs([b.relu(s), b.sum(s, axes=(1,), keepdims=False)])
    relu, total = run_op("fused", [x, y], body=body)
    close(relu, np.maximum(x + y, 0), dtype)
    close(total, (x + y).sum(axis=1), dtype)


@case("custom")
def _custom(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    _, attrs = cube_function_body(dtype, x.shape)
    close(run_op("custom", [x], **attrs), x**3, dtype)


@case("reshape")
def _reshape(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    target = (x.shape[-1], -1)
    close(run_op("reshape", [x], shape=target), x.reshape(target), dtype)


@case("permute")
def _permute(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    perm = tuple(int(i) for i in rng.permutation(x.ndim))
    close(run_op("permute", [x], perm=perm), np.transpose(x, perm), dtype)


@case("broadcast_to")
def _broadcast_to(rng, dtype, name):
    sx, _ = broadcast_shapes(rng)
    target = (2, *(d if d != 1 else 3 for d in sx))
    x = normal(rng, sx, dtype)
    close(run_op("broadcast_to", [x], shape=target), np.broadcast_to(x, target), dtype)


def random_region(rng, shape):
    starts = tuple(int(rng.integers(-n, n)) for n in shape)
    stops = tuple(int(rng.integers(0, n + 2)) for n in shape)
    steps = tuple(int(rng.integers(1, 3)) for _ in shape)
    return {"starts": starts, "stops": stops, "steps": steps}


def region_index(region):
    return tuple(
        slice(a, e, s) for a, e, s in zip(region["starts"], region["stops"], region["steps"])
    )


@case("slice")
def _slice(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    region = random_region(rng, x.shape)
    close(run_op("slice", [x], **region), x[region_index(region)], dtype)


@case("slice_scatter")
def _slice_scatter(rng, dtype, name):
    base = normal(rng, shape(rng), dtype)
    region = random_region(rng, base.shape)
    expected = base.copy()
    src = normal(rng, expected[region_index(region)].shape, dtype)
    expected[region_index(region)] = src
    close(run_op("slice_scatter", [base, src], **region), expected, dtype)


@case("concat")
def _concat(rng, dtype, name):
    base = shape(rng)
    axis = int(rng.integers(-len(base), len(base)))
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        s = list(base)
        s[axis] = int(rng.integers(0, 4))
        parts.append(normal(rng, tuple(s), dtype))
    close(run_op("concat", parts, axis=axis), np.concatenate(parts, axis=axis), dtype)


@case("split")
def _split(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(x.ndim))
    cut = sorted(int(c) for c in rng.integers(0, x.shape[axis] + 1, size=2))
    sizes = (cut[0], cut[1] - cut[0], x.shape[axis] - cut[1])
    results = run_op("split", [x], sizes=sizes, axis=axis)
    for got, expected in zip(results, np.split(x, cut, axis=axis)):
        close(got, expected, dtype)


@case("pad")
def _pad(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    pads = tuple((int(rng.integers(3)), int(rng.integers(3))) for _ in x.shape)
    close(run_op("pad", [x], pads=pads, value=1.5), np.pad(x, pads, constant_values=1.5), dtype)


def index_along(rng, shape, axis, unique=False):
    """Indices for gather/scatter along `axis`: any length along it, at most x's off it."""
    idx_shape = tuple(int(rng.integers(1, 5)) if i == axis else int(rng.integers(1, d + 1))
                      for i, d in enumerate(shape))
    if unique:  # distinct positions along the axis: writes do not collide
        n = shape[axis]
        idx_shape = tuple(min(d, n) if i == axis else d for i, d in enumerate(idx_shape))
        keys = rng.random((*idx_shape[:axis], n, *idx_shape[axis + 1:]))
        order = np.argsort(keys, axis=axis)
        return np.take(order, np.arange(idx_shape[axis]), axis=axis) - n * (rng.random() < 0.5)
    return rng.integers(-shape[axis], shape[axis], size=idx_shape)


def scatter_reference(base, idx, src, axis, ufunc):
    expected = base.copy()
    where = list(np.indices(idx.shape, sparse=True))
    where[axis] = idx
    ufunc.at(expected, tuple(where), src)
    return expected


@case("gather")
def _gather(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(x.ndim))
    idx = index_along(rng, x.shape, axis)
    corner = tuple(slice(None) if i == axis else slice(0, d) for i, d in enumerate(idx.shape))
    close(run_op("gather", [x, idx], axis=axis), np.take_along_axis(x[corner], idx, axis=axis),
          dtype)


@case("scatter_add", "scatter", "scatter_reduce")
def _scatter(rng, dtype, name):
    base = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(base.ndim))
    idx = index_along(rng, base.shape, axis, unique=name == "scatter")
    src = normal(rng, idx.shape, dtype)
    if name == "scatter":
        expected = base.copy()
        where = list(np.indices(idx.shape, sparse=True))
        where[axis] = idx
        expected[tuple(where)] = src
        close(run_op(name, [base, idx, src], axis=axis), expected, dtype)
    elif name == "scatter_add":
        close(run_op(name, [base, idx, src], axis=axis),
              scatter_reference(base, idx, src, axis, np.add), dtype)
    else:
        for reduce, ufunc in (("amax", np.maximum), ("amin", np.minimum)):
            close(run_op(name, [base, idx, src], axis=axis, reduce=reduce),
                  scatter_reference(base, idx, src, axis, ufunc), dtype)


@case("take")
def _take(rng, dtype, name):
    x = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(x.ndim))
    idx = rng.integers(-x.shape[axis], x.shape[axis], size=shape(rng, 0, 2)).astype("int32")
    close(run_op("take", [x, idx], axis=axis), np.take(x, idx, axis=axis), dtype)


@case("index_add")
def _index_add(rng, dtype, name):
    base = normal(rng, shape(rng), dtype)
    axis = int(rng.integers(base.ndim))
    idx = rng.integers(-base.shape[axis], base.shape[axis], size=shape(rng, 0, 2))
    src = normal(rng, np.take(base, idx, axis=axis).shape, dtype)
    expected = np.moveaxis(base.copy(), axis, 0)
    np.add.at(
        expected,
        idx,
        np.moveaxis(src.reshape(*base.shape[:axis], -1, *base.shape[axis + 1 :]), axis, 0).reshape(
            (*idx.shape, *expected.shape[1:])
        ),
    )
    close(run_op("index_add", [base, idx, src], axis=axis), np.moveaxis(expected, 0, axis), dtype)


@case("check_target")
def _check_target(rng, dtype, name):
    target = rng.integers(0, 5, size=shape(rng, 0, 2))
    np.testing.assert_array_equal(run_op(name, [target], classes=5), target)
    np.testing.assert_array_equal(
        run_op(name, [np.array([-100, 4])], classes=5, ignore=-100), [-100, 4]
    )
    for bad, ignore in ((-5, -100), (5, None), (-100, None)):
        with pytest.raises(ir.errors.ExecutionError, match=f"Target {bad} is out of bounds."):
            run_op(name, [np.array([1, bad, 2])], classes=5, ignore=ignore)


@case("full")
def _full(rng, dtype, name):
    s = shape(rng, 0)
    close(run_op("full", [], shape=s, dtype=dtype, value=2.5), np.full(s, 2.5, dtype), dtype)


@case("random_mask")
def _random_mask(rng, dtype, name):
    # No NumPy reference exists for our generator: check the properties a dropout mask needs.
    key = np.array(int(rng.integers(2**62)))
    mask = run_op("random_mask", [key], shape=(64, 32), p=0.7, dtype=dtype)
    assert set(np.unique(mask)) <= {0, 1}
    assert abs(mask.mean() - 0.7) < 0.05
    np.testing.assert_array_equal(
        mask, run_op("random_mask", [key], shape=(64, 32), p=0.7, dtype=dtype)
    )
    other = run_op("random_mask", [key + 1], shape=(64, 32), p=0.7, dtype=dtype)
    assert (mask != other).mean() > 0.2
    assert run_op("random_mask", [key], shape=(5,), p=1.0, dtype=dtype).min() == 1
    assert run_op("random_mask", [key], shape=(5,), p=0.0, dtype=dtype).max() == 0


@case("random_uniform")
def _random_uniform(rng, dtype, name):
    key = np.array(int(rng.integers(2**62)))
    u = run_op(name, [key], shape=(64, 32), dtype=dtype)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.03
    np.testing.assert_array_equal(u, run_op(name, [key], shape=(64, 32), dtype=dtype))
    assert (u != run_op(name, [key + 1], shape=(64, 32), dtype=dtype)).mean() > 0.9
    mask = run_op("random_mask", [key], shape=(64, 32), p=0.3, dtype=dtype)
    np.testing.assert_array_equal(mask, (u < 0.3).astype(dtype))  # one stream for both


# -- conv / pooling: naive loops as the reference --------------------------------------------------
def conv_setup(rng, dtype):
    stride = tuple(int(s) for s in rng.integers(1, 3, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 2, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    groups = int(rng.choice([1, 2]))
    x = normal(rng, (2, 4, 7, 6), dtype)
    w = normal(rng, (6, 4 // groups, 3, 2), dtype)
    return x, w, {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def patches(xpad, out_hw, kernel, stride, dilation):
    """(i, j, patch) for every output position; patch is (N, C, kh, kw)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i, j in itertools.product(range(out_hw[0]), range(out_hw[1])):
        rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
        cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
        yield i, j, rows, cols, xpad[:, :, rows, cols]


def group_pairs(x, w, groups):
    """(input channels, weight rows) of each group."""
    cin, cout = x.shape[1] // groups, w.shape[0] // groups
    return [(slice(k * cin, (k + 1) * cin), slice(k * cout, (k + 1) * cout)) for k in range(groups)]


def conv_ref(x, w, stride, padding, dilation, groups):
    xpad = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (xpad.shape[2] - dilation[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    wo = (xpad.shape[3] - dilation[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo), x.dtype)
    for i, j, _, _, patch in patches(xpad, (ho, wo), w.shape[2:], stride, dilation):
        for cin, cout in group_pairs(x, w, groups):
            out[:, cout, i, j] = np.einsum("nchw,ochw->no", patch[:, cin], w[cout])
    return out, xpad


def chwn(a):
    """An NCHW array as a (strided) CHWN view: channels first, batch last."""
    return a.transpose(1, 2, 3, 0)


def check_chwn(name, activations, others, expected, dtype, attrs, result_is_activation=True):
    """`name` with layout CHWN on the same data gives `expected` (NCHW) in CHWN."""
    got = run_op(name, [*map(chwn, activations), *others], layout="CHWN", **attrs)
    close(got, chwn(expected) if result_is_activation else expected, dtype)


@case("conv2d")
def _conv2d(rng, dtype, name):
    x, w, attrs = conv_setup(rng, dtype)
    expected = conv_ref(x, w, **attrs)[0]
    close(run_op("conv2d", [x, w], **attrs), expected, dtype)
    check_chwn("conv2d", [x], [w], expected, dtype, attrs)


@case("conv2d_grad_input")
def _conv2d_grad_input(rng, dtype, name):
    x, w, attrs = conv_setup(rng, dtype)
    out, xpad = conv_ref(x, w, **attrs)
    g = normal(rng, out.shape, dtype)
    dpad = np.zeros_like(xpad)
    for i, j, rows, cols, _ in patches(
        xpad, out.shape[2:], w.shape[2:], attrs["stride"], attrs["dilation"]
    ):
        for cin, cout in group_pairs(x, w, attrs["groups"]):
            dpad[:, cin, rows, cols] += np.einsum("no,ochw->nchw", g[:, cout, i, j], w[cout])
    ph, pw = attrs["padding"]
    expected = dpad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    close(run_op("conv2d_grad_input", [g, w], input_hw=x.shape[2:], **attrs), expected, dtype)
    check_chwn("conv2d_grad_input", [g], [w], expected, dtype,
               {**attrs, "input_hw": x.shape[2:]})


@case("conv2d_grad_weight")
def _conv2d_grad_weight(rng, dtype, name):
    x, w, attrs = conv_setup(rng, dtype)
    out, xpad = conv_ref(x, w, **attrs)
    g = normal(rng, out.shape, dtype)
    expected = np.zeros_like(w)
    for i, j, _, _, patch in patches(
        xpad, out.shape[2:], w.shape[2:], attrs["stride"], attrs["dilation"]
    ):
        for cin, cout in group_pairs(x, w, attrs["groups"]):
            expected[cout] += np.einsum("no,nchw->ochw", g[:, cout, i, j], patch[:, cin])
    close(run_op("conv2d_grad_weight", [x, g], kernel_hw=w.shape[2:], **attrs), expected, dtype)
    check_chwn("conv2d_grad_weight", [x, g], [], expected, dtype,
               {**attrs, "kernel_hw": w.shape[2:]}, result_is_activation=False)


def pool_setup(rng, dtype, name):
    kernel = tuple(int(k) for k in rng.integers(2, 4, size=2))
    stride = None if rng.random() < 0.5 else tuple(int(s) for s in rng.integers(1, 3, size=2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    attrs = {"kernel": kernel, "stride": stride, "padding": padding,
             "ceil_mode": bool(rng.random() < 0.5)}
    if name.startswith("max"):
        attrs["dilation"] = tuple(int(d) for d in rng.integers(1, 3, size=2))
    else:
        attrs["count_include_pad"] = bool(rng.random() < 0.5)
        attrs["divisor_override"] = None if rng.random() < 0.7 else 5
    return normal(rng, (2, 3, 7, 6), dtype), attrs


def pool_windows(hw, kernel, stride, padding, ceil_mode, dilation=(1, 1), **_):
    """(rows, cols) of every output position: each a range of input indices, padding counted
    as positions -p.. and n..; as PyTorch's pooling_output_shape and kernels define them."""
    axes = []
    for n, k, s, p, d in zip(hw, kernel, stride or kernel, padding, dilation):
        out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        axes.append([range(i * s - p, i * s - p + d * (k - 1) + 1, d) for i in range(out)])
    return axes


def pool_ref(x, name, attrs):
    """Max or average pooling of `x` by direct loops over output positions."""
    rows, cols = pool_windows(x.shape[2:], **attrs)
    out = np.zeros((*x.shape[:2], len(rows), len(cols)), x.dtype)
    where = np.zeros(out.shape, "int64")
    for (i, r), (j, c) in itertools.product(enumerate(rows), enumerate(cols)):
        inside = [(a, b) for a in r for b in c if 0 <= a < x.shape[2] and 0 <= b < x.shape[3]]
        values = np.stack([x[:, :, a, b] for a, b in inside], -1)
        if name.startswith("max"):
            first = values.argmax(-1)
            out[:, :, i, j] = values.max(-1)
            where[:, :, i, j] = [[inside[t][0] * x.shape[3] + inside[t][1] for t in row]
                                 for row in first]
            continue
        # the window's cells up to the padded edge count; the ceil-mode overhang never does
        padded = (min(r.stop, x.shape[2] + attrs["padding"][0]) - r.start) * (
            min(c.stop, x.shape[3] + attrs["padding"][1]) - c.start)
        divisor = attrs["divisor_override"] or (
            padded if attrs["count_include_pad"] else len(inside))
        out[:, :, i, j] = values.sum(-1) / divisor
    return out, where


@case("max_pool2d", "avg_pool2d", "max_pool2d_indices")
def _pool(rng, dtype, name):
    x, attrs = pool_setup(rng, dtype, name)
    out, where = pool_ref(x, name, attrs)
    if name.endswith("indices"):
        np.testing.assert_array_equal(run_op(name, [x], **attrs), where)
    else:
        close(run_op(name, [x], **attrs), out, dtype)
        check_chwn(name, [x], [], out, dtype, attrs)


@case("max_pool2d_grad")
def _max_pool_grad(rng, dtype, name):
    # Each window's gradient lands at its first maximum (the indices the reference finds).
    x, attrs = pool_setup(rng, dtype, "max")
    out, where = pool_ref(x, "max", attrs)
    g = normal(rng, out.shape, dtype)
    expected = np.zeros_like(x).reshape(*x.shape[:2], -1)
    for n, c in np.ndindex(x.shape[:2]):
        np.add.at(expected[n, c], where[n, c].ravel(), g[n, c].ravel())
    close(run_op(name, [g, x, out], **attrs), expected.reshape(x.shape), dtype)
    check_chwn(name, [g, x, out], [], expected.reshape(x.shape), dtype, attrs)


@case("avg_pool2d_grad")
def _avg_pool_grad(rng, dtype, name):
    # The adjoint: <avg_pool2d(x), g> == <x, avg_pool2d_grad(g)> for every x, so for unit x.
    x, attrs = pool_setup(rng, dtype, "avg")
    g = normal(rng, pool_ref(x, "avg", attrs)[0].shape, dtype)
    expected = np.zeros_like(x)
    for pos in np.ndindex(x.shape[2:]):
        unit = np.zeros((1, 1, *x.shape[2:]), dtype)
        unit[(0, 0, *pos)] = 1
        expected[:, :, pos[0], pos[1]] = (pool_ref(unit, "avg", attrs)[0] * g).sum((2, 3))
    close(run_op(name, [g], input_hw=x.shape[2:], **attrs), expected, dtype)
    check_chwn(name, [g], [], expected, dtype, {**attrs, "input_hw": x.shape[2:]})


def adaptive_ref(x, output_size):
    """(max, first-maximum flat index) over PyTorch's adaptive windows, by direct loops."""
    bounds = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]
              for n, o in zip(x.shape[2:], output_size)]
    out = np.zeros((*x.shape[:2], *output_size), x.dtype)
    where = np.zeros(out.shape, "int64")
    for (i, (r0, r1)), (j, (c0, c1)) in itertools.product(*map(enumerate, bounds)):
        window = x[:, :, r0:r1, c0:c1].reshape(*x.shape[:2], -1)
        first = window.argmax(-1)
        out[:, :, i, j] = window.max(-1)
        where[:, :, i, j] = (r0 + first // (c1 - c0)) * x.shape[3] + c0 + first % (c1 - c0)
    return out, where


@case("adaptive_max_pool2d", "adaptive_max_pool2d_indices")
def _adaptive_max_pool(rng, dtype, name):
    x = ints(rng, (2, 3, 7, 6), dtype)  # ties: the first maximum must win
    output_size = tuple(int(o) for o in rng.integers(1, 8, size=2))
    out, where = adaptive_ref(x, output_size)
    result = run_op(name, [x], output_size=output_size)
    if name.endswith("indices"):
        np.testing.assert_array_equal(result, where)
    else:
        close(result, out, dtype)


@case("all_reduce", "all_reduce_start", "all_reduce_wait")
def _collective(rng, dtype, name):
    # Alone (no communicator installed) a reduction is the identity; tests/ir/test_collective.py
    # runs them on a communicator.
    x = normal(rng, shape(rng, 0), dtype)
    attrs = {"reduce": "avg"} if name != "all_reduce_wait" else {}
    np.testing.assert_array_equal(run_op(name, [x], **attrs), x)


# -- the tests -------------------------------------------------------------------------------------
def test_every_op_has_a_forward_case():
    missing = sorted(set(OPS) - set(CASES))
    assert not missing, f"ops without a forward case in tests/ir/test_ops.py: {missing}"


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", sorted(CASES))
def test_op_matches_numpy(op, seed, dtype):
    CASES[op](np.random.default_rng([seed, sorted(CASES).index(op)]), dtype)


@pytest.mark.parametrize(
    "op", ["neg", "abs", "sign", "add", "sub", "mul", "maximum", "minimum", "sum", "max", "argmax",
           "floor", "round", "floor_divide", "fmod", "remainder", "pow"]
)
def test_integer_ops_keep_their_dtype(op):
    x = np.array([[3, -1, 2], [0, 5, -4]], dtype="int32")
    inputs, attrs = [x], {}
    if OPS[op].arity == 2:
        inputs.append(np.array([1, 2, 3 if op == "pow" else -3], dtype="int32"))
    if op in ("sum", "max"):
        attrs = {"axes": (1,)}
    if op == "argmax":
        attrs = {"axis": 1}
    ref = {
        "sum": lambda a: a.sum(axis=1),
        "max": lambda a: a.max(axis=1),
        "argmax": lambda a: a.argmax(axis=1),
    }
    result = run_op(op, inputs, **attrs)
    expected = ref[op](x) if op in ref else UNARY.get(op, (None, BINARY.get(op)))[1](*inputs)
    np.testing.assert_array_equal(result, expected)


def test_full_reductions_give_arrays():
    assert isinstance(run_op("sum", [np.ones((2, 3), "float32")], axes=None), np.ndarray)


@pytest.mark.parametrize(
    "op, types, attrs, message",
    [
        ("add", [((2, 3), "float32"), ((4,), "float32")], {}, "do not broadcast"),
        ("mul", [((2,), "float32"), ((2,), "float64")], {}, "insert a cast"),
        ("exp", [((2,), "int64")], {}, "floating-point"),
        ("where", [((2,), "float32"), ((2,), "float32"), ((2,), "float32")], {}, "must be bool"),
        (
            "matmul",
            [((2, 3), "float32"), ((4, 5), "float32")],
            {},
            "inner dimensions differ: 3 vs 4",
        ),
        ("matmul", [((3,), "float32"), ((3, 2), "float32")], {}, "at least 2 dimensions"),
        ("sum", [((2, 3), "float32")], {"axes": (2,)}, "out of range"),
        ("reshape", [((2, 3), "float32")], {"shape": (4, 2)}, "cannot reshape"),
        ("permute", [((2, 3), "float32")], {"perm": (0, 0)}, "not a permutation"),
        ("broadcast_to", [((2, 3), "float32")], {"shape": (3, 3)}, "cannot broadcast"),
        ("slice", [((4,), "float32")], {"starts": (0,), "stops": (4,), "steps": (0,)}, "positive"),
        (
            "concat",
            [((2, 3), "float32"), ((3, 3), "float32")],
            {"axis": 1},
            "match except along axis 1",
        ),
        ("split", [((5,), "float32")], {"sizes": (2, 2), "axis": 0}, "do not add up"),
        ("gather", [((3, 4), "float32"), ((3, 4), "float32")], {"axis": 0}, "int64 or int32"),
        ("conv2d", [((1, 3, 5, 5), "float32"), ((2, 4, 3, 3), "float32")], {}, "3 channels"),
        ("conv2d", [((1, 3, 2, 2), "float32"), ((2, 3, 3, 3), "float32")], {}, "does not fit"),
        ("max_pool2d", [((1, 1, 4, 4), "float32")], {"kernel": (2, 2), "padding": (2, 2)}, "half"),
        ("conv2d", [((1, 4, 5, 5), "float32"), ((6, 2, 3, 3), "float32")], {"groups": 4},
         "divide"),
        ("avg_pool2d", [((1, 1, 4, 4), "float32")], {"kernel": (2, 2), "divisor_override": 0},
         "positive"),
        ("random_mask", [((), "int32")], {"shape": (2,), "p": 0.5}, "scalar int64"),
        ("add", [((2,), "float32")], {}, "takes 2 input(s)"),
        ("sum", [((2,), "float32")], {"axis": 0}, "unknown attribute"),
    ],
)
def test_shape_errors_are_clear(op, types, attrs, message):
    g = Graph()
    values = [g.add_input(f"x{i}", TensorType(s, d)) for i, (s, d) in enumerate(types)]
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        g.add_node(op, values, attrs, {"loc": "model.py:7"})
    assert str(err.value).startswith(f"{op}(") and "model.py:7" in str(err.value)


@pytest.mark.parametrize("op", sorted(OPS))
def test_traits_are_data(op):
    traits = OPS[op].traits
    assert traits <= ir.ops.registry.TRAITS
    if "binary" in traits:
        assert OPS[op].arity == 2
    if "unary" in traits:
        assert OPS[op].arity == 1
