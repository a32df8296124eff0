"""Index-driven ops: gather/scatter_add (along an axis), take/index_add (rows by index), and
check_target, the bounds check of the losses' class indices (eager and compiled alike).

Each scatter is the gradient of its gather, and each gather the gradient of its scatter, so the set
is closed under differentiation. Scatters accumulate in the data's own dtype, one addition at a
time in index order as PyTorch's CPU kernels do (`numpy.add.at`; CuPy's `scatter_add` on the GPU).
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import FUSE_INJECTIVE, Attr, define_op, no_grad
from ir.ops.shape import check_axis
from ir.types import TensorType

AXIS = {"axis": Attr(int)}


def _check_index(idx: TensorType) -> None:
    if idx.dtype not in ("int64", "int32"):
        raise ShapeError(f"indices must be int64 or int32, got {idx.dtype}")


def _wrap(xp, idx, n: int, axis: int):
    """Indices with negatives counted from the end, as int64; an index outside [-n, n) is
    PyTorch's IndexError (never wrapped twice, never carried into the next row)."""
    idx = idx.astype("int64", copy=False)
    if idx.size:
        low, high = int(idx.min()), int(idx.max())
        if low < -n or high >= n:
            raise IndexError(f"index {low if low < -n else high} is out of bounds for "
                             f"dimension {axis} with size {n}")
    return xp.where(idx < 0, idx + n, idx)


def _accumulate(xp, base, linear, src):
    """`base` plus `src` added at flat positions `linear` (repeats accumulate)."""
    out = xp.array(base, copy=True, order="C")  # C order: its reshape(-1) is a view
    _add_at(xp, out.reshape(-1), linear.ravel(), src.ravel())
    return out


def _add_at(xp, flat, positions, values) -> None:
    if xp.__name__ == "numpy":
        xp.add.at(flat, positions, values)
    else:
        import cupyx

        cupyx.scatter_add(flat, positions, values)


# -- gather (take_along_axis), scatter, scatter_add, scatter_reduce --------------------------------
def _gather_type(x: TensorType, idx: TensorType, *, axis) -> TensorType:
    _check_index(idx)
    axis = check_axis(axis, x.ndim)
    if idx.ndim != x.ndim or any(
        d > e for i, (d, e) in enumerate(zip(idx.shape, x.shape)) if i != axis
    ):
        raise ShapeError(f"indices {idx.shape} must not exceed {x.shape} except along axis {axis}")
    return TensorType(idx.shape, x.dtype)


def _gather_impl(xp, x, idx, *, axis):
    # Indices may cover only a corner of x off the axis (PyTorch's rule): read that corner.
    axis %= x.ndim
    corner = tuple(slice(None) if i == axis else slice(0, d) for i, d in enumerate(idx.shape))
    return xp.take_along_axis(x[corner], _wrap(xp, idx, x.shape[axis], axis), axis=axis)


def _gather_write(xp, out, x, idx, *, axis):
    out[...] = _gather_impl(xp, x, idx, axis=axis)
    return out


define_op(
    "gather",
    attrs=AXIS,
    arity=2,
    fusion=FUSE_INJECTIVE,
    shape=_gather_type,
    impl=_gather_impl,
    write=_gather_write,
    vjp=lambda b, g, out, x, idx, *, axis: (
        b.scatter_add(b.zeros(x.type), idx, g, axis=axis),
        None,
    ),
    doc="out[..., i, ...] = x[..., idx[..., i, ...], ...] along `axis` (NumPy take_along_axis); "
        "idx may be smaller than x off the axis.",
)


def _scatter_type(base: TensorType, idx: TensorType, src: TensorType, *, axis, **_) -> TensorType:
    _gather_type(base, idx, axis=axis)
    if src.shape != idx.shape or src.dtype != base.dtype:
        raise ShapeError(
            f"source {src} must have the indices' shape {idx.shape} and dtype {base.dtype}"
        )
    return base


def flat_positions(xp, shape, idx, axis):
    """Flat positions in an array of `shape` of the elements idx[..., i, ...] addresses along
    `axis` (the other coordinates are idx's own)."""
    axis = axis % len(shape)
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    linear = _wrap(xp, idx, shape[axis], axis) * strides[axis]
    for i, n in enumerate(idx.shape):
        if i != axis:
            coordinate = xp.arange(n).reshape([-1 if j == i else 1 for j in range(idx.ndim)])
            linear = linear + coordinate * strides[i]
    return linear


def _scatter_add_write(xp, out, base, idx, src, *, axis):
    # Into `out` itself: copy base, then add in place at the flat positions.
    if not out.flags.c_contiguous:
        out[...] = _accumulate(xp, base, flat_positions(xp, base.shape, idx, axis), src)
        return
    if not xp.may_share_memory(out, base):
        xp.copyto(out, base)
    _add_at(xp, out.reshape(-1), flat_positions(xp, base.shape, idx, axis).ravel(), src.ravel())


define_op(
    "scatter_add",
    attrs=AXIS,
    arity=3,
    shape=_scatter_type,
    impl=lambda xp, base, idx, src, *, axis: _accumulate(
        xp, base, flat_positions(xp, base.shape, idx, axis), src
    ),
    write=_scatter_add_write,
    inplace=(0,),
    vjp=lambda b, g, out, base, idx, src, *, axis: (g, None, b.gather(g, idx, axis=axis)),
    doc="`base` with src[..., i, ...] added at [..., idx[..., i, ...], ...] (gather's gradient).",
)


def _scatter_impl(xp, base, idx, src, *, axis):
    out = xp.array(base, copy=True, order="C")  # C order: its reshape(-1) is a view
    out.reshape(-1)[flat_positions(xp, base.shape, idx, axis).ravel()] = src.ravel()
    return out


define_op(
    "scatter",
    attrs=AXIS,
    arity=3,
    shape=_scatter_type,
    impl=_scatter_impl,
    vjp=lambda b, g, out, base, idx, src, *, axis: (
        b.scatter(g, idx, b.zeros(src.type), axis=axis),
        None,
        b.gather(g, idx, axis=axis),
    ),
    doc="`base` with src[..., i, ...] written at [..., idx[..., i, ...], ...] (a repeated "
        "position keeps one of its writes).",
)
SCATTER_REDUCTIONS = {"amax": "maximum", "amin": "minimum"}


def _scatter_reduce_type(base, idx, src, *, axis, reduce):
    if reduce not in SCATTER_REDUCTIONS:
        raise ShapeError(f"reduce must be one of {sorted(SCATTER_REDUCTIONS)}, got {reduce!r}")
    return _scatter_type(base, idx, src, axis=axis)


def _scatter_reduce_impl(xp, base, idx, src, *, axis, reduce):
    out = xp.array(base, copy=True, order="C")  # C order: its reshape(-1) is a view
    ufunc = getattr(xp, SCATTER_REDUCTIONS[reduce])
    ufunc.at(out.reshape(-1), flat_positions(xp, base.shape, idx, axis).ravel(), src.ravel())
    return out


def _scatter_reduce_vjp(b, g, out, base, idx, src, *, axis, reduce):
    """PyTorch's rule: the gradient of each result is split evenly among the elements (of base
    and of src) equal to it."""
    picked = b.gather(out, idx, axis=axis)
    base_hits = b.cast(b.eq(base, out), dtype=g.dtype)
    src_hits = b.cast(b.eq(src, picked), dtype=g.dtype)
    share = b.div(g, b.scatter_add(base_hits, idx, src_hits, axis=axis))
    return b.mul(base_hits, share), None, b.mul(src_hits, b.gather(share, idx, axis=axis))


define_op(
    "scatter_reduce",
    attrs={"axis": Attr(int), "reduce": Attr(str)},
    arity=3,
    shape=_scatter_reduce_type,
    impl=_scatter_reduce_impl,
    vjp=_scatter_reduce_vjp,
    doc="`base` with each position the max (amax) or min (amin) of itself and the src elements "
        "scattered to it.",
)


# -- take (embedding lookup) and index_add ---------------------------------------------------------
def _take_type(x: TensorType, idx: TensorType, *, axis) -> TensorType:
    _check_index(idx)
    axis = check_axis(axis, x.ndim)
    return TensorType((*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]), x.dtype)


def _take_impl(xp, x, idx, *, axis):
    axis %= max(x.ndim, 1)
    return xp.take(x, _wrap(xp, idx, x.shape[axis], axis), axis=axis)


define_op(
    "take",
    attrs=AXIS,
    arity=2,
    fusion=FUSE_INJECTIVE,
    shape=_take_type,
    impl=_take_impl,
    write=lambda xp, out, x, idx, *, axis: xp.take(x, idx, axis=axis, out=out),
    vjp=lambda b, g, out, x, idx, *, axis: (b.index_add(b.zeros(x.type), idx, g, axis=axis), None),
    doc="Slices of `x` along `axis` picked by integer indices of any shape (embedding lookup).",
)


def _index_add_type(base: TensorType, idx: TensorType, src: TensorType, *, axis) -> TensorType:
    expect = _take_type(base, idx, axis=axis)
    if src != expect:
        raise ShapeError(f"source {src} must be {expect} (the shape take would give)")
    return base


def _index_add_impl(xp, base, idx, src, *, axis):
    if src.size == 0:
        return xp.array(base, copy=True)
    axis = axis % base.ndim
    n = base.shape[axis]
    outer = 1
    for d in base.shape[:axis]:
        outer *= d
    inner = base.size // (outer * n) if base.size else 0
    rows = _wrap(xp, idx, n, axis).reshape(1, -1, 1)
    linear = (xp.arange(outer).reshape(-1, 1, 1) * n + rows) * inner + xp.arange(inner).reshape(
        1, 1, -1
    )
    return _accumulate(xp, base, linear, src.reshape(outer, -1, inner))


define_op(
    "index_add",
    attrs=AXIS,
    arity=3,
    shape=_index_add_type,
    impl=_index_add_impl,
    vjp=lambda b, g, out, base, idx, src, *, axis: (g, None, b.take(g, idx, axis=axis)),
    doc="`base` with src's slices added at the rows `idx` along `axis` (the gradient of take).",
)


# -- check_target (class-index targets of the losses) ----------------------------------------------
def _check_target_type(target: TensorType, *, classes, ignore) -> TensorType:
    _check_index(target)
    return target


def _check_target_impl(xp, target, *, classes, ignore):
    if target.size == 0 or (int(target.min()) >= 0 and int(target.max()) < classes):
        return target  # (the common case, in two reductions)
    bad = (target < 0) | (target >= classes)
    if ignore is not None:
        bad &= target != ignore
    if bool(bad.any()):
        raise IndexError(f"Target {int(target[bad].ravel()[0])} is out of bounds.")
    return target


define_op(
    "check_target",
    attrs={"classes": Attr(int), "ignore": Attr((int, type(None)), None)},
    view=0,
    shape=_check_target_type,
    impl=_check_target_impl,
    vjp=no_grad,
    doc="`target` itself, after checking each class index is in [0, classes) or equals `ignore`; "
    "raises PyTorch's IndexError 'Target -5 is out of bounds.' otherwise.",
)
