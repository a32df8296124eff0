"""Tensor methods PyTorch has that are composites of graphc's operations: fused products
(addmm, baddbmm, ...), differences and NaN-skipping reductions, splits and rotations, and a few
pointwise functions (xlogy, logaddexp, fmax/fmin, sinc, heaviside, deg2rad). Each is written
so that its gradient is PyTorch's, also where a naive formula would give NaN (sinc at 0,
logaddexp of equal or infinite operands)."""

from __future__ import annotations

import itertools
import math

from graphc import dispatch
from graphc.tensor_math import where
from graphc.tensor_shape import axis_index


def _scaled(x, factor):
    return x if factor == 1 else x * factor


class CompositeMixin:
    __slots__ = ()

    # -- products plus a scaled input ---------------------------------------------------------
    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """beta * self + alpha * (mat1 @ mat2)."""
        if mat1.ndim != 2 or mat2.ndim != 2:
            raise RuntimeError(f"addmm: expected 2-D matrices, got {mat1.ndim}-D and {mat2.ndim}-D")
        return _scaled(self, beta) + _scaled(mat1.mm(mat2), alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        """beta * self + alpha * (mat @ vec)."""
        return _scaled(self, beta) + _scaled(mat.mv(vec), alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """beta * self + alpha * (batch1 @ batch2), batch by batch."""
        return _scaled(self, beta) + _scaled(batch1.bmm(batch2), alpha)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """beta * self + alpha * the sum over the batch of batch1[i] @ batch2[i]."""
        return _scaled(self, beta) + _scaled(batch1.bmm(batch2).sum(0), alpha)

    def matrix_power(self, n: int):
        """The square matrix (or batch of them) multiplied by itself n >= 0 times."""
        if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
            raise RuntimeError("matrix_power: expected a square matrix or a batch of them")
        if n < 0:
            raise NotImplementedError("matrix_power with a negative exponent needs an inverse, "
                                      "which graphc does not have")
        if n == 0:
            from graphc import creation

            eye = creation.eye(self.shape[-1], dtype=self.dtype)
            return eye.expand(*self.shape) if self.ndim > 2 else eye
        result = self
        for _ in range(n - 1):
            result = result.matmul(self)
        return result

    # -- differences and NaN-skipping reductions ---------------------------------------------
    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None):
        """The n-th forward difference along `dim` (after joining prepend and append)."""
        from graphc.functions import cat

        dim = axis_index(dim, self.ndim)
        x = cat([t for t in (prepend, self, append) if t is not None], dim) \
            if prepend is not None or append is not None else self
        for _ in range(n):
            length = x.shape[dim] - 1
            if length <= 0:
                return x.narrow(dim, 0, 0)
            later, earlier = x.narrow(dim, 1, length), x.narrow(dim, 0, length)
            x = later.logical_xor(earlier) if x.dtype.name == "bool" else later - earlier
        return x

    def nansum(self, dim=None, keepdim: bool = False, *, dtype=None):
        """The sum with NaNs counted as zero."""
        x = self if not self.dtype.is_floating_point else where(
            self.isnan(), dispatch.scalar(0, self.dtype), self)
        return x.sum(dim, keepdim, dtype=dtype) if dim is not None else x.sum(dtype=dtype)

    def nanmean(self, dim=None, keepdim: bool = False, *, dtype=None):
        """The mean of the values that are not NaN."""
        count = (~self.isnan()).sum(dim, keepdim) if dim is not None else (~self.isnan()).sum()
        return self.nansum(dim, keepdim, dtype=dtype) / count.to(self.dtype)

    def logcumsumexp(self, dim: int):
        """log(cumsum(exp(self), dim)), shifted by the (gradient-free) maximum for stability."""
        dim = axis_index(dim, self.ndim)
        shift = self.detach().amax(dim, keepdim=True) if self.numel() else self.detach()
        shift = where(shift.isinf(), dispatch.scalar(0, self.dtype), shift)
        return (self - shift).exp().cumsum(dim).log() + shift

    # -- splits, selections, rotations ---------------------------------------------------------
    def select(self, dim: int, index: int):
        """The slice at `index` along `dim`, that dimension removed."""
        dim = axis_index(dim, self.ndim)
        size = self.shape[dim]
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size "
                             f"{list(self.shape)} at dimension {dim}")
        return self.narrow(dim, index % size, 1).squeeze(dim)

    def split_with_sizes(self, split_sizes, dim: int = 0):
        """Pieces of the given sizes along `dim` (they must add up to its size)."""
        dim = axis_index(dim, self.ndim)
        if sum(split_sizes) != self.shape[dim]:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                               f"{self.shape[dim]} (input tensor's size at dimension {dim}), "
                               f"but got split_sizes={list(split_sizes)}")
        return self.split(list(split_sizes), dim)

    def tensor_split(self, indices_or_sections, dim: int = 0):
        """numpy.array_split: n nearly equal pieces, or pieces cut at the given indices."""
        dim = axis_index(dim, self.ndim)
        size = self.shape[dim]
        if isinstance(indices_or_sections, int):
            n = indices_or_sections
            if n < 1:
                raise RuntimeError(f"number of sections must be larger than 0, got {n}")
            cuts = [i * (size // n) + min(i, size % n) for i in range(1, n)]
        else:
            cuts = [int(i) for i in indices_or_sections]
        bounds = [0, *[min(max(c if c >= 0 else c + size, 0), size) for c in cuts], size]
        return tuple(self.narrow(dim, start, max(end - start, 0))
                     for start, end in itertools.pairwise(bounds))

    def hsplit(self, sections):
        return self.tensor_split(sections, 1 if self.ndim > 1 else 0)

    def vsplit(self, sections):
        if self.ndim < 2:
            raise RuntimeError("torch.vsplit requires a tensor with at least 2 dimension")
        return self.tensor_split(sections, 0)

    def rot90(self, k: int = 1, dims=(0, 1)):
        """Rotation by 90 degrees k times in the plane of `dims` (from the first toward the
        second)."""
        if len(dims) != 2:
            raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
        a, b = (axis_index(d, self.ndim) for d in dims)
        if a == b:
            raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and "
                               f"dim1 = {b}")
        k %= 4
        if k == 0:
            return self.clone()
        if k == 2:
            return self.flip([a, b])
        swapped = self.transpose(a, b)
        return swapped.flip([a]) if k == 1 else swapped.flip([b])

    def swapdims(self, dim0: int, dim1: int):
        return self.swapaxes(dim0, dim1)

    def tile(self, *dims):
        """The tensor repeated `dims` times along its last dimensions (leading 1s added)."""
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        dims = (1,) * (self.ndim - len(dims)) + tuple(dims)
        x = self.reshape((1,) * (len(dims) - self.ndim) + tuple(self.shape))
        return x.repeat(*dims)

    def take(self, index):
        """Elements of the flattened tensor at `index` (any shape; negatives count from the
        end)."""
        n = self.numel()
        idx = index.detach().cpu().numpy() if index.numel() and not _traced(index) else None
        if idx is not None and ((idx < -n) | (idx >= n)).any():
            bad = int(idx[(idx < -n) | (idx >= n)].ravel()[0])
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} "
                             "elements.")
        return dispatch.apply("take", self.reshape(-1), index, axis=0)

    def cross(self, other, dim=None):
        """The cross product of 3-vectors along `dim` (default: the first dim of size 3)."""
        from graphc.functions import stack

        if dim is None:
            dim = next((i for i, n in enumerate(self.shape) if n == 3), None)
            if dim is None:
                raise RuntimeError("no dimension of size 3 in input")
        dim = axis_index(dim, self.ndim)
        if self.shape[dim] != 3 or other.shape[dim] != 3:
            raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                               f"{self.shape[dim]} and {other.shape[dim]}")
        a = [self.select(dim, i) for i in range(3)]
        b = [other.select(dim, i) for i in range(3)]
        return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                      a[0] * b[1] - a[1] * b[0]], dim)

    def dist(self, other, p: float = 2):
        """The p-norm of self - other."""
        return (self - other).norm(p)

    # -- pointwise -------------------------------------------------------------------------------
    def xlogy(self, other):
        """self * log(other), 0 where self is 0 (unless other is NaN)."""
        x, y = dispatch.promote(self, other)
        x, y = _floating(x), _floating(y)
        zero = dispatch.scalar(0, x.dtype)
        safe = where(x == 0, dispatch.scalar(1, x.dtype), y)  # no 0 * log(0) in the gradient
        return where(y.isnan(), y, where(x == 0, zero, x * safe.log()))

    def logaddexp(self, other):
        """log(exp(self) + exp(other)), without overflow; equal or infinite operands give their
        value plus log 2 (gradient split evenly), as PyTorch."""
        x, y = dispatch.promote(self, other)
        x, y = _floating(x), _floating(y)
        gap = where(x == y, dispatch.scalar(0, x.dtype), x - y)
        return x.maximum(y) + (-gap.abs()).exp().log1p()

    def fmax(self, other):
        """The elementwise maximum ignoring NaN (NaN only where both are)."""
        x, y = dispatch.promote(self, other)
        if not x.dtype.is_floating_point:
            return x.maximum(y)
        return where(x.isnan(), y, where(y.isnan(), x, x.maximum(y)))

    def fmin(self, other):
        """The elementwise minimum ignoring NaN (NaN only where both are)."""
        x, y = dispatch.promote(self, other)
        if not x.dtype.is_floating_point:
            return x.minimum(y)
        return where(x.isnan(), y, where(y.isnan(), x, x.minimum(y)))

    def sinc(self):
        """sin(pi x) / (pi x), 1 at 0."""
        x = _floating(self)
        zero = x == 0
        safe = where(zero, dispatch.scalar(1, x.dtype), x) * math.pi
        return where(zero, dispatch.scalar(1, x.dtype), safe.sin() / safe)

    def heaviside(self, values):
        """0 where self < 0, `values` where self == 0, 1 where self > 0."""
        if self.dtype is not values.dtype:
            raise RuntimeError("heaviside is not yet implemented for tensors with different "
                               "dtypes.")
        step = (self > 0).to(self.dtype)
        return where(self == 0, values, step)

    def deg2rad(self):
        return _floating(self) * (math.pi / 180)

    def rad2deg(self):
        return _floating(self) * (180 / math.pi)


def _floating(x):
    """Integer and bool tensors as the default float dtype (PyTorch's integer-to-float rule)."""
    if x.dtype.is_floating_point:
        return x
    from graphc.dtypes import get_default_dtype

    return x.to(get_default_dtype())


def _traced(x) -> bool:
    return x._data is None
