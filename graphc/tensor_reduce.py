"""Tensor methods that reduce or scan along dims beyond sum/mean/max: prod, cumulative scans,
logsumexp, sorting and selection (sort, argsort, topk, kthvalue, median, mode), norms, counts.

Sorting and selection are composites of the `sort` op (stable; NaN sorts largest), so their
gradients reach exactly the elements they picked.
"""

from __future__ import annotations

from collections import namedtuple

from graphc import dispatch
from graphc.dtypes import bool_, int64
from graphc.tensor_math import ValuesIndices, _type_name, where
from graphc.tensor_shape import along, axis_index, normalize_axes

INF = float("inf")
StdMean = namedtuple("StdMean", ["std", "mean"])  # PyTorch returns plain tuples; fields help
MinMax = namedtuple("MinMax", ["min", "max"])


def _as_int64_if_integral(x, dtype=None):
    """The dtype PyTorch's sum-like ops compute in: `dtype`, else int64 for integers and bools."""
    if dtype is not None:
        return dispatch.cast(x, dtype)
    return x if x.dtype.is_floating_point else dispatch.cast(x, int64)


def _scan(op: str):
    def method(self, dim, *, dtype=None):
        x = _as_int64_if_integral(self, dtype)
        return along(lambda v, axis: dispatch.apply(op, v, axis=axis), x, dim)

    method.__name__ = op
    method.__doc__ = f"Running {op[3:]} along `dim` (integers and bools accumulate in int64)."
    return method


def _cum_extremum(op: str):
    def method(self, dim):
        axis = axis_index(dim, self.ndim)
        if self.ndim == 0:
            return ValuesIndices(self.clone(), dispatch.scalar(0, int64))
        x = dispatch.cast(self, int64) if self.dtype is bool_ else self
        values, indices = dispatch.apply(op, x, axis=axis)
        return ValuesIndices(dispatch.cast(values, self.dtype), indices)

    method.__name__ = op
    return method


def _require_float(x, what: str) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{what}: Expected a floating point or complex tensor as input. Got "
            f"{_type_name(x.dtype)}"
        )


def _safe_root(s, p: float):
    """s ** (1/p) whose gradient at s = 0 is 0 (PyTorch's norm gradient at a zero vector)."""
    empty = s == 0
    root = where(empty, 1.0, s)
    root = root.sqrt() if p == 2 else root ** (1.0 / p)
    return where(empty, 0.0, root)


class ReduceMixin:
    __slots__ = ()

    cumsum = _scan("cumsum")
    cumprod = _scan("cumprod")
    cummax = _cum_extremum("cummax")
    cummin = _cum_extremum("cummin")

    def prod(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Product of all elements, or along one `dim` (integers and bools multiply in int64)."""
        x = _as_int64_if_integral(self, dtype)
        axes = normalize_axes(dim, x.ndim)
        if x.ndim == 0:
            return x
        return dispatch.apply("prod", x, axes=axes, keepdims=bool(keepdim))

    def logsumexp(self, dim, keepdim: bool = False):
        """log(sum(exp(x))) along `dim`, shifted by the max so large values stay finite."""
        x = self if self.dtype.is_floating_point else dispatch.cast(self, "float32")
        axes = normalize_axes(dim, x.ndim)
        if x.ndim == 0:
            return x.clone()
        top = dispatch.apply("stop_gradient", dispatch.apply("max", x, axes=axes, keepdims=True))
        top = where(top.abs() == INF, 0.0, top)  # all -inf, or an inf: no shift
        out = (x - top).exp().sum(axes, keepdim=True).log() + top
        return out if keepdim else out.squeeze(axes)

    def std_mean(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        return StdMean(self.std(dim, unbiased, keepdim, correction=correction),
                       self.mean(dim, keepdim))

    def var_mean(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        return StdMean(self.var(dim, unbiased, keepdim, correction=correction),
                       self.mean(dim, keepdim))

    def aminmax(self, *, dim=None, keepdim: bool = False):
        return MinMax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def count_nonzero(self, dim=None):
        return (self != 0).sum(dim)

    # -- sorting and selection ---------------------------------------------------------------------
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """(values, indices) sorted along `dim`; stable always, NaN largest."""
        axis = axis_index(dim, self.ndim)
        if self.ndim == 0:
            return ValuesIndices(self.clone(), dispatch.scalar(0, int64))
        x = dispatch.cast(self, "int64") if self.dtype is bool_ else self
        values, indices = dispatch.apply("sort", x, axis=axis, descending=bool(descending))
        return ValuesIndices(dispatch.cast(values, self.dtype), indices)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return self.sort(dim, descending, stable).indices

    def msort(self):
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """The k largest (or smallest) elements along `dim`, in order, and their indices."""
        n = self.shape[axis_index(dim, self.ndim)] if self.ndim else 1
        if not 0 <= k <= n:
            raise RuntimeError("selected index k out of range")
        values, indices = self.sort(dim, descending=largest)
        if self.ndim == 0:
            return ValuesIndices(values, indices)
        return ValuesIndices(values.narrow(dim, 0, k), indices.narrow(dim, 0, k))

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        """The k-th smallest element along `dim` (k counts from 1) and its index."""
        n = self.shape[axis_index(dim, self.ndim)] if self.ndim else 1
        if not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
        return _pick_sorted(self, dim, keepdim, lambda sorted_values: k - 1)

    def median(self, dim=None, keepdim: bool = False):
        """The lower median (of all elements, or (values, indices) along `dim`); NaN if any."""
        if dim is None:
            if self.numel() == 0:
                return dispatch.scalar(float("nan"), self.dtype)
            return self.reshape(-1).median(0).values
        n = self.shape[axis_index(dim, self.ndim)] if self.ndim else 1
        if n == 0:
            raise IndexError("median(): Expected reduction dim 0 to have non-zero size.")

        def position(sorted_values):
            if not self.dtype.is_floating_point:
                return (n - 1) // 2
            nans = sorted_values.isnan().sum(dim, keepdim=True)
            return where(nans > 0, n - nans, (n - 1) // 2)  # the first NaN, if any

        return _pick_sorted(self, dim, keepdim, position)

    def nanmedian(self, dim=None, keepdim: bool = False):
        """The lower median of the non-NaN elements."""
        if dim is None:
            return self.reshape(-1).nanmedian(0).values
        if not self.dtype.is_floating_point:
            return self.median(dim, keepdim)
        n = self.shape[axis_index(dim, self.ndim)] if self.ndim else 1

        def position(sorted_values):
            count = (~sorted_values.isnan()).sum(dim, keepdim=True)
            return where(count > 0, (count - 1) // 2, (n - 1) // 2)

        return _pick_sorted(self, dim, keepdim, position)

    def mode(self, dim: int = -1, keepdim: bool = False):
        """The most frequent value along `dim` (the smallest among equally frequent ones) and the
        index of its last occurrence."""
        axis = axis_index(dim, self.ndim)
        if self.ndim == 0:
            return ValuesIndices(self.clone(), dispatch.scalar(0, int64))
        n = self.shape[axis]
        values = self.sort(axis).values
        starts = values.narrow(axis, 1, n - 1) != values.narrow(axis, 0, n - 1)
        run = dispatch.cast(starts, int64).cumsum(axis)
        run = dispatch.apply("pad", run, pads=_pad_front(self.ndim, axis), value=0)
        ones = dispatch.apply("full", shape=tuple(run.shape), dtype="int64", value=1)
        counts = dispatch.apply("scatter_add", ones * 0, run, ones, axis=axis)
        best = counts.gather(axis, run).argmax(axis, keepdim=True)  # first max: smallest value
        value = values.gather(axis, best)
        index = where(self == value, _positions(self, axis), -1).amax(axis, keepdim=True)
        value = self.gather(axis, index)  # the gradient goes where PyTorch's does: that index
        if not keepdim:
            value, index = value.squeeze(axis), index.squeeze(axis)
        return ValuesIndices(value, index)

    # -- norms -------------------------------------------------------------------------------------
    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """The vector p-norm over `dim` (all elements by default); 'fro' is the 2-norm."""
        x = dispatch.cast(self, dtype) if dtype is not None else self
        if p == "fro" or p is None:
            p = 2
        if p == "nuc":
            raise NotImplementedError("the nuclear norm is not supported by graphc")
        return vector_norm(x, p, dim, keepdim)


def _pad_front(ndim: int, axis: int) -> tuple:
    return tuple((1, 0) if i == axis else (0, 0) for i in range(ndim))


def _positions(x, axis: int):
    """0, 1, ..., n-1 along `axis` of x, shaped to broadcast against it."""
    from graphc import creation

    n = x.shape[axis]
    return creation.arange(n).reshape([n if i == axis else 1 for i in range(x.ndim)])


def _pick_sorted(x, dim, keepdim: bool, position):
    """(value, index) at `position(sorted values)` (an int or an index tensor) of x sorted
    along `dim`."""
    axis = axis_index(dim, x.ndim)
    if x.ndim == 0:
        return ValuesIndices(x.clone(), dispatch.scalar(0, int64))
    values, indices = x.sort(axis)
    at = position(values)
    if isinstance(at, int):
        value, index = values.narrow(axis, at, 1), indices.narrow(axis, at, 1)
    else:
        value, index = values.gather(axis, at), indices.gather(axis, at)
    if not keepdim:
        value, index = value.squeeze(axis), index.squeeze(axis)
    return ValuesIndices(value, index)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):
    """`torch.linalg.vector_norm`: (sum |x|^ord)^(1/ord) over `dim`, with the inf, -inf and 0
    cases; the gradient at a zero vector is 0, as in PyTorch."""
    x = dispatch.cast(x, dtype) if dtype is not None else x
    _require_float(x, "linalg.vector_norm")
    if isinstance(dim, int):
        dim = (dim,)
    a = x.abs()
    if ord == INF:
        return a.amax(dim, keepdim)
    if ord == -INF:
        return a.amin(dim, keepdim)
    if ord == 0:
        return dispatch.cast((x != 0).sum(dim, keepdim), x.dtype)
    if ord == 1:
        return a.sum(dim, keepdim)
    if ord == 2:
        return _safe_root((x * x).sum(dim, keepdim), 2)
    return _safe_root((a**ord).sum(dim, keepdim), ord)


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """`torch.linalg.matrix_norm` for ord 'fro', 1, -1, inf and -inf."""
    x = dispatch.cast(x, dtype) if dtype is not None else x
    _require_float(x, "linalg.matrix_norm")
    if x.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    rows, cols = (axis_index(d, x.ndim) for d in dim)
    if ord == "fro":
        return vector_norm(x, 2, (rows, cols), keepdim)
    if ord in (1, -1, INF, -INF):
        summed, reduced = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = x.abs().sum(summed, keepdim=True)
        out = sums.amax(reduced, keepdim=True) if ord > 0 else sums.amin(reduced, keepdim=True)
        return out if keepdim else out.squeeze((rows, cols))
    raise NotImplementedError(f"matrix norm of order {ord!r} is not supported by graphc")


def norm(x, ord=None, dim=None, keepdim: bool = False, *, dtype=None):
    """`torch.linalg.norm`: the 2-norm of all elements by default, a vector norm over one dim,
    a matrix norm over two (or of a 2-d input when `ord` is given)."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(x, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(x, 2, dim, keepdim, dtype=dtype)
    if (dim is not None and len(dim) == 2) or (dim is None and x.ndim == 2):
        return matrix_norm(x, ord, dim or (-2, -1), keepdim, dtype=dtype)
    if dim is None and x.ndim != 1:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
            f"Got {x.ndim}D."
        )
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)
