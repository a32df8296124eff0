"""Elementwise ops: unary math, binary arithmetic and comparisons (NumPy broadcasting), where, cast.

Kernels keep the dtype of their operands (float32 in, float32 out); binary ops need equal dtypes.
"""

from __future__ import annotations

import math

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import (
    BINARY,
    COMMUTATIVE,
    ELEMENTWISE,
    UNARY,
    Attr,
    define_op,
    no_grad,
)
from ir.types import TensorType, is_float

UNARY_TRAITS = {ELEMENTWISE, UNARY}
BINARY_TRAITS = {ELEMENTWISE, BINARY}


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from None


def same_float(x: TensorType) -> TensorType:
    if not is_float(x.dtype):
        raise ShapeError(f"needs a floating-point operand, got {x.dtype}")
    return x


def same_numeric(x: TensorType) -> TensorType:
    if x.dtype == "bool":
        raise ShapeError("needs a numeric operand, got bool; cast it first")
    return x


def binary_type(x: TensorType, y: TensorType, dtype: str | None = None) -> TensorType:
    if x.dtype != y.dtype:
        raise ShapeError(f"operand dtypes differ ({x.dtype} vs {y.dtype}); insert a cast")
    return TensorType(broadcast_shapes(x.shape, y.shape), dtype or x.dtype)


def numeric_binary(x: TensorType, y: TensorType) -> TensorType:
    return binary_type(same_numeric(x), y)


def float_binary(x: TensorType, y: TensorType) -> TensorType:
    return binary_type(same_float(x), y)


def compare_type(x: TensorType, y: TensorType) -> TensorType:
    return binary_type(x, y, "bool")


def special(xp):
    """scipy.special for NumPy arrays, cupyx.scipy.special for CuPy arrays."""
    if xp.__name__ == "numpy":
        import scipy.special

        return scipy.special
    import cupyx.scipy.special

    return cupyx.scipy.special


def stable_sigmoid(xp, x):
    # exp of -|x| never overflows; both branches share it.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


# -- unary -------------------------------------------------------------------------------------
define_op(
    "neg",
    traits=UNARY_TRAITS,
    shape=same_numeric,
    impl=lambda xp, x: xp.negative(x),
    vjp=lambda b, g, out, x: (b.neg(g),),
)
define_op(
    "abs",
    traits=UNARY_TRAITS,
    shape=same_numeric,
    impl=lambda xp, x: xp.abs(x),
    vjp=lambda b, g, out, x: (b.mul(g, b.sign(x)),),
)
define_op(
    "sign",
    traits=UNARY_TRAITS,
    shape=same_numeric,
    impl=lambda xp, x: xp.sign(x),
    vjp=no_grad,  # zero almost everywhere
)
define_op(
    "exp",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.exp(x),
    vjp=lambda b, g, out, x: (b.mul(g, out),),
)
define_op(
    "log",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.log(x),
    vjp=lambda b, g, out, x: (b.div(g, x),),
)
define_op(
    "sqrt",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.sqrt(x),
    vjp=lambda b, g, out, x: (b.div(g, b.mul(out, b.scalar_like(2, out))),),
)
define_op(
    "sin",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.sin(x),
    vjp=lambda b, g, out, x: (b.mul(g, b.cos(x)),),
)
define_op(
    "cos",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.cos(x),
    vjp=lambda b, g, out, x: (b.neg(b.mul(g, b.sin(x))),),
)
define_op(
    "tanh",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: xp.tanh(x),
    vjp=lambda b, g, out, x: (b.mul(g, b.sub(b.scalar_like(1, out), b.mul(out, out))),),
)
define_op(
    "sigmoid",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=stable_sigmoid,
    vjp=lambda b, g, out, x: (b.mul(g, b.mul(out, b.sub(b.scalar_like(1, out), out))),),
)


def _erf_vjp(b, g, out, x):
    # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
    slope = b.mul(b.scalar_like(2 / math.sqrt(math.pi), x), b.exp(b.neg(b.mul(x, x))))
    return (b.mul(g, slope),)


define_op(
    "erf",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: special(xp).erf(x),
    vjp=_erf_vjp,
)
define_op(
    "stop_gradient",
    traits=UNARY_TRAITS,
    shape=lambda x: x,
    impl=lambda xp, x: xp.array(x, copy=True),
    vjp=no_grad,
    doc="Identity whose gradient is zero (detach).",
)

# -- binary ------------------------------------------------------------------------------------
define_op(
    "add",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    impl=lambda xp, x, y: xp.add(x, y),
    vjp=lambda b, g, out, x, y: (b.unbroadcast(g, x), b.unbroadcast(g, y)),
)
define_op(
    "sub",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    impl=lambda xp, x, y: xp.subtract(x, y),
    vjp=lambda b, g, out, x, y: (b.unbroadcast(g, x), b.unbroadcast(b.neg(g), y)),
)
define_op(
    "mul",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    impl=lambda xp, x, y: xp.multiply(x, y),
    vjp=lambda b, g, out, x, y: (b.unbroadcast(b.mul(g, y), x), b.unbroadcast(b.mul(g, x), y)),
)


def _div_vjp(b, g, out, x, y):
    gx = b.div(g, y)
    # d(x/y)/dy = -out/y, so the y gradient reuses gx: -gx * out ... written as -(g/y)*out.
    return b.unbroadcast(gx, x), b.unbroadcast(b.neg(b.mul(gx, out)), y)


define_op(
    "div",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    impl=lambda xp, x, y: xp.divide(x, y),
    vjp=_div_vjp,
)


def _pow_vjp(b, g, out, x, y):
    one = b.scalar_like(1, y)
    gx = b.mul(g, b.mul(y, b.pow(x, b.sub(y, one))))
    gy = b.mul(g, b.mul(out, b.log(x)))  # only meaningful for x > 0; DCE drops it for constant y
    return b.unbroadcast(gx, x), b.unbroadcast(gy, y)


define_op(
    "pow",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    impl=lambda xp, x, y: xp.power(x, y),
    vjp=_pow_vjp,
)


def _minmax_vjp(pick):
    """Gradient of maximum/minimum: all to the picked operand, split evenly on ties (as PyTorch)."""

    def vjp(b, g, out, x, y):
        wins = b.cast(pick(b, x, y), dtype=g.dtype)  # x strictly picked
        ties = b.cast(b.eq(x, y), dtype=g.dtype)
        share = b.mul(b.add(b.add(wins, wins), ties), b.scalar_like(0.5, g))
        gx = b.mul(g, share)
        return b.unbroadcast(gx, x), b.unbroadcast(b.sub(g, gx), y)

    return vjp


define_op(
    "maximum",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    impl=lambda xp, x, y: xp.maximum(x, y),
    vjp=_minmax_vjp(lambda b, x, y: b.gt(x, y)),
)
define_op(
    "minimum",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    impl=lambda xp, x, y: xp.minimum(x, y),
    vjp=_minmax_vjp(lambda b, x, y: b.lt(x, y)),
)

# -- comparisons -> bool -----------------------------------------------------------------------
for _name, _ufunc, _commutative in (
    ("eq", "equal", True),
    ("ne", "not_equal", True),
    ("lt", "less", False),
    ("le", "less_equal", False),
    ("gt", "greater", False),
    ("ge", "greater_equal", False),
):
    define_op(
        _name,
        traits=BINARY_TRAITS | ({COMMUTATIVE} if _commutative else set()),
        arity=2,
        shape=compare_type,
        impl=lambda xp, x, y, _ufunc=_ufunc: getattr(xp, _ufunc)(x, y),
        vjp=no_grad,
    )


# -- where, cast ---------------------------------------------------------------------------------
def _where_type(cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if cond.dtype != "bool":
        raise ShapeError(f"condition must be bool, got {cond.dtype}")
    if x.dtype != y.dtype:
        raise ShapeError(f"branch dtypes differ ({x.dtype} vs {y.dtype}); insert a cast")
    return TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), x.dtype)


def _where_vjp(b, g, out, cond, x, y):
    zero = b.scalar_like(0, g)
    return None, b.unbroadcast(b.where(cond, g, zero), x), b.unbroadcast(b.where(cond, zero, g), y)


define_op(
    "where",
    traits={ELEMENTWISE},
    arity=3,
    shape=_where_type,
    impl=lambda xp, cond, x, y: xp.where(cond, x, y),
    vjp=_where_vjp,
)
define_op(
    "cast",
    attrs={"dtype": Attr(str)},
    traits=UNARY_TRAITS,
    shape=lambda x, *, dtype: TensorType(x.shape, dtype),
    impl=lambda xp, x, *, dtype: x.astype(dtype, copy=False),
    vjp=lambda b, g, out, x, *, dtype: (b.cast(g, dtype=x.dtype) if is_float(x.dtype) else None,),
)
