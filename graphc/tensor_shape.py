"""Tensor methods that move data without computing on it: reshape, permute, expand, indexing."""

from __future__ import annotations

import functools

import numpy as np

from graphc import dispatch, indexing


def axis_index(d: int, ndim: int) -> int:
    """`d` (negatives count from the end) as an axis of an `ndim`-d tensor; PyTorch's error."""
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return int(d) % n


def normalize_axes(dim, ndim: int) -> tuple:
    """`dim` (None = all, an int or a sequence of ints) as sorted, non-negative axes.

    A 0-d tensor accepts dims 0 and -1 (and has no axes to reduce), as in PyTorch.
    """
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = [axis_index(d, ndim) for d in dims]
    for i, a in enumerate(axes):
        if a in axes[:i]:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    return tuple(sorted(axes)) if ndim else ()


def along(fn, input, dim: int):
    """`fn(x, axis)` applied along `dim`; a 0-d input is one element along its only dim (0)."""
    axis = axis_index(dim, input.ndim)
    if input.ndim == 0:
        return fn(input.reshape(1), 0).reshape(())
    return fn(input, axis)


def numpy_keywords(method):
    """`method` also taking NumPy's spellings, as PyTorch does: axis= for dim=, keepdims= for
    keepdim=."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return method(self, *args, **kwargs)

    return wrapper


def shape_args(args) -> tuple:
    """`f(2, 3)` and `f((2, 3))` both mean the shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(a) for a in args)


def size_args(args, size) -> tuple:
    """The shape a factory is given: `f(2, 3)`, `f((2, 3))` or `f(size=(2, 3))`."""
    if size is None:
        return shape_args(args)
    if args:
        raise TypeError("got multiple values for argument 'size'")
    return shape_args((size,) if isinstance(size, (int, np.integer)) else (tuple(size),))


def infer_shape(shape: tuple, numel: int, have: tuple) -> tuple:
    """Resolve one -1 in a requested shape; PyTorch's errors when sizes do not match."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
    if -1 in shape:
        if numel == 0 and known == 0:
            raise RuntimeError(
                f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                "unspecified dimension size -1 can be any value and is ambiguous"
            )
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class ShapeMixin:
    __slots__ = ()

    def reshape(self, *shape):
        shape = infer_shape(shape_args(shape), self.numel(), self.shape)
        return self if shape == tuple(self.shape) else dispatch.apply("reshape", self, shape=shape)

    def view(self, *shape):
        """A tensor of the same elements in another shape, or (given a dtype) the same bytes
        read as that dtype."""
        from graphc.dtypes import dtype

        if len(shape) == 1 and isinstance(shape[0], dtype):
            if shape[0] is self.dtype:
                return self
            return dispatch.apply("bitcast", self, dtype=shape[0].name)
        return self.reshape(*shape)

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = axis_index(start_dim, self.ndim), axis_index(end_dim, self.ndim)
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self.shape
        # The merged size itself, not -1: an empty batch (0, C, H, W) flattens to (0, C*H*W).
        merged = int(np.prod(shape[start : end + 1], dtype=np.int64))
        return self.reshape(shape[:start] + (merged,) + shape[end + 1 :])

    def unflatten(self, dim: int, sizes):
        dim = axis_index(dim, self.ndim)
        shape = self.shape
        return self.reshape(shape[:dim] + tuple(sizes) + shape[dim + 1 :])

    def permute(self, *dims):
        perm = tuple(axis_index(d, self.ndim) for d in shape_args(dims))
        if sorted(perm) != list(range(self.ndim)):
            raise RuntimeError(
                f"permute(): dims {list(dims)} are not a permutation of {self.ndim} dims"
            )
        return (
            self if perm == tuple(range(self.ndim)) else dispatch.apply("permute", self, perm=perm)
        )

    def transpose(self, dim0: int, dim1: int):
        perm = list(range(self.ndim))
        a, b = axis_index(dim0, self.ndim), axis_index(dim1, self.ndim)
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(perm)

    swapaxes = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def unsqueeze(self, dim: int):
        dim = axis_index(dim, self.ndim + 1)
        shape = self.shape
        return self.reshape(shape[:dim] + (1,) + shape[dim:])

    def squeeze(self, dim=None):
        shape = self.shape
        axes = normalize_axes(dim, self.ndim)
        return self.reshape(tuple(d for i, d in enumerate(shape) if not (i in axes and d == 1)))

    def expand(self, *sizes):
        sizes = shape_args(sizes)
        shape = self.shape
        lead = len(sizes) - len(shape)
        if lead < 0:
            raise RuntimeError(
                f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
                f"the number of dimensions in the tensor ({len(shape)})"
            )
        target = tuple(shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
        if target == tuple(shape):
            return self
        return dispatch.apply("broadcast_to", self, shape=target)

    def expand_as(self, other):
        return self.expand(other.shape)

    broadcast_to = expand

    def repeat(self, *sizes):
        sizes = shape_args(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        dims = x.shape
        # Repeating (d,) r times is (1, d) broadcast to (r, d), then merged: one broadcast_to.
        x = x.reshape(tuple(v for d in dims for v in (1, d)))
        x = x.expand(tuple(v for r, d in zip(sizes, dims) for v in (r, d)))
        return x.reshape(tuple(r * d for r, d in zip(sizes, dims)))

    def split(self, split_size_or_sections, dim: int = 0):
        dim = axis_index(dim, self.ndim)
        n = self.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            sizes = tuple(min(step, n - i) for i in range(0, n, step)) or (0,)
        else:
            sizes = tuple(int(s) for s in split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split sizes {list(sizes)} do not sum to {n} (dimension {dim})")
        if len(sizes) == 1:
            return (self,)
        return tuple(dispatch.apply("split", self, sizes=sizes, axis=dim))

    def chunk(self, chunks: int, dim: int = 0):
        n = self.shape[axis_index(dim, self.ndim)]
        return self.split(max(1, -(-n // chunks)), dim)

    def unbind(self, dim: int = 0):
        dim = axis_index(dim, self.ndim)
        return tuple(part.squeeze(dim) for part in self.split(1, dim))

    def narrow(self, dim: int, start: int, length: int):
        key = [slice(None)] * self.ndim
        key[axis_index(dim, self.ndim)] = slice(start, start + length)
        return self[tuple(key)]

    def flip(self, *dims):
        axes = normalize_axes(shape_args(dims), self.ndim)
        return dispatch.apply("flip", self, axes=axes) if axes else self

    def fliplr(self):
        if self.ndim < 2:
            raise RuntimeError("Input must be >= 2-d.")
        return self.flip(1)

    def flipud(self):
        if self.ndim < 1:
            raise RuntimeError("Input must be >= 1-d.")
        return self.flip(0)

    def roll(self, shifts, dims=None):
        """Elements shifted cyclically by `shifts` along `dims` (the flattened tensor if None)."""
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims):
            raise RuntimeError(
                f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
            )
        x = self
        for shift, dim in zip(shifts, dims):
            axis = axis_index(dim, x.ndim)
            n = x.shape[axis] if x.ndim else 1
            shift = int(shift) % n if n else 0
            if shift:
                x = _cat([x.narrow(axis, n - shift, shift), x.narrow(axis, 0, n - shift)], axis)
        return x

    def movedim(self, source, destination):
        source = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
        destination = (
            (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
        )
        src = [axis_index(d, self.ndim) for d in source]
        dst = [axis_index(d, self.ndim) for d in destination]
        rest = iter(a for a in range(self.ndim) if a not in src)
        placed = dict(zip(dst, src))
        return self.permute([placed[i] if i in placed else next(rest) for i in range(self.ndim)])

    moveaxis = movedim

    def unfold(self, dimension: int, size: int, step: int):
        """Windows of `size` elements every `step` along `dimension`, as a new last dim."""
        axis = axis_index(dimension, self.ndim)
        n = self.shape[axis] if self.ndim else 1
        if size > n:
            raise RuntimeError(
                f"maximum size for tensor at dimension {axis} is {n} but size is {size}"
            )
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        windows = np.arange(0, n - size + 1, step)[:, None] + np.arange(size)[None, :]
        if self.ndim == 0:
            return self.reshape(1)
        picked = indexing.take(self, windows, axis)  # (..., windows, size, ...)
        return picked.movedim(axis + 1, -1)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Each element repeated `repeats` times (an int, or one count per element) along `dim`
        (of the flattened tensor if None)."""
        x = self.flatten() if dim is None else self
        axis = 0 if dim is None else axis_index(dim, x.ndim)
        if isinstance(repeats, (int, np.integer)):
            if x.ndim == 0:
                x, axis = x.reshape(1), 0
            shape = tuple(x.shape)
            expanded = x.unsqueeze(axis + 1).expand(
                *shape[: axis + 1], int(repeats), *shape[axis + 1 :]
            )
            return expanded.reshape(*shape[:axis], shape[axis] * int(repeats), *shape[axis + 1 :])
        if repeats._data is None:
            from graphc import tracing

            raise tracing.TraceError.for_value(
                repeats, "repeat_interleave with tensor repeats (its result shape depends on them)",
                hint="give the repeats as a Python int or an eager tensor",
            )
        counts = repeats._data.reshape(-1)
        n = x.shape[axis] if x.ndim else 1
        if counts.size not in (1, n):
            raise RuntimeError("repeats must have the same size as input along dim")
        return indexing.take(x, np.repeat(np.arange(n), np.broadcast_to(counts, (n,))), axis)

    def index_select(self, dim: int, index):
        return indexing.take(self, index, axis_index(dim, self.ndim))

    def __getitem__(self, key):
        return indexing.getitem(self, key)

    def __setitem__(self, key, value) -> None:
        indexing.setitem(self, key, value)


def _cat(tensors, axis: int):
    return dispatch.apply("concat", *tensors, axis=axis)
