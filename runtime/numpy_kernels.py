"""Faster kernels the NumPy backend runs instead of some ops' reference write kernels (each
tested against the reference one): a factory per op, called once per program step, so a kernel
can keep what it worked out for the arrays of its step (they are the same arrays at every run)
and redo it only when other arrays come."""

from __future__ import annotations

import math

import numpy as np

from ir.ops.indexing import flat_positions
from ir.ops.registry import get_op
from runtime import blas


class WhereKernel:
    """`where(cond, x, +0.0)` and `where(cond, +0.0, y)` (the ReLU gradient) as a bitwise AND of
    the floats with a mask made from cond's bytes in one pass: exact (+0.0 where not picked,
    NaN and inf kept where picked) and several times faster than a masked copy. Whether that
    applies is decided once for the step's arrays; the zero's value is read at every call."""

    def __init__(self):
        self._seen: tuple = ()
        self._select = None

    def __call__(self, xp, out, cond, x, y, *, scratch=None):
        seen = self._seen
        if not (seen and seen[0] is out and seen[1] is cond and seen[2] is x and seen[3] is y):
            self._seen, self._select = (out, cond, x, y), _bitwise_select(out, cond, x, y,
                                                                           scratch)
        select = self._select
        if select is None or not _is_plus_zero(select[0]):
            get_op("where").write(xp, out, cond, x, y, scratch=scratch)
            return
        _, keep, flags, value, mask, result = select
        if keep:  # cond True -> -1 (all bits set), False -> 0
            np.negative(flags, out=mask)
        else:  # picked where cond is False
            np.subtract(flags, 1, out=mask)
        np.bitwise_and(value, mask, out=result)


def _bitwise_select(out, cond, x, y, scratch):
    """(the zero operand, keep?, cond's bytes, the picked operand's bits, the mask, the
    result's bits), or None where the bitwise select does not apply."""
    if (not scratch or out.dtype.kind != "f" or cond.shape != out.shape
            or not (cond.flags.c_contiguous and out.flags.c_contiguous)):
        return None
    as_int = out.dtype.str.replace("f", "i")
    if y.ndim == 0 and x.shape == out.shape and x.flags.c_contiguous:
        zero, keep, value = y, True, x
    elif x.ndim == 0 and y.shape == out.shape and y.flags.c_contiguous:
        zero, keep, value = x, False, y
    else:
        return None
    return (zero, keep, cond.view(np.int8), value.view(as_int), scratch[0].view(as_int),
            out.view(as_int))


def _is_plus_zero(array) -> bool:
    value = float(array)
    return value == 0.0 and math.copysign(1.0, value) > 0


class _AlongAxis:
    """Flat positions, in a C-ordered array of `shape`, of the elements `idx` addresses along
    `axis` (gather's and scatter_add's addressing): the offsets of idx's other coordinates are
    worked out once per shapes, so a call is two or three passes over idx. None where an index
    is out of range (the reference kernel raises its error)."""

    def __init__(self):
        self._key: tuple = ()

    def __call__(self, shape, idx, axis):
        key = (shape, idx.shape, axis)
        if key != self._key:
            self._key = key
            self._offsets = flat_positions(np, shape, np.zeros(idx.shape, np.int64), axis)
            self._positions = np.empty(idx.shape, np.int64)
            self._size = shape[axis % len(shape)]
            self._stride = math.prod(shape[axis % len(shape) + 1:])
        positions, n = self._positions, self._size
        if idx.size == 0:
            return positions
        low, high = int(idx.min()), int(idx.max())
        if low < -n or high >= n:
            return None
        if low < 0:  # negatives count from the end
            np.less(idx, 0, out=positions)
            np.multiply(positions, n, out=positions)
            np.add(positions, idx, out=positions)
            np.multiply(positions, self._stride, out=positions)
        else:
            np.multiply(idx, self._stride, out=positions)
        np.add(positions, self._offsets, out=positions)
        return positions


class GatherKernel:
    """gather as one `take` at flat positions (`_AlongAxis`)."""

    def __init__(self):
        self._along = _AlongAxis()

    def __call__(self, xp, out, x, idx, *, axis):
        positions = self._along(x.shape, idx, axis) if x.flags.c_contiguous else None
        if positions is None:
            get_op("gather").write(xp, out, x, idx, axis=axis)
            return
        np.take(x.reshape(-1), positions, out=out, mode="clip")  # (positions are in range)


class ScatterAddKernel:
    """scatter_add at flat positions (`_AlongAxis`): where idx holds one index per line along
    the axis (a loss's class targets), the positions are distinct and the sum is a take, an add
    and a put; otherwise `add.at`, which accumulates repeats in index order."""

    def __init__(self):
        self._along = _AlongAxis()
        self._picked = None

    def __call__(self, xp, out, base, idx, src, *, axis):
        positions = self._along(base.shape, idx, axis) if out.flags.c_contiguous else None
        if positions is None:
            get_op("scatter_add").write(xp, out, base, idx, src, axis=axis)
            return
        if not np.may_share_memory(out, base):
            np.copyto(out, base)
        flat = out.reshape(-1)
        if idx.ndim == 0 or idx.shape[axis % idx.ndim] != 1:
            np.add.at(flat, positions, src)
            return
        picked = self._picked
        if picked is None or picked.shape != src.shape or picked.dtype != out.dtype:
            picked = self._picked = np.empty(src.shape, out.dtype)
        np.take(flat, positions, out=picked, mode="clip")
        np.add(picked, src, out=picked)
        np.put(flat, positions, picked, mode="clip")


KERNELS = {"matmul": blas.MatmulKernel, "gemm": blas.GemmKernel, "where": WhereKernel,
           "gather": GatherKernel, "scatter_add": ScatterAddKernel}
