"""Every primitive op reachable from Tensor: eager equals NumPy (float32 and float64), and tracing
the same code then running the graph with runtime.run_graph equals eager, over random shapes that
broadcast."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from runtime import run_graph

DTYPES = ("float32", "float64")
TOL = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-12, "atol": 1e-12}}
_erf = np.vectorize(math.erf)


def shapes(seed: int, count: int = 2):
    """A random shape and `count - 1` shapes that broadcast against it."""
    rng = np.random.default_rng(seed)
    base = tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4)))
    out = [base]
    for _ in range(count - 1):
        dims = list(base[int(rng.integers(0, len(base))) :])
        out.append(tuple(1 if rng.random() < 0.4 else d for d in dims))
    rng.shuffle(out)
    return out


def data(shape, dtype, seed, positive=False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 2.0, shape) if positive else rng.standard_normal(shape)
    return x.astype(dtype)


def check(fn, ref, arrays, dtype):
    """fn on tensors == ref on arrays eagerly; trace(fn) run on the arrays == eager."""
    eager = fn(*[graphc.from_numpy(a) for a in arrays])
    expected = ref(*arrays)
    assert eager.dtype.name == np.asarray(expected).dtype.name or eager.dtype.name == "bool"
    assert eager.shape == np.shape(expected)
    np.testing.assert_allclose(eager.numpy(), expected, **TOL[dtype])
    graph = graphc.trace(fn, *arrays)
    (traced,) = run_graph(graph, list(arrays))
    assert traced.dtype == eager.numpy().dtype
    np.testing.assert_allclose(traced, eager.numpy(), **TOL[dtype])


UNARY = {
    "neg": (lambda x: -x, np.negative, False),
    "abs": (lambda x: x.abs(), np.abs, False),
    "sign": (lambda x: x.sign(), np.sign, False),
    "exp": (lambda x: x.exp(), np.exp, False),
    "log": (lambda x: x.log(), np.log, True),
    "sqrt": (lambda x: graphc.sqrt(x), np.sqrt, True),
    "sin": (lambda x: x.sin(), np.sin, False),
    "cos": (lambda x: graphc.cos(x), np.cos, False),
    "tanh": (lambda x: graphc.tanh(x), np.tanh, False),
    "sigmoid": (lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), False),
    "erf": (lambda x: x.erf(), lambda a: _erf(a).astype(a.dtype), False),
    "relu": (lambda x: graphc.relu(x), lambda a: np.maximum(a, 0), False),
    "square": (lambda x: x.square(), np.square, False),
    "rsqrt": (lambda x: x.rsqrt(), lambda a: 1 / np.sqrt(a), True),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), False),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("seed", range(3))
def test_unary(name, dtype, seed):
    fn, ref, positive = UNARY[name]
    (shape,) = shapes(seed, 1)
    check(fn, ref, [data(shape, dtype, seed, positive)], dtype)


BINARY = {
    "add": (lambda x, y: x + y, np.add, False),
    "sub": (lambda x, y: x - y, np.subtract, False),
    "mul": (lambda x, y: x * y, np.multiply, False),
    "div": (lambda x, y: x / y, np.divide, True),
    "pow": (lambda x, y: x**y, np.power, True),
    "maximum": (lambda x, y: graphc.maximum(x, y), np.maximum, False),
    "minimum": (lambda x, y: x.minimum(y), np.minimum, False),
    "max_pair": (lambda x, y: graphc.max(x, y), np.maximum, False),
    "eq": (lambda x, y: x == y, np.equal, False),
    "ne": (lambda x, y: x != y, np.not_equal, False),
    "lt": (lambda x, y: x < y, np.less, False),
    "le": (lambda x, y: x <= y, np.less_equal, False),
    "gt": (lambda x, y: x > y, np.greater, False),
    "ge": (lambda x, y: x >= y, np.greater_equal, False),
    "where": (lambda x, y: graphc.where(x > y, x, y), lambda a, b: np.where(a > b, a, b), False),
    "masked_fill": (
        lambda x, y: x.masked_fill(y > 0, 3.0),
        lambda a, b: np.where(b > 0, np.asarray(3.0, a.dtype), a),
        False,
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("seed", range(4))
def test_binary_broadcasting(name, dtype, seed):
    fn, ref, positive = BINARY[name]
    sa, sb = shapes(seed)
    a, b = data(sa, dtype, seed, positive), data(sb, dtype, seed + 100, positive)
    if name in ("eq", "ne", "le", "ge"):  # small integers make ties, so equality is exercised
        a, b = np.round(a), np.round(b)
    if name == "masked_fill" and np.broadcast_shapes(sa, sb) != sa:
        sa = np.broadcast_shapes(sa, sb)
        a = data(sa, dtype, seed, positive)
    check(fn, ref, [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(3))
def test_scalar_operands_keep_the_tensor_dtype(dtype, seed):
    (shape,) = shapes(seed, 1)
    a = data(shape, dtype, seed, positive=True)
    check(
        lambda x: 2.5 * x - 1 + x / 3 + 2**x - (1 / x) + x**2,
        lambda v: 2.5 * v - 1 + v / 3 + 2**v - (1 / v) + v**2,
        [a],
        dtype,
    )


def _axes_for(shape, seed):
    rng = np.random.default_rng(seed)
    return int(rng.integers(-len(shape), len(shape)))


REDUCE = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda a, d, k: a.sum(d, keepdims=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda a, d, k: a.mean(d, keepdims=k)),
    "max": (lambda x, d, k: x.max(d, keepdim=k).values, lambda a, d, k: a.max(d, keepdims=k)),
    "min": (lambda x, d, k: x.min(d, keepdim=k)[0], lambda a, d, k: a.min(d, keepdims=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda a, d, k: a.max(d, keepdims=k)),
    "argmax": (lambda x, d, k: x.argmax(d, keepdim=k), lambda a, d, k: a.argmax(d, keepdims=k)),
    "argmin": (lambda x, d, k: x.argmin(d, keepdim=k), lambda a, d, k: a.argmin(d, keepdims=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda a, d, k: a.var(d, ddof=1, keepdims=k)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_reductions_over_one_dim(name, dtype, keepdim, seed):
    fn, ref = REDUCE[name]
    (shape,) = shapes(seed, 1)
    shape = (2,) + shape  # var over a dim needs two elements somewhere
    dim = _axes_for(shape, seed)
    if name == "var":
        dim = 0
    a = data(shape, dtype, seed)
    check(lambda x: fn(x, dim, keepdim), lambda v: ref(v, dim, keepdim), [a], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_reductions(dtype):
    a = data((3, 4, 2), dtype, 0)
    check(
        lambda x: x.sum() + x.mean() * x.max() - x.min() + x.sum((0, 2)).sum(),
        lambda v: v.sum() + v.mean() * v.max() - v.min() + v.sum((0, 2)).sum(),
        [a],
        dtype,
    )
    check(lambda x: x.argmax(), lambda v: np.argmax(v), [a], dtype)
    check(
        lambda x: x.std(dim=1, keepdim=True), lambda v: v.std(1, ddof=1, keepdims=True), [a], dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 2)),
        ((4,), (4, 3)),
        ((3, 4), (4,)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (4,)),
    ],
)
def test_matmul_batched_and_vectors(dtype, sa, sb):
    a, b = data(sa, dtype, 1), data(sb, dtype, 2)
    check(lambda x, y: x @ y, np.matmul, [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mm_and_bmm(dtype):
    a, b = data((3, 4), dtype, 1), data((4, 2), dtype, 2)
    check(graphc.mm, np.matmul, [a, b], dtype)
    a, b = data((2, 3, 4), dtype, 1), data((2, 4, 5), dtype, 2)
    check(graphc.bmm, np.matmul, [a, b], dtype)


SHAPE_CASES = {
    "reshape": (lambda x: x.reshape(4, -1), lambda a: a.reshape(4, -1)),
    "view_tuple": (lambda x: x.view((2, 12)), lambda a: a.reshape(2, 12)),
    "flatten": (lambda x: x.flatten(1), lambda a: a.reshape(2, -1)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda x: x.transpose(0, -1), lambda a: a.swapaxes(0, -1)),
    "T": (lambda x: x.T, lambda a: a.transpose(2, 1, 0)),
    "unsqueeze": (lambda x: x.unsqueeze(-1), lambda a: a[..., None]),
    "squeeze": (lambda x: x[:, :1].squeeze(1), lambda a: a[:, 0]),
    "expand": (
        lambda x: x[:, :1].expand(3, 2, 5, -1),
        lambda a: np.broadcast_to(a[:, :1], (3, 2, 5, 4)),
    ),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3))),
    "slices": (lambda x: x[1:, ::2, -2:], lambda a: a[1:, ::2, -2:]),
    "ints": (lambda x: x[-1, 2], lambda a: a[-1, 2]),
    "none_ellipsis": (lambda x: x[None, ..., 1:3, None], lambda a: a[None, ..., 1:3, None]),
    "int_list": (lambda x: x[:, [2, 0, -1]], lambda a: a[:, [2, 0, -1]]),
    "two_lists": (lambda x: x[[0, 1, 1], :, [3, 0, -1]], lambda a: a[[0, 1, 1], :, [3, 0, -1]]),
    "adjacent_lists": (lambda x: x[:, [0, 2], [1, 3]], lambda a: a[:, [0, 2], [1, 3]]),
    "index_select": (
        lambda x: x.index_select(2, graphc.tensor([3, 3, 0])),
        lambda a: a[:, :, [3, 3, 0]],
    ),
    "gather": (
        lambda x: x.gather(1, graphc.tensor(np.array([[[0, 2, 1, 0]], [[2, 2, 0, 1]]]))),
        lambda a: np.take_along_axis(a, np.array([[[0, 2, 1, 0]], [[2, 2, 0, 1]]]), 1),
    ),
    "cat": (
        lambda x: graphc.cat([x, x[:, :1] * 2], dim=1),
        lambda a: np.concatenate([a, a[:, :1] * 2], 1),
    ),
    "stack": (lambda x: graphc.stack([x, -x], dim=-1), lambda a: np.stack([a, -a], -1)),
    "split": (
        lambda x: x.split([1, 2], dim=1)[1] + x.chunk(3, dim=1)[2].sum(),
        lambda a: a[:, 1:] + a[:, 2:].sum(),
    ),
    "unbind": (lambda x: x.unbind(0)[1], lambda a: a[1]),
    "narrow": (lambda x: x.narrow(2, 1, 2), lambda a: a[:, :, 1:3]),
    "detach": (lambda x: x.detach() * 2, lambda a: a * 2),
    "clone": (lambda x: x.clone() + 0, lambda a: a.copy()),
    "zeros_like": (lambda x: x + graphc.zeros_like(x) + graphc.ones(4), lambda a: a + 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_and_indexing(name, dtype):
    fn, ref = SHAPE_CASES[name]
    check(fn, ref, [data((2, 3, 4), dtype, 5)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_traced_is_slice_scatter(dtype):
    def fn(x):
        y = x * 1
        y[:, 1] = 0.0
        y[0, ::2] = x[1, ::2] * 10
        return y

    def ref(a):
        y = a.copy()
        y[:, 1] = 0.0
        y[0, ::2] = a[1, ::2] * 10
        return y

    check(fn, ref, [data((3, 4), dtype, 7)], dtype)


@pytest.mark.parametrize("src", ["float32", "float64", "int64", "int32", "bool"])
@pytest.mark.parametrize("dst", ["float32", "float64", "int64", "int32", "bool"])
def test_cast_between_all_dtypes(src, dst):
    a = (np.random.default_rng(0).standard_normal((3, 2)) * 4).astype(src)
    check(lambda x: x.to(getattr(graphc, dst)), lambda v: v.astype(dst), [a], "float64")
