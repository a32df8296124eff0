"""Tensor methods that read or write through index tensors: scatter and its reductions,
take_along_dim, index_add, index_fill, index_put, masked_select and nonzero.

Writes are functional underneath (the scatter ops return a new array); the in-place spellings
(`scatter_`, `index_put_`, ...) assign the result as every in-place op does.
"""

from __future__ import annotations

import numpy as np

from graphc import dispatch, tracing
from graphc.dtypes import bool_, int64
from graphc.tensor_math import where
from graphc.tensor_shape import axis_index

REDUCE_FILL = {"amax": -np.inf, "amin": np.inf}


def _check_index(x, index, dim: int, what: str) -> int:
    """The axis `dim` names, after PyTorch's checks of an index tensor: an integer tensor of x's
    rank, and (when its values are known) each in range."""
    axis = axis_index(dim, x.ndim)
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(f"{what}(): Expected dtype int64 for index")
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as {what} tensor"
        )
    n = x.shape[axis] if x.ndim else 1
    if index._data is not None and index._data.size:
        bad = index._data[(index._data < 0) | (index._data >= n)]
        if bad.size:
            raise RuntimeError(
                f"index {bad.flat[0]} is out of bounds for dimension {axis} with size {n}"
            )
    return axis


def _as_vectors(*tensors):
    """0-d tensors as 1-element vectors (PyTorch's index ops treat them so)."""
    return [t.reshape(1) if t.ndim == 0 else t for t in tensors]


def _scatter(op: str, x, dim, index, src, **attrs):
    axis = _check_index(x, index, dim, "scatter")
    base, index, src = _as_vectors(x, index, src)
    corner = tuple(slice(0, d) for d in index.shape)
    out = dispatch.apply(op, base, index, src[corner], axis=axis, **attrs)
    return out.reshape(x.shape)


def _source(x, src):
    """A scatter source: a tensor of x's dtype (PyTorch refuses others), or a scalar value."""
    if hasattr(src, "dtype"):
        if src.dtype is not x.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        return src
    return dispatch.scalar(src, x.dtype)


class ScatterMixin:
    __slots__ = ()

    def gather(self, dim: int, index):
        """x[..., index[..., i, ...], ...] along `dim`; index may be smaller than self off it."""
        axis = _check_index(self, index, dim, "gather")
        x, vector = _as_vectors(self, index)
        return dispatch.apply("gather", x, vector, axis=axis).reshape(index.shape)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce=None):
        """self with src (or `value`) written at the positions `index` gives along `dim`."""
        src = _source(self, value if src is None else src)
        if src.ndim == 0 or tuple(src.shape) != tuple(index.shape):
            src = src.expand(index.shape) if src.ndim == 0 else src
        if reduce == "add":
            return _scatter("scatter_add", self, dim, index, src)
        if reduce is not None:
            raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported by graphc")
        return _scatter("scatter", self, dim, index, src)

    def scatter_add(self, dim: int, index, src):
        return _scatter("scatter_add", self, dim, index, _source(self, src))

    def scatter_reduce(self, dim: int, index, src, reduce: str, *, include_self: bool = True):
        """Reduce ('sum', 'mean', 'amax', 'amin') src into self at `index` along `dim`."""
        src = _source(self, src)
        if reduce not in ("sum", "mean", "amax", "amin"):
            raise NotImplementedError(f"scatter_reduce(reduce={reduce!r}) is not supported")
        base = self
        if not include_self:  # the positions written start from the reduction's identity
            fill = REDUCE_FILL.get(reduce, 0)
            if not self.dtype.is_floating_point and reduce in REDUCE_FILL:
                info = np.iinfo(self.dtype.np) if self.dtype is not bool_ else None
                fill = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
            base = self.scatter(dim, index, dispatch.scalar(fill, self.dtype).expand(index.shape))
        if reduce in REDUCE_FILL:
            return _scatter("scatter_reduce", base, dim, index, src, reduce=reduce)
        total = _scatter("scatter_add", base, dim, index, src)
        if reduce == "sum":
            return total
        ones = dispatch.scalar(1, self.dtype).expand(index.shape)
        start = self.new_ones(self.shape) if include_self else self.new_zeros(self.shape)
        count = _scatter("scatter_add", start, dim, index, ones)
        hit = count > 0
        count = where(hit, count, 1)  # no 0 / 0 where nothing was scattered: its gradient is NaN
        mean = total / count if self.dtype.is_floating_point else total // count
        return where(hit, mean, self)

    def scatter_(self, dim: int, index, src=None, *, value=None, reduce=None):
        return self._assign(self.scatter(dim, index, src, value=value, reduce=reduce))

    def scatter_add_(self, dim: int, index, src):
        return self._assign(self.scatter_add(dim, index, src))

    def scatter_reduce_(self, dim: int, index, src, reduce: str, *, include_self: bool = True):
        return self._assign(self.scatter_reduce(dim, index, src, reduce,
                                                include_self=include_self))

    def take_along_dim(self, indices, dim=None):
        """Values at `indices` along `dim` (of the flattened tensor if None); the other dims
        broadcast."""
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        axis = axis_index(dim, self.ndim)
        shape = np.broadcast_shapes(
            tuple(1 if i == axis else d for i, d in enumerate(self.shape)),
            tuple(1 if i == axis else d for i, d in enumerate(indices.shape)),
        )
        x = self.expand(*(self.shape[i] if i == axis else d for i, d in enumerate(shape)))
        idx = indices.expand(*(indices.shape[i] if i == axis else d for i, d in enumerate(shape)))
        return x.gather(axis, idx)

    def index_add(self, dim: int, index, source, *, alpha=1):
        axis = axis_index(dim, self.ndim)
        source = source if alpha == 1 else source * alpha
        if self.ndim == 0:
            return self + source.reshape(())
        return dispatch.apply("index_add", self, _index_vector(index), source, axis=axis)

    def index_add_(self, dim: int, index, source, *, alpha=1):
        return self._assign(self.index_add(dim, index, source, alpha=alpha))

    def index_fill(self, dim: int, index, value):
        """self with the slices `index` picks along `dim` set to `value`."""
        if self.numel() == 0:
            return self.clone()
        index = _index_vector(index)
        axis = _check_index(self, index, dim, "index_fill") if self.ndim <= 1 else axis_index(
            dim, self.ndim)
        n = self.shape[axis] if self.ndim else 1
        hit = dispatch.apply("full", shape=(n,), dtype="bool", value=False)
        hit = dispatch.apply("scatter", hit, index, hit.new_ones(index.shape, dtype=bool_), axis=0)
        hit = hit.reshape([n if i == axis else 1 for i in range(self.ndim)])
        return where(hit, value, self).type(self.dtype)

    def index_fill_(self, dim: int, index, value):
        return self._assign(self.index_fill(dim, index, value))

    def index_put(self, indices, values, accumulate: bool = False):
        """self with `values` written (or added) at the positions the index tensors in `indices`
        give for the leading dims, as `self[indices] = values`."""
        from graphc import indexing

        return indexing.index_put(self, tuple(indices), values, accumulate)

    def index_put_(self, indices, values, accumulate: bool = False):
        return self._assign(self.index_put(indices, values, accumulate))

    def masked_select(self, mask):
        """The elements where `mask` (broadcast with self) is True, as a 1-d tensor."""
        shape = np.broadcast_shapes(tuple(self.shape), tuple(mask.shape))
        return self.expand(*shape).reshape(-1)[mask.expand(*shape).reshape(-1)]

    def nonzero(self, *, as_tuple: bool = False):
        """Indices of the nonzero elements: (count, ndim) int64, or one vector per dim."""
        if self._data is None:
            raise tracing.TraceError.for_value(
                self, "nonzero() (its result shape depends on the data)",
                hint="use graphc.where(mask, x, other) or a mask multiplication (same shape)",
            )
        from graphc import creation

        found = np.nonzero(self._data.reshape(1) if self.ndim == 0 else self._data)
        if as_tuple:
            return tuple(creation.tensor(i, dtype=int64) for i in found)
        count = found[0].size
        return creation.tensor(np.stack(found, axis=1)[:, : self.ndim].reshape(count, self.ndim),
                               dtype=int64)

    def argwhere(self):
        return self.nonzero()

    # -- eager only: results whose shape (or, for searchsorted, whose use) depends on the data --
    def unique(self, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim=None):
        """The distinct values (sorted; along `dim`: the distinct slices), with the inverse
        indices and the counts when asked for."""
        data = _eager_array(self, "unique()")
        axis = None if dim is None else axis_index(dim, self.ndim)
        values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True,
                                            axis=axis)
        inverse = inverse.reshape(data.shape if axis is None else (data.shape[axis],))
        out = [_like(self, values, self.dtype)]
        if return_inverse:
            out.append(_like(self, inverse, int64))
        if return_counts:
            out.append(_like(self, counts, int64))
        return out[0] if len(out) == 1 else tuple(out)

    def bincount(self, weights=None, minlength: int = 0):
        """How often each value 0..max occurs in this 1-D tensor of non-negative integers (the
        sum of `weights` at each, when given)."""
        data = _eager_array(self, "bincount()")
        if self.dtype.is_floating_point:
            raise NotImplementedError(f'"bincount_cpu" not implemented for '
                                      f"'{self.dtype.name.capitalize().rstrip('0123456789')}'")
        if self.ndim != 1 or self.dtype is bool_ or (data.size and data.min() < 0):
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        if minlength < 0:
            raise RuntimeError("minlength should be >= 0")
        if weights is None:
            return _like(self, np.bincount(data, minlength=minlength), int64)
        if tuple(weights.shape) != tuple(self.shape):
            raise RuntimeError("weights should be 1-d and have the same length as input")
        counts = np.bincount(data, weights=_eager_array(weights, "bincount()"),
                             minlength=minlength)
        from graphc.dtypes import float32, float64

        kind = float32 if weights.dtype is float32 else float64
        return _like(self, counts, kind)

    def bucketize(self, boundaries, *, out_int32: bool = False, right: bool = False):
        """The index of the bucket of `boundaries` (1-D, ascending) each element falls in."""
        data = _eager_array(self, "bucketize()")
        edges = _eager_array(boundaries, "bucketize()")
        if edges.ndim != 1:
            raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim("
                               f"{edges.ndim})")
        found = np.searchsorted(edges, data, side="right" if right else "left")
        return _like(self, found, _index_dtype(out_int32))


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,
                 side=None, sorter=None):
    """Where each value of `input` would go in the ascending last dimension of
    `sorted_sequence` (the matching row, for an N-d sequence) to keep it sorted."""
    if side is not None:
        right = side == "right"
    sequence = _eager_array(sorted_sequence, "searchsorted()")
    scalar = not hasattr(input, "ndim")
    values = np.asarray(input) if scalar else _eager_array(input, "searchsorted()")
    if sorter is not None:
        sequence = np.take_along_axis(sequence, _eager_array(sorter, "searchsorted()"), -1)
    how = "right" if right else "left"
    if sequence.ndim == 1:
        found = np.searchsorted(sequence, values, side=how)
    else:
        if sequence.shape[:-1] != values.shape[:-1]:
            raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or "
                               "the first N-1 dimensions of boundaries tensor and input value "
                               "tensor must match")
        rows = sequence.reshape(-1, sequence.shape[-1])
        found = np.stack([np.searchsorted(r, v, side=how) for r, v in
                          zip(rows, values.reshape(len(rows), -1))]).reshape(values.shape)
    return _like(sorted_sequence, found, _index_dtype(out_int32))


def _index_dtype(out_int32: bool):
    from graphc.dtypes import int32

    return int32 if out_int32 else int64


def _eager_array(tensor, what: str):
    """The host array of an eager tensor; a TraceError naming the user's line inside a trace."""
    if tensor._data is None:
        raise tracing.TraceError.for_value(
            tensor, f"{what} (its result depends on the data in a way a static graph cannot "
            "hold)", hint="compute it outside the traced or compiled function")
    from graphc.device import CPU, move

    return np.asarray(move(tensor._data, CPU))


def _like(tensor, array, dtype):
    """`array` as a tensor of `dtype` on `tensor`'s device."""
    from graphc import creation

    return creation.tensor(np.asarray(array), dtype=dtype, device=tensor.device)


def _index_vector(index):
    from graphc import creation

    index = index if hasattr(index, "dtype") else creation.tensor(index)
    return index.reshape(1) if index.ndim == 0 else index
