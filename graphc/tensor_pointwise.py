"""Tensor methods that compute elementwise beyond arithmetic: logs, exponentials, trigonometry,
rounding, the division family (`//`, `%`, fmod, div with rounding modes), lerp, and the
NaN/inf tests (isnan, isclose, nan_to_num).
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dispatch
from graphc.dtypes import bool_, float64, get_default_dtype
from graphc.tensor_math import (
    _binary,
    _ok,
    _operand,
    _type_name,
    _unary_float,
    operator_method,
    where,
)

INF = float("inf")


def _rounding(op: str):
    def method(self):
        if self.dtype is bool_:
            raise NotImplementedError(f'"{op}_cpu" not implemented for \'Bool\'')
        return dispatch.apply(op, self)

    method.__name__ = op
    method.__doc__ = f"Elementwise {op}; integer tensors are returned unchanged."
    return method


def _check_int_divisor(a, b) -> None:
    """PyTorch raises on integer division by zero (NumPy would give 0); eager values only."""
    if isinstance(b, PointwiseMixin) and b._data is None:
        return
    divisor = b._data if isinstance(b, PointwiseMixin) else np.asarray(b)
    if dispatch.common_dtype(a, b).is_floating_point or divisor.dtype.kind == "f":
        return
    dividend = np.shape(a._data if isinstance(a, PointwiseMixin) else a)
    if (divisor == 0).any() and math.prod(np.broadcast_shapes(dividend, divisor.shape)):
        raise RuntimeError("ZeroDivisionError")


def _division(op: str, a, b):
    """floor_divide, fmod or remainder of Tensors/scalars, promoted as PyTorch does."""
    if not (_ok(a) and _ok(b)):
        return NotImplemented
    a, b = _operand(a), _operand(b)
    dtype = dispatch.common_dtype(a, b)
    if dtype is bool_:
        raise NotImplementedError(f'"{op}_cpu" not implemented for \'Bool\'')
    _check_int_divisor(a, b)
    return _binary(op, a, b, dtype)


def _division_method(op: str, reflected: bool = False):
    return operator_method(op, reflected, _division)


def _unbounded(dtype, sign: int):
    """The clamp bound that limits nothing on one side: +-inf, or the integer dtype's extreme."""
    if dtype.is_floating_point:
        return sign * INF
    info = np.iinfo(dtype.np)
    return info.max if sign > 0 else info.min


def _all(x, value: bool):
    """A bool tensor of x's shape holding `value` (for the NaN tests of integer tensors)."""
    return dispatch.apply("ne" if not value else "eq", x, x)


class PointwiseMixin:
    __slots__ = ()

    log2 = _unary_float("log2")
    log10 = _unary_float("log10")
    log1p = _unary_float("log1p")
    exp2 = _unary_float("exp2")
    expm1 = _unary_float("expm1")
    tan = _unary_float("tan")
    asin = arcsin = _unary_float("asin")
    acos = arccos = _unary_float("acos")
    atan = arctan = _unary_float("atan")
    sinh = _unary_float("sinh")
    cosh = _unary_float("cosh")
    asinh = arcsinh = _unary_float("asinh")
    acosh = arccosh = _unary_float("acosh")
    atanh = arctanh = _unary_float("atanh")
    erfinv = _unary_float("erfinv")
    floor = _rounding("floor")
    ceil = _rounding("ceil")
    trunc = fix = _rounding("trunc")

    def round(self, decimals: int = 0):
        """Round halves to even; with `decimals`, to that many decimal places (as PyTorch)."""
        if self.dtype is bool_:
            raise NotImplementedError("\"round_cpu\" not implemented for 'Bool'")
        if decimals == 0 or not self.dtype.is_floating_point:
            return dispatch.apply("round", self)
        scale = dispatch.scalar(10.0 ** abs(decimals), self.dtype)
        if decimals > 0:
            return dispatch.apply("round", self * scale) / scale
        return dispatch.apply("round", self / scale) * scale

    def frac(self):
        if not self.dtype.is_floating_point:
            name = _type_name(self.dtype)
            raise NotImplementedError(f'"frac_cpu" not implemented for \'{name}\'')
        return self - self.trunc()

    def reciprocal(self):
        x = self if self.dtype.is_floating_point else dispatch.cast(self, get_default_dtype())
        return 1.0 / x

    # -- the division family -----------------------------------------------------------------------
    __floordiv__ = floor_divide = _division_method("floor_divide")
    __rfloordiv__ = _division_method("floor_divide", reflected=True)
    __mod__ = remainder = _division_method("remainder")
    __rmod__ = _division_method("remainder", reflected=True)
    fmod = _division_method("fmod")

    def div(self, other, *, rounding_mode=None):
        """True division, or rounded to an integer with rounding_mode 'trunc' or 'floor'."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return _division("floor_divide", self, other)
        if rounding_mode != "trunc":
            raise ValueError(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"'{rounding_mode}'"
            )
        if dispatch.common_dtype(self, _operand(other)).is_floating_point:
            return (self / other).trunc()
        # Integers: x - fmod(x, y) is an exact multiple of y, so flooring it divides exactly.
        return _division("floor_divide", self - _division("fmod", self, other), other)

    divide = true_divide = div

    def __ifloordiv__(self, other):
        return self._assign(self // other) if _ok(other) else NotImplemented

    def __imod__(self, other):
        return self._assign(self % other) if _ok(other) else NotImplemented

    def div_(self, other, *, rounding_mode=None):
        return self._assign(self.div(other, rounding_mode=rounding_mode))

    # -- interpolation and clamping ----------------------------------------------------------------
    def lerp(self, end, weight):
        """start + weight * (end - start), evaluated as PyTorch does for accuracy near weight 1."""
        diff = end - self
        if not isinstance(weight, PointwiseMixin):
            return self + diff * weight if abs(weight) < 0.5 else end - diff * (1 - weight)
        low = weight.abs() < 0.5
        return where(low, self + diff * weight, end - diff * (1 - weight))

    def clamp(self, min=None, max=None):
        """Values limited to [min, max] (either may be None, a number or a tensor), by the clamp
        op: NaN stays NaN, and the gradient masks are PyTorch's."""
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        dtype = dispatch.common_dtype(*(v for v in (self, min, max) if v is not None))
        low = _unbounded(dtype, -1) if min is None else min
        high = _unbounded(dtype, 1) if max is None else max
        return dispatch.apply("clamp", *dispatch.promote(self, low, high, dtype=dtype))

    clip = clamp

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def clamp_(self, min=None, max=None):
        return self._assign(self.clamp(min, max))

    clip_ = clamp_

    # -- NaN and inf -------------------------------------------------------------------------------
    def isnan(self):
        return dispatch.apply("ne", self, self)  # only NaN differs from itself

    def isinf(self):
        return self.abs() == INF if self.dtype.is_floating_point else _all(self, False)

    def isposinf(self):
        return self == INF if self.dtype.is_floating_point else _all(self, False)

    def isneginf(self):
        return self == -INF if self.dtype.is_floating_point else _all(self, False)

    def isfinite(self):
        return self.abs() < INF if self.dtype.is_floating_point else _all(self, True)

    def nan_to_num(self, nan: float = 0.0, posinf=None, neginf=None):
        """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (default: the dtype's
        largest and smallest finite values)."""
        if not self.dtype.is_floating_point:
            return self.clone()
        info = np.finfo(self.dtype.np)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf
        x = where(self.isnan(), nan, self)
        x = where(x == INF, posinf, x)
        return where(x == -INF, neginf, x)

    def nan_to_num_(self, nan: float = 0.0, posinf=None, neginf=None):
        return self._assign(self.nan_to_num(nan, posinf, neginf))

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        """|self - other| <= atol + rtol * |other| elementwise, as PyTorch computes it."""
        if self.dtype is not other.dtype:
            raise RuntimeError(f"{_type_name(self.dtype)} did not match {_type_name(other.dtype)}")
        close = self == other
        if self.dtype is bool_:
            return close
        a, b = self, other
        if not a.dtype.is_floating_point:
            a, b = dispatch.cast(a, float64), dispatch.cast(b, float64)
        if equal_nan:
            close = close | (a.isnan() & b.isnan())
        error = (a - b).abs()
        return close | (error.isfinite() & (error <= atol + (b * rtol).abs()))

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        return bool(self.isclose(other, rtol, atol, equal_nan).all())
