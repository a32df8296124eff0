"""Ops that move data: reshape, permute, broadcast_to, slice, slice_scatter, concat, split, pad.

Index-driven movement (gather, take and their scatter gradients) lives in `ir.ops.indexing`.
"""

from __future__ import annotations

import math

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import FUSE_BROADCAST, SHAPE, Attr, define_op, no_grad
from ir.types import TensorType


def check_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {ndim}")
    return axis % ndim


# -- reshape, permute, broadcast_to -----------------------------------------------------------
def _reshape_type(x: TensorType, *, shape) -> TensorType:
    shape = tuple(shape)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ShapeError(f"bad target shape {shape}: at most one -1 and no other negatives")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or x.size % known:
            raise ShapeError(f"cannot reshape {x.shape} into {shape}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    if math.prod(shape) != x.size:
        raise ShapeError(f"cannot reshape {x.shape} ({x.size} elements) into {shape}")
    return TensorType(shape, x.dtype)


define_op(
    "reshape",
    attrs={"shape": Attr(tuple)},
    traits={SHAPE},
    shape=_reshape_type,
    view=0,
    impl=lambda xp, x, *, shape: xp.reshape(x, shape),
    vjp=lambda b, g, out, x, *, shape: (b.reshape(g, shape=x.shape),),
)


def _permute_type(x: TensorType, *, perm) -> TensorType:
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"perm {perm} is not a permutation of the {x.ndim} axes")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


define_op(
    "permute",
    attrs={"perm": Attr(tuple)},
    traits={SHAPE},
    shape=_permute_type,
    view=0,
    impl=lambda xp, x, *, perm: xp.transpose(x, perm),
    vjp=lambda b, g, out, x, *, perm: (b.permute(g, perm=tuple(int(i) for i in np.argsort(perm))),),
)


def _broadcast_to_type(x: TensorType, *, shape) -> TensorType:
    shape = tuple(shape)
    try:
        ok = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"cannot broadcast {x.shape} to {shape}")
    return TensorType(shape, x.dtype)


define_op(
    "broadcast_to",
    attrs={"shape": Attr(tuple)},
    traits={SHAPE},
    fusion=FUSE_BROADCAST,
    view=0,
    shape=_broadcast_to_type,
    impl=lambda xp, x, *, shape: xp.broadcast_to(x, shape),
    vjp=lambda b, g, out, x, *, shape: (b.unbroadcast(g, x),),
)


# -- slice, slice_scatter -------------------------------------------------------------------------
SLICE_ATTRS = {"starts": Attr(tuple), "stops": Attr(tuple), "steps": Attr(tuple)}


def slice_shape(shape, starts, stops, steps) -> tuple[int, ...]:
    """The shape of `x[start:stop:step, ...]` (Python slice semantics; one entry per axis)."""
    if not len(starts) == len(stops) == len(steps) == len(shape):
        raise ShapeError(f"slice needs one start/stop/step per axis ({len(shape)} axes)")
    if any(step <= 0 for step in steps):
        raise ShapeError(f"slice steps must be positive, got {steps}")
    return tuple(
        len(range(*slice(a, e, s).indices(n))) for n, a, e, s in zip(shape, starts, stops, steps)
    )


def slices(starts, stops, steps) -> tuple[slice, ...]:
    return tuple(slice(a, e, s) for a, e, s in zip(starts, stops, steps))


def _slice_vjp(b, g, out, x, *, starts, stops, steps):
    if all(s == 1 for s in steps):  # contiguous: a pad is one node
        bounds = [slice(a, e).indices(n)[:2] for n, a, e in zip(x.shape, starts, stops)]
        pads = tuple((lo, n - hi if hi > lo else n - lo) for n, (lo, hi) in zip(x.shape, bounds))
        return (b.pad(g, pads=pads, value=0.0),)
    return (b.slice_scatter(b.zeros(x.type), g, starts=starts, stops=stops, steps=steps),)


define_op(
    "slice",
    attrs=SLICE_ATTRS,
    traits={SHAPE},
    shape=lambda x, *, starts, stops, steps: TensorType(
        slice_shape(x.shape, starts, stops, steps), x.dtype
    ),
    view=0,
    impl=lambda xp, x, *, starts, stops, steps: x[slices(starts, stops, steps)],
    vjp=_slice_vjp,
)


def _slice_scatter_type(base: TensorType, src: TensorType, *, starts, stops, steps) -> TensorType:
    region = slice_shape(base.shape, starts, stops, steps)
    if src.shape != region or src.dtype != base.dtype:
        raise ShapeError(
            f"source {src} does not fit the slice region {TensorType(region, base.dtype)}"
        )
    return base


def _slice_scatter_impl(xp, base, src, *, starts, stops, steps):
    out = xp.array(base, copy=True)
    out[slices(starts, stops, steps)] = src
    return out


def _slice_scatter_write(xp, out, base, src, *, starts, stops, steps):
    if not xp.may_share_memory(out, base):
        xp.copyto(out, base)
    out[slices(starts, stops, steps)] = src


def _slice_scatter_vjp(b, g, out, base, src, **region):
    return b.slice_scatter(g, b.zeros(src.type), **region), b.slice(g, **region)


define_op(
    "slice_scatter",
    attrs=SLICE_ATTRS,
    traits={SHAPE},
    arity=2,
    shape=_slice_scatter_type,
    impl=_slice_scatter_impl,
    write=_slice_scatter_write,
    inplace=(0,),
    vjp=_slice_scatter_vjp,
    doc="`base` with the slice region replaced by `src`.",
)


# -- concat, split -------------------------------------------------------------------------------
def _concat_type(*xs: TensorType, axis) -> TensorType:
    if not xs:
        raise ShapeError("concat needs at least one operand")
    first = xs[0]
    axis = check_axis(axis, first.ndim)
    for x in xs[1:]:
        same = x.ndim == first.ndim and all(
            d == e for i, (d, e) in enumerate(zip(x.shape, first.shape)) if i != axis
        )
        if not same or x.dtype != first.dtype:
            raise ShapeError(f"operands must match except along axis {axis}: {first} vs {x}")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return TensorType(tuple(shape), first.dtype)


def _concat_vjp(b, g, out, *xs, axis):
    axis = axis % g.type.ndim
    grads, offset = [], 0
    for x in xs:
        starts = tuple(offset if i == axis else 0 for i in range(g.type.ndim))
        stops = tuple(offset + x.shape[axis] if i == axis else d for i, d in enumerate(g.shape))
        grads.append(b.slice(g, starts=starts, stops=stops, steps=(1,) * g.type.ndim))
        offset += x.shape[axis]
    return tuple(grads)


define_op(
    "concat",
    attrs={"axis": Attr(int)},
    traits={SHAPE},
    arity=None,
    shape=_concat_type,
    impl=lambda xp, *xs, axis: xp.concatenate(xs, axis=axis),
    write=lambda xp, out, *xs, axis: xp.concatenate(xs, axis=axis, out=out),
    vjp=_concat_vjp,
)


def _split_type(x: TensorType, *, sizes, axis):
    axis = check_axis(axis, x.ndim)
    if any(s < 0 for s in sizes) or sum(sizes) != x.shape[axis]:
        raise ShapeError(
            f"sizes {sizes} do not add up to dimension {axis} of length {x.shape[axis]}"
        )
    return tuple(
        TensorType(tuple(s if i == axis else d for i, d in enumerate(x.shape)), x.dtype)
        for s in sizes
    )


def _split_impl(xp, x, *, sizes, axis):
    bounds = np.cumsum(sizes)[:-1].tolist()
    return tuple(xp.split(x, bounds, axis=axis))


define_op(
    "split",
    attrs={"sizes": Attr(tuple), "axis": Attr(int)},
    traits={SHAPE},
    shape=_split_type,
    view=0,
    impl=_split_impl,
    vjp=lambda b, g, out, x, *, sizes, axis: (b.concat(*g, axis=axis),),
)


# -- pad ------------------------------------------------------------------------------------------
def _pad_type(x: TensorType, *, pads, value) -> TensorType:
    if len(pads) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ShapeError(
            f"pads {pads} must give one non-negative (lo, hi) pair per axis ({x.ndim})"
        )
    return TensorType(tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pads)), x.dtype)


def _pad_vjp(b, g, out, x, *, pads, value):
    starts = tuple(lo for lo, _ in pads)
    stops = tuple(lo + d for (lo, _), d in zip(pads, x.shape))
    return (b.slice(g, starts=starts, stops=stops, steps=(1,) * len(pads)),)


def _pad_write(xp, out, x, *, pads, value):
    out.fill(value)
    out[tuple(slice(lo, lo + d) for (lo, _), d in zip(pads, x.shape))] = x


define_op(
    "pad",
    attrs={"pads": Attr(tuple), "value": Attr((int, float, bool), 0.0)},
    traits={SHAPE},
    shape=_pad_type,
    impl=lambda xp, x, *, pads, value: xp.pad(x, pads, constant_values=value),
    write=_pad_write,
    vjp=_pad_vjp,
    doc="Constant padding: `pads` = ((lo, hi), ...) one pair per axis.",
)


# -- flip -----------------------------------------------------------------------------------------
def _flip_type(x: TensorType, *, axes) -> TensorType:
    axes = [check_axis(a, x.ndim) for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {axes}")
    return x


define_op(
    "flip",
    attrs={"axes": Attr(tuple)},
    traits={SHAPE},
    shape=_flip_type,
    view=0,
    impl=lambda xp, x, *, axes: xp.flip(x, axis=axes),
    write=lambda xp, out, x, *, axes: xp.copyto(out, xp.flip(x, axis=axes)),
    vjp=lambda b, g, out, x, *, axes: (b.flip(g, axes=axes),),
    doc="x reversed along `axes` (a view with negative strides in NumPy).",
)


# -- bitcast --------------------------------------------------------------------------------------
def _bitcast_type(x: TensorType, *, dtype) -> TensorType:
    to = TensorType((), dtype)
    size, new = x.np_dtype.itemsize, to.np_dtype.itemsize
    if size == new:
        return TensorType(x.shape, dtype)
    if x.ndim == 0 or (x.shape[-1] * size) % new:
        raise ShapeError(
            f"cannot view {x} as {dtype}: the last dimension's bytes ({x.shape[-1:]} x {size}) "
            f"must be a multiple of {new}"
        )
    return TensorType((*x.shape[:-1], x.shape[-1] * size // new), dtype)


define_op(
    "bitcast",
    attrs={"dtype": Attr(str)},
    shape=_bitcast_type,
    view=0,
    impl=lambda xp, x, *, dtype: xp.ascontiguousarray(x).view(dtype),
    vjp=no_grad,
    doc="The same bytes read as `dtype` (the last dimension rescales when item sizes differ).",
)
