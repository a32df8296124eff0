"""Tensor indexing: ints, slices, None, Ellipsis, negative indices, integer-tensor and bool-mask
indices (NumPy semantics), lowered to the slice, reshape, permute and take ops; and `__setitem__`.
"""

from __future__ import annotations

import numpy as np

from graphc import dispatch, state, tracing
from graphc import tensor_core as _tensor

_INT = (int, np.integer)


def take(x, index, axis: int):
    """Rows of `x` along `axis` picked by an integer tensor; negative indices count from the end."""
    index = _index_tensor(index, x.shape[axis], axis)
    return dispatch.apply("take", x, index, axis=axis)


def _index_tensor(index, size: int, axis: int):
    """`index` as an int64 tensor with indices in [0, size); eager ones are bounds-checked."""
    if not isinstance(index, _tensor.Tensor):
        index = _tensor.Tensor._wrap(np.asarray(index, dtype=np.int64))
    if index.dtype.is_floating_point or index.dtype.name == "bool":
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    index = dispatch.cast(index, "int64")
    if index._data is not None:
        data = index._data
        if data.size and (data.min() < -size or data.max() >= size):
            bad = data[(data < -size) | (data >= size)].flat[0]
            raise IndexError(f"index {bad} is out of bounds for dimension {axis} with size {size}")
        if data.size and data.min() < 0:
            index = _tensor.Tensor._wrap(np.where(data < 0, data + size, data))
        return index
    return dispatch.apply("where", index < 0, index + size, index)


def _key_items(key) -> tuple:
    """The key as a tuple of indices, as PyTorch reads it: a short list holding a sequence, a
    tensor, a slice, None or Ellipsis is a tuple (NumPy's old rule); other lists are one index."""
    if isinstance(key, tuple):
        return key
    if isinstance(key, list) and len(key) < 32 and any(
        isinstance(k, (list, tuple, range, np.ndarray, _tensor.Tensor, slice)) or k is None
        or k is ...
        for k in key
    ):
        return tuple(key)
    return (key,)


def _entries(x, key) -> list:
    """The key as entries ('int', i) ('slice', s) ('new',) ('index', tensor), Ellipsis expanded."""
    items = []
    for k in _key_items(key):
        if isinstance(k, (list, tuple, range, np.ndarray, _tensor.Tensor)):
            k = k if isinstance(k, _tensor.Tensor) else _tensor.Tensor._wrap(np.asarray(k))
            if k.dtype.name == "bool":
                items.extend(("index", i) for i in _mask_indices(k))
            else:
                items.append(("index", k))
        elif isinstance(k, (bool, np.bool_)):
            if not k:
                raise IndexError("indexing with False is not supported by graphc")
            items.append(("new",))  # True adds a dimension of size 1, as None does
        elif isinstance(k, _INT):
            items.append(("int", int(k)))
        elif isinstance(k, slice):
            items.append(("slice", k))
        elif k is None:
            items.append(("new",))
        elif k is Ellipsis:
            items.append(("ellipsis",))
        else:
            raise IndexError(f"unsupported index of type {type(k).__name__}: {k!r}")
    consumed = sum(1 for e in items if e[0] in ("int", "slice", "index"))
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if sum(1 for e in items if e[0] == "ellipsis") > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [("slice", slice(None))] * (x.ndim - consumed)
    if ("ellipsis",) in items:
        i = items.index(("ellipsis",))
        return items[:i] + fill + items[i + 1 :]
    return items + fill


def _mask_indices(mask) -> list:
    if mask._data is None:
        raise tracing.TraceError.for_value(
            mask,
            "boolean-mask indexing (its result shape depends on the data)",
            hint="use graphc.where(mask, x, other) or x.masked_fill(mask, value) (same shape)",
        )
    return [_tensor.Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(mask._data)]


def _basic(x, items):
    """Apply the int/slice/None entries; returns the result and the axes of tensor indices in it."""
    starts, stops, steps, shape, index_axes = [], [], [], [], []
    axis = 0
    for entry in items:
        if entry[0] == "new":
            shape.append(1)
            continue
        size = x.shape[axis]
        if entry[0] == "int":
            i = entry[1]
            if not -size <= i < size:
                raise IndexError(
                    f"index {i} is out of bounds for dimension {axis} with size {size}"
                )
            i %= size
            start, stop, step = i, i + 1, 1
        elif entry[0] == "slice":
            start, stop, step = entry[1].indices(size)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            stop = max(stop, start)
            shape.append(len(range(start, stop, step)))
        else:
            start, stop, step = 0, size, 1
            index_axes.append(len(shape))
            shape.append(size)
        starts.append(start), stops.append(stop), steps.append(step)
        axis += 1
    y = x
    if (tuple(starts), tuple(stops), tuple(steps)) != (
        (0,) * x.ndim,
        tuple(x.shape),
        (1,) * x.ndim,
    ):
        y = dispatch.apply("slice", x, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))
    return y.reshape(tuple(shape)), index_axes, (tuple(starts), tuple(stops), tuple(steps))


def getitem(x, key):
    items = _entries(x, key)
    y, axes, _ = _basic(x, items)
    indices = [e[1] for e in items if e[0] == "index"]
    if not indices:
        return y
    indices = [_index_tensor(i, y.shape[a], a) for i, a in zip(indices, axes)]
    if len(indices) == 1:
        return dispatch.apply("take", y, indices[0], axis=axes[0])
    if axes != list(range(axes[0], axes[0] + len(axes))):
        # NumPy puts the broadcast index dimensions first when index axes are not adjacent.
        rest = [a for a in range(y.ndim) if a not in axes]
        y, axes = y.permute(axes + rest), list(range(len(axes)))
    first, dims = axes[0], [y.shape[a] for a in axes]
    y = y.reshape(y.shape[:first] + (-1,) + y.shape[first + len(dims) :])
    linear = indices[-1]
    stride = 1
    for index, dim in zip(reversed(indices[:-1]), reversed(dims[1:])):
        stride *= dim
        linear = linear + index * stride
    return dispatch.apply("take", y, linear, axis=first)


def setitem(x, key, value) -> None:
    """`x[key] = value`: written in place for plain eager tensors, functionally otherwise."""
    is_tensor = isinstance(value, _tensor.Tensor)
    wants_grad = state.grad_enabled and (x._requires_grad or (is_tensor and value._requires_grad))
    if wants_grad and x._requires_grad and x._grad_fn is None:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    if state.trace is None and not wants_grad:
        np_key = _numpy_key(key)
        x._storage()[np_key] = value._storage() if is_tensor else value
        x._vc[0] += 1
        return
    value = value if is_tensor else dispatch.scalar(value, x.dtype)
    value = dispatch.cast(value, x.dtype)
    if isinstance(key, _tensor.Tensor) and key.dtype.name == "bool":
        x._assign(dispatch.apply("where", key, *dispatch.promote(value, x, dtype=x.dtype)))
        return
    items = _entries(x, key)
    if any(e[0] == "index" for e in items):
        x._assign(_put_through_indices(x, items, value))
        return
    region, _, (starts, stops, steps) = _basic(x, items)
    src = value.expand(region.shape).reshape(
        tuple(len(range(a, b, s)) for a, b, s in zip(starts, stops, steps))
    )
    x._assign(dispatch.apply("slice_scatter", x, src, starts=starts, stops=stops, steps=steps))


def _numpy_key(key):
    if isinstance(key, tuple):
        return tuple(_numpy_key(k) for k in key)
    return key._storage() if isinstance(key, _tensor.Tensor) else key


def _put_through_indices(x, items, value):
    """x with `value` written where a key of index tensors (and full slices) points."""
    if any(e[0] == "slice" and e[1] != slice(None) for e in items) or any(
        e[0] not in ("index", "slice") for e in items
    ):
        raise NotImplementedError(
            "assignment through integer-tensor indices mixed with ints, partial slices or None "
            "is only supported on plain eager tensors; use graphc.where or index_put"
        )
    axes = [a for a, e in enumerate(items) if e[0] == "index"]
    indices = [items[a][1] for a in axes]
    batch = np.broadcast_shapes(*(tuple(i.shape) for i in indices))
    rest = [a for a in range(x.ndim) if a not in axes]
    first = axes[0]
    if axes == list(range(first, first + len(axes))):  # NumPy keeps the batch dims in place
        shape = (*x.shape[:first], *batch, *x.shape[axes[-1] + 1 :])
        value = value.expand(shape).movedim(
            list(range(first, first + len(batch))), list(range(len(batch)))
        )
    else:  # and puts them first otherwise
        value = value.expand((*batch, *(x.shape[a] for a in rest)))
    result = index_put(x.permute(axes + rest), indices, value, accumulate=False)
    return result.permute([int(i) for i in np.argsort(axes + rest)])


def index_put(x, indices: tuple, values, accumulate: bool):
    """x with `values` written (or added, with repeats accumulating) at x[indices], where
    `indices` are index tensors (or bool masks) for x's leading dims."""
    tensors = []
    for i in indices:
        i = i if isinstance(i, _tensor.Tensor) else _tensor.Tensor._wrap(np.asarray(i))
        tensors.extend(_mask_indices(i) if i.dtype.name == "bool" else [i])
    if len(tensors) > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    dims = [x.shape[a] for a in range(len(tensors))]
    tensors = [_index_tensor(i, n, a) for a, (i, n) in enumerate(zip(tensors, dims))]
    linear, stride = tensors[-1], 1
    for index, n in zip(reversed(tensors[:-1]), reversed(dims[1:])):
        stride *= n
        linear = linear + index * stride
    rest = tuple(x.shape[len(dims) :])
    flat = x.reshape((int(np.prod(dims, dtype=np.int64)), *rest))
    batch = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    linear = linear.expand(batch).reshape(-1)
    values = dispatch.cast(_as_tensor(values, x.dtype), x.dtype)
    values = values.expand((*batch, *rest)).reshape((-1, *rest))
    if accumulate:
        out = dispatch.apply("index_add", flat, linear, values, axis=0)
    else:
        index = linear.reshape((-1,) + (1,) * len(rest)).expand(tuple(values.shape))
        out = dispatch.apply("scatter", flat, index, values, axis=0)
    return out.reshape(x.shape)


def _as_tensor(value, dtype):
    return value if isinstance(value, _tensor.Tensor) else dispatch.scalar(value, dtype)
