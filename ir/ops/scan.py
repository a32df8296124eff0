"""Scans along one axis: cumsum, cumprod, and cummax/cummin with the index of each running
extremum.

cumprod's gradient handles zeros exactly (as PyTorch's does) with scans alone, and each running
extremum sends its gradient to the position it came from, so every rule stays in the op set.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import Attr, define_op
from ir.ops.shape import check_axis
from ir.types import TensorType

AXIS = {"axis": Attr(int)}


def _scan_type(x: TensorType, *, axis) -> TensorType:
    check_axis(axis, x.ndim)
    if x.dtype == "bool":
        raise ShapeError("cannot scan a bool tensor; cast it first")
    return x


def reverse_cumsum(b, v, axis: int):
    """sum over positions k >= i along `axis` (cumsum from the end)."""
    return b.flip(b.cumsum(b.flip(v, axes=(axis,)), axis=axis), axes=(axis,))


def _accumulate(name):
    """(impl, write) of `xp.<name>(x, axis, dtype=x.dtype)`."""

    def impl(xp, x, *, axis):
        return getattr(xp, name)(x, axis=axis, dtype=x.dtype)

    def write(xp, out, x, *, axis):
        getattr(xp, name)(x, axis=axis, dtype=x.dtype, out=out)

    return impl, write


_cumsum_impl, _cumsum_write = _accumulate("cumsum")
define_op(
    "cumsum",
    attrs=AXIS,
    shape=_scan_type,
    impl=_cumsum_impl,
    write=_cumsum_write,
    inplace=(0,),
    vjp=lambda b, g, out, x, *, axis: (reverse_cumsum(b, g, axis),),
    doc="Running sum along `axis`.",
)


def _cumprod_vjp(b, g, out, x, *, axis):
    """d out_k / d x_i = prod_{j <= k, j != i} x_j, computed without dividing by a zero.

    With zeros replaced by ones (xs), q = cumprod(xs) and c = the running count of zeros:
    a nonzero x_i gets sum_{k >= i, c_k = 0} g_k q_k / x_i; the first zero gets
    sum_{k >= i, c_k = 1} g_k q_k; every other element gets 0.
    """
    zero, one = b.scalar_like(0, x), b.scalar_like(1, x)
    is_zero = b.eq(x, zero)
    xs = b.where(is_zero, one, x)
    gq = b.mul(g, b.cumprod(xs, axis=axis))
    zeros_so_far = b.cumsum(b.cast(is_zero, dtype=x.dtype), axis=axis)
    before = reverse_cumsum(b, b.where(b.eq(zeros_so_far, zero), gq, zero), axis)
    at_first = reverse_cumsum(b, b.where(b.eq(zeros_so_far, one), gq, zero), axis)
    return (b.where(is_zero, at_first, b.div(before, xs)),)


_cumprod_impl, _cumprod_write = _accumulate("cumprod")
define_op(
    "cumprod",
    attrs=AXIS,
    shape=_scan_type,
    impl=_cumprod_impl,
    write=_cumprod_write,
    inplace=(0,),
    vjp=_cumprod_vjp,
    doc="Running product along `axis`.",
)


def _cum_extremum(ufunc):
    """impl of cummax/cummin: running extremum (NaN propagates) and the index it was taken from
    (the latest on ties, and each later NaN, as PyTorch)."""

    def impl(xp, x, *, axis):
        values = getattr(xp, ufunc).accumulate(x, axis=axis)
        n = x.shape[axis]
        positions = xp.arange(n).reshape([n if i == axis % x.ndim else 1 for i in range(x.ndim)])
        taken = (x == values) | xp.isnan(x) if x.dtype.kind == "f" else x == values
        index = xp.maximum.accumulate(xp.where(taken, positions, 0), axis=axis)
        return values, index.astype("int64", copy=False)

    return impl


def _cum_extremum_type(x: TensorType, *, axis):
    x = _scan_type(x, axis=axis)
    return x, TensorType(x.shape, "int64")


def _cum_extremum_vjp(b, g, out, x, *, axis):
    return (b.scatter_add(b.zeros(x.type), out[1], g[0], axis=axis),)


for _name, _ufunc in (("cummax", "maximum"), ("cummin", "minimum")):
    define_op(
        _name,
        attrs=AXIS,
        shape=_cum_extremum_type,
        impl=_cum_extremum(_ufunc),
        vjp=_cum_extremum_vjp,
        doc=f"(running {_ufunc}, its index) along `axis`.",
    )
