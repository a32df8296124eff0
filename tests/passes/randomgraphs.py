"""Random graphs for property tests, drawn through hypothesis (so failures shrink).

A graph mixes elementwise ops (arithmetic, comparisons, where, casts, relu), broadcasting,
reductions, data movement (reshape, permute, slice, concat), 2-D products written the way traced
models and optimizers write them (`x @ W^T + b`, `W - lr * g^T h`, scalings), and parameter updates.
Inputs carry NaN, inf, -0.0 and zeros.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import ir

FLOAT = ("float32", "float64")
UNARY = ("neg", "abs", "exp", "tanh", "sigmoid", "relu", "sqrt", "log", "sign", "stop_gradient")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "pow")
COMPARE = ("gt", "le", "eq")
SPECIAL = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0)


class Drawer:
    """Draws through hypothesis' `data` so a failing graph shrinks to a small one."""

    def __init__(self, data):
        self.data = data

    def choice(self, options):
        return self.data.draw(st.sampled_from(list(options)))

    def integer(self, lo, hi):
        return self.data.draw(st.integers(lo, hi))

    def coin(self):
        return self.data.draw(st.booleans())


def random_graph(data, n_nodes: int | None = None) -> ir.Graph:
    d = Drawer(data)
    dtype = d.choice(FLOAT)
    g = ir.Graph("random")
    m, k, n = d.integer(1, 4), d.integer(1, 4), d.integer(1, 4)
    x = g.add_input("x", ir.TensorType((m, k), dtype))
    w = g.add_param("w", ir.TensorType((n, k), dtype))
    bias = g.add_param("bias", ir.TensorType((n,), dtype))
    pool = [x, g.add_input("y", ir.TensorType((m, k), dtype)), w]
    b = ir.Builder(g, loc="random.py:1")
    emitters = [_unary, _binary, _compare_where, _reduce, _movement, _linear, _scaled_product,
                _cast_round_trip]
    for _ in range(n_nodes if n_nodes is not None else d.integer(2, 10)):
        out = d.choice(emitters)(d, b, pool, w, bias)
        if out is not None:
            pool.append(out)
    g.set_outputs(pool[-2:] if len(pool) > 4 else pool[-1:])
    lr = g.add_input("lr", ir.TensorType((), dtype))
    g.updates.append((w, _sgd_update(d, b, w, x, lr)))
    return g


def _pick(d, pool, pred=lambda v: True):
    options = [v for v in pool if pred(v)]
    return d.choice(options) if options else None


def _unary(d, b, pool, *_):
    return b.emit(d.choice(UNARY), _pick(d, pool))


def _binary(d, b, pool, *_):
    x = _pick(d, pool)
    same = [v for v in pool if v.type == x.type]
    if d.coin() and len(same) > 1:
        y = d.choice(same)
    else:  # a broadcast operand: a trailing slice of the shape, or a scalar, maybe special
        shape = x.shape[d.integer(0, x.type.ndim):]
        value = d.choice(SPECIAL + (0.5, 2.0))
        y = b.graph.add_constant(np.full(shape, value, dtype=x.dtype))
    return b.emit(d.choice(BINARY), *((x, y) if d.coin() else (y, x)))


def _compare_where(d, b, pool, *_):
    x = _pick(d, pool)
    zero = b.scalar_like(d.choice((0.0, -0.0, 1.0)), x)
    mask = b.emit(d.choice(COMPARE), x, zero)
    other = _pick(d, pool, lambda v: v.type == x.type)
    return b.where(mask, x, other if d.coin() else zero)


def _reduce(d, b, pool, *_):
    x = _pick(d, pool, lambda v: v.type.ndim >= 1 and v.type.size > 0)
    if x is None:
        return None
    axes = None if d.coin() else (d.integer(0, x.type.ndim - 1),)
    return b.emit(d.choice(("sum", "max", "min")), x, axes=axes, keepdims=d.coin())


def _movement(d, b, pool, *_):
    x = _pick(d, pool, lambda v: v.type.ndim == 2)
    if x is None:
        return None
    choice = d.integer(0, 4)
    if choice == 0:
        return b.reshape(b.reshape(x, shape=(x.type.size,)), shape=x.shape)
    if choice == 1:
        return b.permute(b.permute(x, perm=(1, 0)), perm=(1, 0))
    if choice == 2:
        return b.broadcast_to(x, shape=(2, *x.shape))
    if choice == 3:
        return b.slice(x, starts=(0, 0), stops=x.shape, steps=(1, d.integer(1, 2)))
    return b.concat(x, x, axis=d.integer(0, 1))


def _linear(d, b, pool, w, bias):
    """x @ W^T + b as a traced nn.Linear writes it, maybe followed by relu."""
    x = _pick(d, pool, lambda v: v.type.ndim == 2 and v.shape[1] == w.shape[1]
              and v.dtype == w.dtype)
    if x is None:
        return None
    out = b.add(b.matmul(x, b.permute(w, perm=(1, 0))), bias)
    return b.relu(out) if d.coin() else out


def _scaled_product(d, b, pool, *_):
    """s * (x^T y) or c - s * (x @ y^T): epilogues the gemm pass folds."""
    x = _pick(d, pool, lambda v: v.type.ndim == 2)
    if x is None:
        return None
    y = _pick(d, pool, lambda v: v.type == x.type)
    s = b.scalar_like(d.choice((0.5, -2.0, 0.0)), x)
    if d.coin():
        return b.mul(b.matmul(b.permute(x, perm=(1, 0)), y), s)
    product = b.matmul(x, b.permute(y, perm=(1, 0)))
    return b.sub(product if d.coin() else b.mul(product, product), b.mul(product, s))


def _cast_round_trip(d, b, pool, *_):
    x = _pick(d, pool)
    other = "float64" if x.dtype == "float32" else "float32"
    return b.cast(b.cast(x, dtype=x.dtype), dtype=other) if d.coin() else b.cast(x, dtype=x.dtype)


def _sgd_update(d, b, w, x, lr):
    """w - lr * (g^T x) with g = x @ W^T: an SGD step on a linear layer, as autodiff writes it."""
    g = b.matmul(x, b.permute(w, perm=(1, 0)))
    grad = b.permute(b.matmul(b.permute(x, perm=(1, 0)), g), perm=(1, 0))
    return b.sub(w, b.mul(grad, lr))


def random_feeds(data, graph: ir.Graph):
    """Inputs and params for `graph`, with some NaN, inf, -0.0 and zeros."""
    d = Drawer(data)
    rng = np.random.default_rng(d.integer(0, 2**16))
    special = d.coin()

    def array(value):
        a = rng.standard_normal(value.shape).astype(value.type.np_dtype)
        if special and a.size:
            a.flat[rng.integers(a.size)] = d.choice(SPECIAL)
        return a

    inputs = [array(v) for v in graph.inputs]
    params = {v.name: array(v) for v in graph.params}
    return inputs, params
