"""Elementwise ops: unary math, binary arithmetic and comparisons (NumPy broadcasting), where, cast.

Kernels keep the dtype of their operands (float32 in, float32 out); binary ops need equal dtypes.
Each op also gives its `write` kernel (into a given output, in place where allowed) and the C
expression of one element, from which fused kernels are generated.
"""

from __future__ import annotations

import math

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import (
    ASSOCIATIVE,
    BINARY,
    COMMUTATIVE,
    ELEMENTWISE,
    IDEMPOTENT,
    INVOLUTION,
    OPS,
    UNARY,
    Attr,
    define_op,
    no_grad,
)
from ir.types import TensorType, is_float

UNARY_TRAITS = {ELEMENTWISE, UNARY}
BINARY_TRAITS = {ELEMENTWISE, BINARY}
INF = float("inf")


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


def ufunc(name: str, arity: int):
    """(impl, write) of the op that is `xp.<name>`: one call, into `out=` for `write`."""

    def impl(xp, *arrays):
        return getattr(xp, name)(*arrays)

    def write(xp, out, *arrays):
        getattr(xp, name)(*arrays, out=out)

    return impl, write


def define_ufunc(name, np_name, *, c_expr, shape, vjp, traits, arity=1, **facts):
    """An elementwise op that is one NumPy/CuPy ufunc; it can run in place on any operand."""
    impl, write = ufunc(np_name, arity)
    return define_op(name, shape=shape, impl=impl, write=write, inplace=tuple(range(arity)),
                     vjp=vjp, traits=traits, arity=arity, c_expr=c_expr, **facts)


# -- unary -------------------------------------------------------------------------------------
define_ufunc(
    "neg", "negative",
    traits=UNARY_TRAITS | {INVOLUTION},
    shape=same_numeric,
    c_expr="(-{0})",
    vjp=lambda b, g, out, x: (b.neg(g),),
)
define_ufunc(
    "abs", "absolute",
    traits=UNARY_TRAITS | {IDEMPOTENT},
    shape=same_numeric,
    c_expr="abs({0})",
    vjp=lambda b, g, out, x: (b.mul(g, b.sign(x)),),
)


def _sign_impl(xp, x):
    # PyTorch's sign: 0 for nan (NumPy gives nan), 0 for -0.0.
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def _sign_write(xp, out, x):
    xp.greater(x, 0, out=out, casting="unsafe")
    xp.subtract(out, x < 0, out=out, casting="unsafe")


define_op(
    "sign",
    traits=UNARY_TRAITS | {IDEMPOTENT},
    shape=same_numeric,
    impl=_sign_impl,
    write=_sign_write,
    c_expr="(({0} > 0) - ({0} < 0))",
    vjp=lambda b, g, out, x: (b.zeros(x.type),),  # zero almost everywhere, as in PyTorch
)
define_ufunc(
    "exp", "exp",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="exp({0})",
    vjp=lambda b, g, out, x: (b.mul(g, out),),
)
define_ufunc(
    "log", "log",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="log({0})",
    vjp=lambda b, g, out, x: (b.div(g, x),),
)
define_ufunc(
    "sqrt", "sqrt",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="sqrt({0})",
    vjp=lambda b, g, out, x: (b.div(g, b.mul(out, b.scalar_like(2, out))),),
)
define_ufunc(
    "sin", "sin",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="sin({0})",
    vjp=lambda b, g, out, x: (b.mul(g, b.cos(x)),),
)
define_ufunc(
    "cos", "cos",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="cos({0})",
    vjp=lambda b, g, out, x: (b.neg(b.mul(g, b.sin(x))),),
)
define_ufunc(
    "tanh", "tanh",
    traits=UNARY_TRAITS,
    shape=same_float,
    c_expr="tanh({0})",
    vjp=lambda b, g, out, x: (b.mul(g, b.sub(b.scalar_like(1, out), b.mul(out, out))),),
)


def define_special(name, scipy_name, *, c_expr, vjp):
    """A float op that is scipy.special (cupyx.scipy.special) ufunc `scipy_name`; SciPy computes
    float16 in float64 and returns it so: the result is rounded back to the operand's dtype."""
    return define_op(
        name,
        traits=UNARY_TRAITS,
        shape=same_float,
        impl=lambda xp, x: getattr(special(xp), scipy_name)(x).astype(x.dtype, copy=False),
        write=lambda xp, out, x: getattr(special(xp), scipy_name)(x, out=out),
        inplace=(0,),
        c_expr=c_expr,
        vjp=vjp,
    )


def _sigmoid_write(xp, out, x):
    """1 / (1 + exp(-x)), PyTorch's formula, in four in-place passes (twice as fast as SciPy's
    expit here; exp overflows to inf for x below about -88 in float32, giving exactly 0, as in
    PyTorch); float16 and other array modules through expit."""
    if xp is not np or x.dtype == np.float16:
        special(xp).expit(x, out=out)
        return out
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    np.add(out, 1, out=out)
    np.reciprocal(out, out=out)
    return out


define_op(
    "sigmoid",
    traits=UNARY_TRAITS,
    shape=same_float,
    impl=lambda xp, x: _sigmoid_write(xp, xp.empty_like(x), x),
    write=_sigmoid_write,
    inplace=(0,),
    c_expr="(1 / (1 + exp(-{0})))",
    vjp=lambda b, g, out, x: (b.mul(g, b.mul(out, b.sub(b.scalar_like(1, out), out))),),
)


def _erf_vjp(b, g, out, x):
    # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
    slope = b.mul(b.scalar_like(2 / math.sqrt(math.pi), x), b.exp(b.neg(b.mul(x, x))))
    return (b.mul(g, slope),)


define_special("erf", "erf", c_expr="erf({0})", vjp=_erf_vjp)


def _relu_write(xp, out, x, *, scratch=None):
    if scratch:  # NumPy's maximum is several times faster against an array than a scalar
        zeros = scratch[0]
        zeros.fill(0)
        xp.maximum(x, zeros, out=out)
    else:
        xp.maximum(x, x.dtype.type(0), out=out)


define_op(
    "relu",
    traits=UNARY_TRAITS | {IDEMPOTENT},
    shape=same_numeric,
    impl=lambda xp, x: xp.maximum(x, x.dtype.type(0)),  # NaN stays NaN, as in PyTorch
    write=_relu_write,
    inplace=(0,),
    scratch=lambda x: (x,) if is_float(x.dtype) else (),
    c_expr="({0} < 0 ? 0 : {0})",
    # PyTorch's threshold_backward on the result: no gradient where the result is <= 0.
    vjp=lambda b, g, out, x: (b.where(b.le(out, b.scalar_like(0, out)), b.scalar_like(0, g), g),),
    doc="max(x, 0) with NaN propagated.",
)
define_op(
    "stop_gradient",
    traits=UNARY_TRAITS,
    shape=lambda x: x,
    impl=lambda xp, x: xp.array(x, copy=True),
    write=lambda xp, out, x: xp.copyto(out, x),
    inplace=(0,),
    c_expr="{0}",
    vjp=no_grad,
    doc="Identity whose gradient is zero (detach).",
)

# -- binary ------------------------------------------------------------------------------------
define_ufunc(
    "add", "add",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    c_expr="({0} + {1})",
    identity={0: -0.0, 1: -0.0},  # x + 0.0 turns -0.0 into 0.0; x + -0.0 is x
    vjp=lambda b, g, out, x, y: (b.unbroadcast(g, x), b.unbroadcast(g, y)),
)
define_ufunc(
    "sub", "subtract",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    c_expr="({0} - {1})",
    identity={1: 0.0},
    vjp=lambda b, g, out, x, y: (b.unbroadcast(g, x), b.unbroadcast(b.neg(g), y)),
)
define_ufunc(
    "mul", "multiply",
    traits=BINARY_TRAITS | {COMMUTATIVE},
    arity=2,
    shape=numeric_binary,
    c_expr="({0} * {1})",
    identity={0: 1, 1: 1},
    absorbing={0: 0, 1: 0},
    vjp=lambda b, g, out, x, y: (b.unbroadcast(b.mul(g, y), x), b.unbroadcast(b.mul(g, x), y)),
)


def _div_vjp(b, g, out, x, y):
    gx = b.div(g, y)
    # d(x/y)/dy = -out/y, so the y gradient reuses gx: -gx * out ... written as -(g/y)*out.
    return b.unbroadcast(gx, x), b.unbroadcast(b.neg(b.mul(gx, out)), y)


define_ufunc(
    "div", "divide",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    c_expr="({0} / {1})",
    identity={1: 1},
    vjp=_div_vjp,
)


def _pow_vjp(b, g, out, x, y):
    # PyTorch's rules: no x-gradient where y == 0 (x ** 0 is constant, even at x = 0), no
    # y-gradient where x == 0 and y >= 0 (0 ** y is constant there); elsewhere the calculus.
    zero, one = b.scalar_like(0, y), b.scalar_like(1, y)
    slope = b.mul(y, b.pow(x, b.sub(y, one)))
    gx = b.mul(g, b.where(b.eq(y, zero), zero, slope))
    flat = b.bitwise_and(b.eq(x, zero), b.ge(y, zero))
    gy = b.mul(g, b.where(flat, zero, b.mul(out, b.log(x))))  # DCE drops it for constant y
    return b.unbroadcast(gx, x), b.unbroadcast(gy, y)


define_ufunc(
    "pow", "power",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    c_expr="pow({0}, {1})",
    identity={1: 1},
    vjp=_pow_vjp,
)


def _minmax_vjp(loses):
    """Gradient of maximum/minimum as PyTorch's: all to the picked operand, half each on ties;
    where a NaN meets anything no comparison holds, so both operands get the whole gradient."""

    def vjp(b, g, out, x, y):
        half_ties = b.mul(b.cast(b.eq(x, y), dtype=g.dtype), b.scalar_like(0.5, g))

        def share(lost):
            return b.mul(g, b.sub(b.sub(b.scalar_like(1, g), b.cast(lost, dtype=g.dtype)),
                                  half_ties))

        return b.unbroadcast(share(loses(b, x, y)), x), b.unbroadcast(share(loses(b, y, x)), y)

    return vjp


define_ufunc(
    "maximum", "maximum",
    traits=BINARY_TRAITS | {COMMUTATIVE, ASSOCIATIVE, IDEMPOTENT},
    arity=2,
    shape=numeric_binary,
    c_expr="(({0} != {0} || {0} > {1}) ? {0} : {1})",  # NaN in either operand propagates
    identity={0: -INF, 1: -INF},
    vjp=_minmax_vjp(lambda b, x, y: b.lt(x, y)),
)
define_ufunc(
    "minimum", "minimum",
    traits=BINARY_TRAITS | {COMMUTATIVE, ASSOCIATIVE, IDEMPOTENT},
    arity=2,
    shape=numeric_binary,
    c_expr="(({0} != {0} || {0} < {1}) ? {0} : {1})",
    identity={0: INF, 1: INF},
    vjp=_minmax_vjp(lambda b, x, y: b.gt(x, y)),
)



def _clamp_type(x: TensorType, low: TensorType, high: TensorType) -> TensorType:
    same_numeric(x)
    if not x.dtype == low.dtype == high.dtype:
        raise ShapeError(f"operand dtypes differ ({x.dtype}, {low.dtype}, {high.dtype}); "
                         "insert a cast")
    return TensorType(broadcast_shapes(x.shape, low.shape, high.shape), x.dtype)


def _clamp_vjp(b, g, out, x, low, high):
    # PyTorch's clamp_backward_min_max: x gets the gradient where low <= x <= high (not at NaN),
    # low where x < low < high, high where x > high or high < low (the result is high there).
    zero = b.scalar_like(0, g)
    inside = b.where(b.ge(x, low), b.le(x, high), b.const(False, "bool"))
    below = b.where(b.lt(x, low), b.lt(low, high), b.const(False, "bool"))
    above = b.where(b.gt(x, high), b.const(True, "bool"), b.lt(high, low))
    return tuple(b.unbroadcast(b.where(mask, g, zero), v)
                 for mask, v in ((inside, x), (below, low), (above, high)))


define_op(
    "clamp",
    traits={ELEMENTWISE},
    arity=3,
    shape=_clamp_type,
    impl=lambda xp, x, low, high: xp.minimum(xp.maximum(x, low), high),
    write=lambda xp, out, x, low, high: xp.minimum(xp.maximum(x, low, out=out), high, out=out),
    inplace=(0,),
    # minimum(maximum(x, low), high) from those ops' own expressions: NaN anywhere propagates
    c_expr=OPS["minimum"].c_expr.format(OPS["maximum"].c_expr.format("{0}", "{1}"), "{2}"),
    vjp=_clamp_vjp,
    doc="min(max(x, low), high), NaN in x or a bound propagated, as torch.clamp.",
)

# -- comparisons -> bool -----------------------------------------------------------------------
for _name, _ufunc, _c_op, _commutative in (
    ("eq", "equal", "==", True),
    ("ne", "not_equal", "!=", True),
    ("lt", "less", "<", False),
    ("le", "less_equal", "<=", False),
    ("gt", "greater", ">", False),
    ("ge", "greater_equal", ">=", False),
):
    define_ufunc(
        _name, _ufunc,
        traits=BINARY_TRAITS | ({COMMUTATIVE} if _commutative else set()),
        arity=2,
        shape=compare_type,
        c_expr=f"({{0}} {_c_op} {{1}})",
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


def _where_write(xp, out, cond, x, y, *, scratch=None):
    if scratch is not None and _zero_branch_select(xp, out, cond, x, y, scratch[0]):
        return
    if xp.may_share_memory(out, x):  # in place on x: keep it where cond holds, y elsewhere
        xp.copyto(out, y, where=xp.logical_not(cond))
        return
    if not xp.may_share_memory(out, y):
        xp.copyto(out, y)
    xp.copyto(out, x, where=cond)


def _zero_branch_select(xp, out, cond, x, y, mask) -> bool:
    """where(cond, x, 0.0) or where(cond, 0.0, y) (the ReLU gradient) as a bitwise AND of the
    float's bits with an all-ones/all-zeros mask: exact (0.0 where not picked, NaN untouched where
    picked) and several times faster than NumPy's masked copy. False when it does not apply."""
    if out.dtype.kind != "f" or cond.shape != out.shape:
        return False
    if y.ndim == 0 and y == 0 and not xp.signbit(y) and x.shape == out.shape:
        keep, value = cond, x
    elif x.ndim == 0 and x == 0 and not xp.signbit(x) and y.shape == out.shape:
        keep, value = None, y  # picked where cond is False
    else:
        return False
    as_int = out.dtype.str.replace("f", "i")
    bits = mask.view(as_int)
    xp.copyto(bits, cond, casting="unsafe")  # 1 where cond holds, else 0 (no buffered casting)
    if keep is None:
        xp.subtract(bits, 1, out=bits)  # cond False -> -1 (all ones), True -> 0
    else:
        xp.negative(bits, out=bits)  # cond True -> -1, False -> 0
    xp.bitwise_and(value.view(as_int), bits, out=out.view(as_int))
    return True


def _where_scratch(cond: TensorType, x: TensorType, y: TensorType):
    out = _where_type(cond, x, y)
    return (out,) if is_float(out.dtype) else ()


define_op(
    "where",
    traits={ELEMENTWISE},
    arity=3,
    shape=_where_type,
    impl=lambda xp, cond, x, y: xp.where(cond, x, y),
    write=_where_write,
    inplace=(1, 2),
    scratch=_where_scratch,
    c_expr="({0} ? {1} : {2})",
    vjp=_where_vjp,
)
define_op(
    "cast",
    attrs={"dtype": Attr(str)},
    traits=UNARY_TRAITS,
    shape=lambda x, *, dtype: TensorType(x.shape, dtype),
    impl=lambda xp, x, *, dtype: x.astype(dtype, copy=False),
    write=lambda xp, out, x, *, dtype: xp.copyto(out, x, casting="unsafe"),
    inplace=(0,),
    c_expr="{0}",  # the generated kernel's assignment converts to the output type
    vjp=lambda b, g, out, x, *, dtype: (b.cast(g, dtype=x.dtype) if is_float(x.dtype) else None,),
)
