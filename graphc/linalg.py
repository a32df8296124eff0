"""`graphc.linalg`: norms, as composites of primitive ops (so they trace and differentiate)."""

from __future__ import annotations

import math

from graphc import dispatch
from graphc.tensor_shape import normalize_axes


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):
    """(sum |x|^ord)^(1/ord) over `dim` (all elements when None); ord inf/-inf is max/min |x|,
    ord 0 counts the nonzero elements."""
    if dtype is not None:
        x = dispatch.cast(x, dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. "
            f"Got {x.type()[7:-6]}"
        )
    dims = normalize_axes(dim, x.ndim) if x.ndim else None
    a = x.abs()
    if ord == math.inf:
        return a.amax(dims, keepdim)
    if ord == -math.inf:
        return a.amin(dims, keepdim)
    if ord == 0:
        return (a != 0).type(x.dtype).sum(dims, keepdim)
    if ord == 1:
        return a.sum(dims, keepdim)
    if ord == 2:
        return (x * x).sum(dims, keepdim).sqrt()
    return (a**ord).sum(dims, keepdim) ** (1.0 / ord)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """The Frobenius ('fro'), 1, -1, inf or -inf norm of the matrices in the last two dims."""
    rows, cols = normalize_axes(dim, A.ndim)
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim, dtype=dtype)
    if ord in (1, -1, math.inf, -math.inf):
        # 1: max column sum of |A|; inf: max row sum (-1, -inf: the min).
        summed, over = (rows, cols) if abs(ord) == 1 else (cols, rows)
        sums = vector_norm(A, 1, summed, True, dtype=dtype)
        out = sums.amax(over, True) if ord > 0 else sums.amin(over, True)
        return out if keepdim else out.squeeze((rows, cols))
    raise NotImplementedError(f"matrix_norm(ord={ord!r}) needs singular values, which graphc "
                              "does not compute; use 'fro', 1, -1, inf or -inf")


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None):
    """`torch.linalg.norm`: a vector norm for 1-D `A` or an int `dim`, a matrix norm for 2-D `A`
    or a pair `dim`; with ord None, the 2-norm of all elements."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(dim, int) or (dim is None and A.ndim == 1):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
