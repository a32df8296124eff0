"""`sort` along one axis: the sorted values and the indices they came from.

The sort is stable in both directions (equal elements keep their order, as PyTorch's
`stable=True`), and NaN sorts as the largest value. topk, kthvalue, median and argsort are
composites of it; its gradient sends each value's gradient back to where it came from.
"""

from __future__ import annotations

from ir.ops.registry import Attr, define_op
from ir.ops.shape import check_axis
from ir.types import TensorType


def _sort_type(x: TensorType, *, axis, descending):
    check_axis(axis, x.ndim)
    return x, TensorType(x.shape, "int64")


def _sort_impl(xp, x, *, axis, descending):
    if not descending:
        index = xp.argsort(x, axis=axis, kind="stable")
    else:  # stable descending: sort the reversed array ascending, then reverse the order back
        last = x.shape[axis] - 1
        index = last - xp.flip(xp.argsort(xp.flip(x, axis), axis=axis, kind="stable"), axis)
    index = index.astype("int64", copy=False)
    return xp.take_along_axis(x, index, axis=axis), index


define_op(
    "sort",
    attrs={"axis": Attr(int), "descending": Attr(bool, False)},
    shape=_sort_type,
    impl=_sort_impl,
    vjp=lambda b, g, out, x, *, axis, descending: (
        b.scatter_add(b.zeros(x.type), out[1], g[0], axis=axis),
    ),
    doc="(values sorted along `axis`, their int64 source indices); stable, NaN largest.",
)
