"""Tensor constructors with PyTorch's names: tensor, from_numpy, zeros, ones, full, arange, ..."""

from __future__ import annotations

import numbers

import numpy as np

from graphc import dispatch, state
from graphc import tensor_core as _tensor
from graphc.device import array_module, check_new_device, device_of, move
from graphc.dtypes import BY_NAME, as_dtype, bool_, get_default_dtype, int64, scalar_dtype
from graphc.tensor_shape import shape_args, size_args


def finish(t, requires_grad: bool, device):
    """A new tensor `t` on `device` (or the default device), requiring grad if asked."""
    target = check_new_device(device)
    if t._data is not None and t.device != target:  # made on the host, moved once
        t = _tensor.Tensor._wrap(move(t._data, target))
    return t.requires_grad_() if requires_grad else t


def layer_dtype(dtype, device):
    """The dtype of a layer's new parameters (the default float dtype for None), after checking
    the layer's `device=`."""
    check_new_device(device)
    return as_dtype(dtype) if dtype is not None else get_default_dtype()


def _infer_dtype(data, array: np.ndarray):
    """PyTorch's dtype for `data`: NumPy data keeps its type, Python floats take the default."""
    if isinstance(data, (np.ndarray, np.generic)):
        kind = array.dtype.kind
        if array.dtype.name in BY_NAME:
            return BY_NAME[array.dtype.name]
        return get_default_dtype() if kind == "f" else (bool_ if kind == "b" else int64)
    kind = array.dtype.kind
    return bool_ if kind == "b" else (int64 if kind in "iu" else get_default_dtype())


def tensor(data, dtype=None, device=None, requires_grad: bool = False):
    """A new tensor holding a copy of `data` (nested sequences, scalars, arrays or tensors)."""
    if isinstance(data, _tensor.Tensor):
        if data._data is None:  # traced: a copy in the graph
            return finish(data.clone() if dtype is None else dispatch.cast(data, dtype).clone(),
                          requires_grad, device)
        array = data._storage()
        device = data.device if device is None else device
    elif array_module(data) is not np:  # a CuPy array
        array, device = data, device_of(data) if device is None else device
    else:
        array = np.asarray(data)
        if array.dtype == object:
            raise TypeError(f"could not convert {type(data).__name__} to a tensor")
    dtype = as_dtype(dtype) if dtype is not None else _infer_dtype(data, array)
    t = _tensor.Tensor._wrap(array_module(array).array(array, dtype=dtype.np, copy=True))
    return finish(t, requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing memory when it already is one (or a NumPy array) of `dtype`."""
    if isinstance(data, _tensor.Tensor):
        return data if dtype is None else dispatch.cast(data, dtype)
    same_type = dtype is None or as_dtype(dtype).np == getattr(data, "dtype", None)
    if isinstance(data, np.ndarray) and data.dtype.name in BY_NAME and same_type:
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray):
    """A tensor sharing `array`'s memory."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if array.dtype.name not in BY_NAME:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{array.dtype.name}. The only supported types "
            f"are: {', '.join(BY_NAME)}."
        )
    return _tensor.Tensor._wrap(array)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False):
    """A tensor of `size` filled with `fill_value` (a `full` node while tracing)."""
    if isinstance(fill_value, _tensor.Tensor):
        fill_value = fill_value.item()
    dtype = as_dtype(dtype) if dtype is not None else scalar_dtype(fill_value)
    shape = shape_args((size,)) if not isinstance(size, numbers.Integral) else (int(size),)
    value = (
        float(fill_value)
        if dtype.is_floating_point
        else (bool(fill_value) if dtype is bool_ else int(fill_value))
    )
    if state.trace is not None:
        t = dispatch.apply("full", shape=shape, dtype=dtype.name, value=value)
    else:
        t = _tensor.Tensor._wrap(np.full(shape, value, dtype=dtype.np))
    return finish(t, requires_grad, device)


def zeros(*args, size=None, dtype=None, device=None, requires_grad: bool = False):
    """Zeros of shape `zeros(2, 3)`, `zeros((2, 3))` or `zeros(size=(2, 3))`."""
    return full(size_args(args, size), 0.0, dtype or get_default_dtype(), device, requires_grad)


def ones(*args, size=None, dtype=None, device=None, requires_grad: bool = False):
    """Ones of shape `ones(2, 3)`, `ones((2, 3))` or `ones(size=(2, 3))`."""
    return full(size_args(args, size), 1.0, dtype or get_default_dtype(), device, requires_grad)


empty = zeros


def full_like(t, fill_value, dtype=None, device=None, requires_grad: bool = False):
    """A tensor like `t` (its shape, dtype and device unless given) filled with `fill_value`."""
    return full(tuple(t.shape), fill_value, dtype or t.dtype, like_device(t, device), requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad: bool = False):
    return full_like(t, 0, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad: bool = False):
    return full_like(t, 1, dtype, device, requires_grad)


def like_device(t, device):
    return device if device is not None or t.is_traced else t.device


empty_like = zeros_like


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False):
    """Values from `start` to `end` (exclusive) by `step`; int64 when all are integers."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if integral else get_default_dtype()
    dtype = as_dtype(dtype)
    t = _tensor.Tensor._wrap(np.arange(start, end, step).astype(dtype.np))
    return finish(t, requires_grad, device)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False):
    dtype = as_dtype(dtype or get_default_dtype())
    t = _tensor.Tensor._wrap(np.linspace(start, end, int(steps)).astype(dtype.np))
    return finish(t, requires_grad, device)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False):
    dtype = as_dtype(dtype or get_default_dtype())
    return finish(_tensor.Tensor._wrap(np.eye(n, m, dtype=dtype.np)), requires_grad, device)
