"""Elementwise ops: unary math, binary arithmetic and comparisons with NumPy broadcasting, where, cast."""

from __future__ import annotations

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import BINARY, COMMUTATIVE, ELEMENTWISE, UNARY, Attr, define_op
from ir.types import TensorType, is_float


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from None


def same_float(x: TensorType) -> TensorType:
    if not is_float(x.dtype):
        raise ShapeError(f"needs a floating-point operand, got {x.dtype}")
    return x


def binary_type(x: TensorType, y: TensorType, dtype: str | None = None) -> TensorType:
    if x.dtype != y.dtype:
        raise ShapeError(f"operand dtypes differ ({x.dtype} vs {y.dtype}); insert a cast")
    return TensorType(broadcast_shapes(x.shape, y.shape), dtype or x.dtype)


# -- unary -------------------------------------------------------------------------------------
define_op(
    "neg", traits={ELEMENTWISE, UNARY},
    shape=lambda x: x,
    impl=lambda xp, x: xp.negative(x),
    vjp=lambda b, g, out, x: (b.neg(g),),
)
define_op(
    "exp", traits={ELEMENTWISE, UNARY},
    shape=same_float,
    impl=lambda xp, x: xp.exp(x),
    vjp=lambda b, g, out, x: (b.mul(g, out),),
)

# -- binary ------------------------------------------------------------------------------------
define_op(
    "add", traits={ELEMENTWISE, BINARY, COMMUTATIVE}, arity=2,
    shape=binary_type,
    impl=lambda xp, x, y: xp.add(x, y),
    vjp=lambda b, g, out, x, y: (b.unbroadcast(g, x), b.unbroadcast(g, y)),
)
define_op(
    "mul", traits={ELEMENTWISE, BINARY, COMMUTATIVE}, arity=2,
    shape=binary_type,
    impl=lambda xp, x, y: xp.multiply(x, y),
    vjp=lambda b, g, out, x, y: (b.unbroadcast(b.mul(g, y), x), b.unbroadcast(b.mul(g, x), y)),
)

# -- cast ----------------------------------------------------------------------------------------
define_op(
    "cast", attrs={"dtype": Attr(str)},
    traits={ELEMENTWISE, UNARY},
    shape=lambda x, *, dtype: TensorType(x.shape, dtype),
    impl=lambda xp, x, *, dtype: x.astype(dtype, copy=False),
    vjp=lambda b, g, out, x, *, dtype: (b.cast(g, dtype=x.dtype) if is_float(x.dtype) else None,),
)
