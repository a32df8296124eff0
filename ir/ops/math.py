"""More elementwise math: logs and exponentials, trigonometric and hyperbolic functions and their
inverses, erfinv, erfc, rounding, the division family (floor_divide, fmod, remainder) and
the two-argument atan2, hypot and copysign.

Each is one NumPy/CuPy ufunc. Gradients follow PyTorch: rounding and floor division are constant
almost everywhere (zero gradient, never NaN), fmod and remainder pass the gradient to the dividend.
"""

from __future__ import annotations

import math

from ir.ops.elementwise import (
    BINARY_TRAITS,
    UNARY_TRAITS,
    define_special,
    define_ufunc,
    float_binary,
    numeric_binary,
    same_float,
    same_numeric,
)
from ir.ops.registry import IDEMPOTENT, define_op


def _unary(name, np_name, c_expr, slope):
    """A float ufunc whose gradient is g * slope(b, out, x)."""
    define_ufunc(
        name, np_name,
        traits=UNARY_TRAITS,
        shape=same_float,
        c_expr=c_expr,
        vjp=lambda b, g, out, x: (b.mul(g, slope(b, out, x)),),
    )


def _const(b, value, like):
    return b.scalar_like(value, like)


def _inv_sqrt(b, v):
    return b.div(_const(b, 1, v), b.sqrt(v))


def _one_minus_square(b, x):
    return b.sub(_const(b, 1, x), b.mul(x, x))


_unary("log2", "log2", "log2({0})",
       lambda b, out, x: b.div(_const(b, 1 / math.log(2), x), x))
_unary("log10", "log10", "log10({0})",
       lambda b, out, x: b.div(_const(b, 1 / math.log(10), x), x))
_unary("log1p", "log1p", "log1p({0})",
       lambda b, out, x: b.div(_const(b, 1, x), b.add(x, _const(b, 1, x))))
_unary("exp2", "exp2", "exp2({0})",
       lambda b, out, x: b.mul(out, _const(b, math.log(2), out)))
_unary("expm1", "expm1", "expm1({0})",
       lambda b, out, x: b.add(out, _const(b, 1, out)))
_unary("tan", "tan", "tan({0})",
       lambda b, out, x: b.add(b.mul(out, out), _const(b, 1, out)))
_unary("asin", "arcsin", "asin({0})",
       lambda b, out, x: _inv_sqrt(b, _one_minus_square(b, x)))
_unary("acos", "arccos", "acos({0})",
       lambda b, out, x: b.neg(_inv_sqrt(b, _one_minus_square(b, x))))
_unary("atan", "arctan", "atan({0})",
       lambda b, out, x: b.div(_const(b, 1, x), b.add(b.mul(x, x), _const(b, 1, x))))
_unary("sinh", "sinh", "sinh({0})", lambda b, out, x: b.cosh(x))
_unary("cosh", "cosh", "cosh({0})", lambda b, out, x: b.sinh(x))
_unary("asinh", "arcsinh", "asinh({0})",
       lambda b, out, x: _inv_sqrt(b, b.add(b.mul(x, x), _const(b, 1, x))))
_unary("acosh", "arccosh", "acosh({0})",  # 1 / sqrt((x - 1)(x + 1)), as PyTorch writes it
       lambda b, out, x: _inv_sqrt(b, b.mul(b.sub(x, _const(b, 1, x)), b.add(x, _const(b, 1, x)))))
_unary("atanh", "arctanh", "atanh({0})",
       lambda b, out, x: b.div(_const(b, 1, x), _one_minus_square(b, x)))

define_special(
    "erfinv", "erfinv",
    c_expr="erfinv({0})",
    # d/dx erfinv(x) = sqrt(pi) / 2 * exp(erfinv(x)^2)
    vjp=lambda b, g, out, x: (
        b.mul(g, b.mul(_const(b, math.sqrt(math.pi) / 2, x), b.exp(b.mul(out, out)))),
    ),
)


# -- rounding: integers pass through unchanged (NumPy's would turn them into floats) -------------
def _rounding(name, np_name):
    def impl(xp, x):
        return getattr(xp, np_name)(x) if x.dtype.kind == "f" else xp.array(x, copy=True)

    def write(xp, out, x):
        if x.dtype.kind == "f":
            getattr(xp, np_name)(x, out=out)
        else:
            xp.copyto(out, x)

    define_op(
        name,
        traits=UNARY_TRAITS | {IDEMPOTENT},
        shape=same_numeric,
        impl=impl,
        write=write,
        inplace=(0,),
        c_expr=f"{np_name}({{0}})",
        vjp=lambda b, g, out, x: (b.zeros(x.type),),  # constant almost everywhere
        doc=f"{name}, elementwise; integer operands are returned as they are.",
    )


_rounding("floor", "floor")
_rounding("ceil", "ceil")
_rounding("trunc", "trunc")
_rounding("round", "rint")  # halves to even, as PyTorch


# -- the division family ---------------------------------------------------------------------------
def _zero_grads(b, g, out, x, y):
    return b.zeros(x.type), b.zeros(y.type)


define_ufunc(
    "floor_divide", "floor_divide",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    c_expr="floor((double){0} / (double){1})",
    identity={1: 1},
    vjp=_zero_grads,  # PyTorch: constant almost everywhere
    doc="floor(x / y) (Python's //); integer division by zero gives 0 here, front ends check.",
)


def _modulo_vjp(quotient):
    """Gradient of x - quotient(x / y) * y: g to x, -g * quotient(x / y) to y."""

    def vjp(b, g, out, x, y):
        gy = b.neg(b.mul(g, b.emit(quotient, b.div(x, y))))
        return b.unbroadcast(g, x), b.unbroadcast(gy, y)

    return vjp


define_ufunc(
    "fmod", "fmod",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    c_expr="fmod({0}, {1})",
    vjp=_modulo_vjp("trunc"),
    doc="C's remainder: the sign of the dividend.",
)
define_ufunc(
    "remainder", "remainder",
    traits=BINARY_TRAITS,
    arity=2,
    shape=numeric_binary,
    c_expr="(fmod({0}, {1}) != 0 && ((fmod({0}, {1}) < 0) != ({1} < 0))"
           " ? fmod({0}, {1}) + {1} : fmod({0}, {1}))",
    vjp=_modulo_vjp("floor"),
    doc="Python's %: the sign of the divisor.",
)


# -- two-argument float functions ------------------------------------------------------------------
def _atan2_vjp(b, g, out, y, x):
    # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
    scale = b.div(g, b.add(b.mul(x, x), b.mul(y, y)))
    return b.unbroadcast(b.mul(scale, x), y), b.unbroadcast(b.neg(b.mul(scale, y)), x)


define_ufunc(
    "atan2", "arctan2",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    c_expr="atan2({0}, {1})",
    vjp=_atan2_vjp,
    doc="The angle of the point (x, y) = (operand 1, operand 0), in (-pi, pi].",
)


def _hypot_vjp(b, g, out, x, y):
    # d hypot = (x dx + y dy) / hypot; PyTorch's 0/0 at the origin is kept (NaN), as it does.
    scale = b.div(g, out)
    return b.unbroadcast(b.mul(scale, x), x), b.unbroadcast(b.mul(scale, y), y)


define_ufunc(
    "hypot", "hypot",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    c_expr="hypot({0}, {1})",
    vjp=_hypot_vjp,
    doc="sqrt(x^2 + y^2) without overflow or underflow.",
)


def _copysign_vjp(b, g, out, x, y):
    # PyTorch: the gradient to x is g * (out / x), 0 where x is 0; y gets none.
    zero = b.scalar_like(0, x)
    at_zero = b.eq(x, zero)
    ratio = b.where(at_zero, zero, b.div(out, b.where(at_zero, b.scalar_like(1, x), x)))
    return b.unbroadcast(b.mul(g, ratio), x), b.zeros(y.type)


define_ufunc(
    "copysign", "copysign",
    traits=BINARY_TRAITS,
    arity=2,
    shape=float_binary,
    c_expr="copysign({0}, {1})",
    vjp=_copysign_vjp,
    doc="|x| with the sign (bit) of y.",
)
define_special(
    "erfc", "erfc",
    c_expr="erfc({0})",
    vjp=lambda b, g, out, x: (b.mul(g, b.mul(b.scalar_like(-2 / math.sqrt(math.pi), x),
                                             b.exp(b.neg(b.mul(x, x))))),),
)
