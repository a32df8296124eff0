"""Matrix structure and products: triangles (tril, triu), diagonals (diag, diagonal,
diag_embed, trace), outer and Kronecker products, dot, and the module functions einsum,
tensordot, meshgrid and cartesian_prod.

All are composites: masks are constants built from the static shape, diagonals are strided
slices of a flattened matrix, and every contraction is one matmul.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dispatch
from graphc.tensor_math import where
from graphc.tensor_shape import axis_index


def _matrix(x, what: str) -> None:
    if x.ndim < 2:
        raise RuntimeError(f"{what}: input tensor must have at least 2 dimensions")


def _constant(array):
    from graphc import creation

    return creation.tensor(array)


class MatrixMixin:
    __slots__ = ()

    def tril(self, diagonal: int = 0):
        """The lower triangle (j <= i + diagonal) of the last two dims; zeros elsewhere."""
        _matrix(self, "tril")
        keep = np.tri(*self.shape[-2:], k=diagonal, dtype=bool)
        return where(_constant(keep), self, dispatch.scalar(0, self.dtype))

    def triu(self, diagonal: int = 0):
        """The upper triangle (j >= i + diagonal) of the last two dims; zeros elsewhere."""
        _matrix(self, "triu")
        keep = ~np.tri(*self.shape[-2:], k=diagonal - 1, dtype=bool)
        return where(_constant(keep), self, dispatch.scalar(0, self.dtype))

    def tril_(self, diagonal: int = 0):
        return self._assign(self.tril(diagonal))

    def triu_(self, diagonal: int = 0):
        return self._assign(self.triu(diagonal))

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        """The diagonal of dims dim1 and dim2 (offset above it if > 0), as a new last dim."""
        a, b = axis_index(dim1, self.ndim), axis_index(dim2, self.ndim)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        x = self.movedim((a, b), (-2, -1))
        n, m = x.shape[-2:]
        length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
        start = offset if offset >= 0 else -offset * m
        flat = x.reshape(*x.shape[:-2], n * m)
        if length == 0:
            return flat.narrow(-1, 0, 0)
        stop = start + (length - 1) * (m + 1) + 1
        return flat[(..., slice(start, stop, m + 1))]

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1):
        """Matrices whose `offset` diagonal holds the last dim of self; zeros elsewhere."""
        n = self.shape[-1]
        m = n + abs(offset)
        keep = _constant(np.eye(m, m, k=offset, dtype=bool))
        pads = tuple((0, 0) for _ in self.shape[:-1]) + ((0, abs(offset)),)
        values = dispatch.apply("pad", self, pads=pads, value=0)
        # On the diagonal, row r holds value r (offset >= 0) or column c holds value c.
        values = values.unsqueeze(-1) if offset >= 0 else values.unsqueeze(-2)
        out = where(keep, values, dispatch.scalar(0, self.dtype))
        rank = self.ndim + 1
        a, b = axis_index(dim1, rank), axis_index(dim2, rank)
        return out.movedim((-2, -1), (a, b)) if (a, b) != (rank - 2, rank - 1) else out

    def diag(self, diagonal: int = 0):
        """A 1-d tensor's diagonal matrix, or a 2-d tensor's diagonal."""
        if self.ndim == 1:
            return self.diag_embed(diagonal)
        if self.ndim != 2:
            raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")
        return self.diagonal(diagonal)

    def trace(self):
        if self.ndim != 2:
            raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self.ndim}")
        return self.diagonal().sum()

    def outer(self, vec2):
        if self.ndim != 1 or vec2.ndim != 1:
            raise RuntimeError("outer: expected 1-D tensors")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    ger = outer

    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(
                f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors"
            )
        if self.dtype is not other.dtype:
            raise RuntimeError(
                "dot : expected both vectors to have same dtype, but found "
                f"{self.type()[7:-6]} and {other.type()[7:-6]}"
            )
        if self.shape[0] != other.shape[0]:
            n, m = self.shape[0], other.shape[0]
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
                f"number of elements, but got {n} and {m} elements respectively"
            )
        return self.matmul(other)

    vdot = inner = dot

    def mv(self, vec):
        """Matrix (n, m) times vector (m,)."""
        if self.ndim != 2 or vec.ndim != 1:
            raise RuntimeError(f"vector + matrix @ vector expected, got {vec.ndim}, {self.ndim}, "
                               f"{vec.ndim}")
        return self.matmul(vec)

    def kron(self, other):
        """The Kronecker product: every element of self times all of other, in blocks."""
        rank = max(self.ndim, other.ndim)
        a = self.reshape((1,) * (rank - self.ndim) + tuple(self.shape))
        b = other.reshape((1,) * (rank - other.ndim) + tuple(other.shape))
        spread = a.reshape(tuple(v for d in a.shape for v in (d, 1)))
        tiled = b.reshape(tuple(v for d in b.shape for v in (1, d)))
        return (spread * tiled).reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))


# -- module functions --------------------------------------------------------------------------
def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids: output k varies along dim k ('ij'); 'xy' swaps the first two dims."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}"
        )
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[k] for k in order)
    grids = []
    for i, t in enumerate(tensors):
        axis = order.index(i)
        grids.append(t.reshape([-1 if k == axis else 1 for k in range(len(tensors))]).expand(shape))
    return tuple(grids)


def cartesian_prod(*tensors):
    """All combinations of the elements of 1-d tensors, one per row."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    from graphc.functions import stack

    return stack([g.reshape(-1) for g in grids], 1)


def tensordot(a, b, dims=2):
    """Sum of products over the last `dims` dims of a and the first of b (or the listed dims)."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [axis_index(d, a.ndim) for d in dims_a]
    dims_b = [axis_index(d, b.ndim) for d in dims_b]
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[da]} in dim "
                f"{da} and second has size {b.shape[db]} in dim {db}"
            )
    k = math.prod(a.shape[d] for d in dims_a)
    left = a.permute(free_a + dims_a).reshape(-1, k)
    right = b.permute(dims_b + free_b).reshape(k, -1)
    out_shape = [a.shape[d] for d in free_a] + [b.shape[d] for d in free_b]
    return left.matmul(right).reshape(out_shape)


def einsum(equation: str, *operands):
    """Einstein summation: `einsum('ij,jk->ik', a, b)`; '...' broadcasts, repeated labels take
    diagonals, and each pair of operands contracts with one matmul."""
    from graphc.contraction import einsum as run

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return run(equation, operands)
