"""Reductions over axes with keepdims: sum, prod, max, min, argmax, argmin."""

from __future__ import annotations

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import REDUCTION, Attr, define_op, no_grad
from ir.types import TensorType

AXES_ATTRS = {"axes": Attr((tuple, type(None)), None), "keepdims": Attr(bool, False)}
AXIS_ATTRS = {"axis": Attr(int), "keepdims": Attr(bool, False)}


def normalize_axes(axes, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes; None means all. Raise ShapeError on out-of-range or repeats."""
    if axes is None:
        return tuple(range(ndim))
    out = []
    for axis in axes:
        if not isinstance(axis, int) or not -ndim <= axis < ndim:
            raise ShapeError(f"axis {axis!r} is out of range for rank {ndim}")
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(out))


def reduced_shape(shape, axes, keepdims) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_type(x: TensorType, *, axes, keepdims) -> TensorType:
    if x.dtype == "bool":
        raise ShapeError("cannot reduce a bool tensor; cast it first")
    axes = normalize_axes(axes, x.ndim)
    return TensorType(reduced_shape(x.shape, axes, keepdims), x.dtype)


def _extremum_type(x: TensorType, *, axes, keepdims) -> TensorType:
    out = _reduce_type(x, axes=axes, keepdims=keepdims)
    for axis in normalize_axes(axes, x.ndim):
        if x.shape[axis] == 0:
            raise ShapeError(f"max/min over empty axis {axis}")
    return out


def _arg_type(x: TensorType, *, axis, keepdims) -> TensorType:
    (axis,) = normalize_axes((axis,), x.ndim)
    if x.shape[axis] == 0:
        raise ShapeError(f"argmax/argmin over empty axis {axis}")
    return TensorType(reduced_shape(x.shape, (axis,), keepdims), "int64")


def _keep(b, v, x: TensorType, axes):
    """`v` reshaped to the keepdims shape of reducing `x` over `axes` (no-op if it already is)."""
    shape = reduced_shape(x.shape, normalize_axes(axes, x.ndim), True)
    return v if v.shape == shape else b.reshape(v, shape=shape)


def _sum_vjp(b, g, out, x, *, axes, keepdims):
    return (b.broadcast_to(_keep(b, g, x.type, axes), shape=x.shape),)


def _extremum_vjp(b, g, out, x, *, axes, keepdims):
    # Split evenly among the elements that attain the extremum, NaNs when the extremum is NaN
    # (PyTorch's rule for max()/min(); its amax/amin give NaN gradients there instead).
    kept = _keep(b, out, x.type, axes)
    nan_hits = b.mul(b.cast(b.ne(x, x), dtype=x.dtype), b.cast(b.ne(kept, kept), dtype=x.dtype))
    hits = b.add(b.cast(b.eq(x, kept), dtype=x.dtype), nan_hits)
    count = b.sum(hits, axes=axes, keepdims=True)
    return (b.mul(b.div(_keep(b, g, x.type, axes), count), hits),)


def _reducer(name: str, keep_dtype: bool = False, ufunc=None):
    """(impl, write) of `xp.<name>(x, axis=axes, keepdims=keepdims)`; NumPy returns scalars for
    full reductions, the kernels always give arrays. `ufunc`: the NumPy ufunc whose reduce
    `name` is (what `write` calls on NumPy arrays)."""

    def extra(x) -> dict:
        # float16 accumulates in float32 (as PyTorch's CPU kernels do), rounded once at the end.
        return {"dtype": "float32" if x.dtype == "float16" else x.dtype} if keep_dtype else {}

    def impl(xp, x, *, axes, keepdims):
        result = getattr(xp, name)(x, axis=axes, keepdims=keepdims, **extra(x))
        return xp.asarray(result).astype(x.dtype, copy=False)

    def write(xp, out, x, *, axes, keepdims):
        if xp is np and ufunc is not None:  # the ufunc's own reduce: no Python wrapper layers
            ufunc.reduce(x, axis=axes, keepdims=keepdims, out=out, **extra(x))
        else:
            getattr(xp, name)(x, axis=axes, keepdims=keepdims, out=out, **extra(x))

    return impl, write


def _arg_reducer(name: str):
    def impl(xp, x, *, axis, keepdims):
        result = getattr(xp, name)(x, axis=axis, keepdims=keepdims)
        return xp.asarray(result).astype("int64", copy=False)

    def write(xp, out, x, *, axis, keepdims):
        getattr(xp, name)(x, axis=axis, keepdims=keepdims, out=out)

    return impl, write


_sum_impl, _sum_write = _reducer("sum", keep_dtype=True, ufunc=np.add)
define_op(
    "sum",
    attrs=AXES_ATTRS,
    traits={REDUCTION},
    shape=_reduce_type,
    impl=_sum_impl,
    write=_sum_write,
    vjp=_sum_vjp,
)
def _prod_vjp(b, g, out, x, *, axes, keepdims):
    """d prod / d x_i = the product of the others, computed without dividing by a zero: with zeros
    replaced by ones (xs), it is prod(xs) / xs_i where x holds no other zero, else 0."""
    zero, one = b.scalar_like(0, x), b.scalar_like(1, x)
    is_zero = b.cast(b.eq(x, zero), dtype=x.dtype)
    xs = b.where(b.eq(x, zero), one, x)
    others_zero = b.sub(b.sum(is_zero, axes=axes, keepdims=True), is_zero)
    rest = b.div(b.prod(xs, axes=axes, keepdims=True), xs)
    slope = b.where(b.eq(others_zero, zero), rest, zero)
    return (b.mul(_keep(b, g, x.type, axes), slope),)


_prod_impl, _prod_write = _reducer("prod", keep_dtype=True, ufunc=np.multiply)
define_op(
    "prod",
    attrs=AXES_ATTRS,
    traits={REDUCTION},
    shape=_reduce_type,
    impl=_prod_impl,
    write=_prod_write,
    vjp=_prod_vjp,
)
_max_impl, _max_write = _reducer("max", ufunc=np.maximum)
define_op(
    "max",
    attrs=AXES_ATTRS,
    traits={REDUCTION},
    shape=_extremum_type,
    impl=_max_impl,
    write=_max_write,
    vjp=_extremum_vjp,
)
_min_impl, _min_write = _reducer("min", ufunc=np.minimum)
define_op(
    "min",
    attrs=AXES_ATTRS,
    traits={REDUCTION},
    shape=_extremum_type,
    impl=_min_impl,
    write=_min_write,
    vjp=_extremum_vjp,
)
_argmax_impl, _argmax_write = _arg_reducer("argmax")
define_op(
    "argmax",
    attrs=AXIS_ATTRS,
    traits={REDUCTION},
    shape=_arg_type,
    impl=_argmax_impl,
    write=_argmax_write,
    vjp=no_grad,
)
_argmin_impl, _argmin_write = _arg_reducer("argmin")
define_op(
    "argmin",
    attrs=AXIS_ATTRS,
    traits={REDUCTION},
    shape=_arg_type,
    impl=_argmin_impl,
    write=_argmin_write,
    vjp=no_grad,
)
