"""`apply(op, *tensors, **attrs)`: the one entry point of every Tensor operation.

Eagerly, it runs the op's reference kernel with NumPy at once and, when gradients are wanted,
records the node for `backward()`; while tracing, it appends the node to the trace's graph. The
helpers below turn Python scalars into tensors and insert the casts PyTorch's type promotion
implies, because the IR's binary ops require equal dtypes.
"""

from __future__ import annotations

import numpy as np

from graphc import autograd, state, tracing
from graphc import tensor_core as _tensor
from graphc.device import array_module, device_of, move, same_device_error
from graphc.dtypes import as_dtype, bool_, result_type
from ir.errors import ShapeError
from ir.ops.registry import NONDIFFERENTIABLE, SHAPE, get_op

# (op, attrs, input signatures) -> (checked attrs, output dtypes, shares-memory flag, opdef)
_INFER_CACHE: dict = {}


def apply(op: str, *tensors, **attrs):
    """Apply primitive `op` to Tensors: one Tensor, or a tuple for multi-output ops."""
    if state.trace is not None:
        return state.trace.apply(op, tensors, attrs)
    return _eager_apply(op, tensors, attrs)


def _infer(op: str, arrays, attrs: dict):
    key = (op, tuple(attrs.items()), tuple((a.shape, a.dtype) for a in arrays))
    hit = _INFER_CACHE.get(key)
    if hit is None:
        opdef = get_op(op)
        try:
            full = opdef.check_attrs(attrs)
            types = opdef.infer([_tensor.array_type(a) for a in arrays], full)
        except ShapeError as err:
            operands = ", ".join(str(_tensor.array_type(a)) for a in arrays)
            where = tracing.user_location()
            raise ShapeError(
                f"{op}({operands}): {err}" + (f" at {where}" if where else "")
            ) from None
        dtypes = tuple(np.dtype(t.dtype) for t in types)
        hit = (full, dtypes, opdef.has(SHAPE), opdef)
        if len(_INFER_CACHE) > 4096:
            _INFER_CACHE.clear()
        _INFER_CACHE[key] = hit
    return hit


def _eager_apply(op: str, tensors, attrs: dict):
    arrays = [t._data if t._data is not None else t._storage() for t in tensors]
    full, dtypes, is_view, opdef = _infer(op, arrays, attrs)
    xp = np
    if any(type(a) is not np.ndarray for a in arrays):
        xp, arrays = _on_one_device(op, arrays)
    result = opdef.impl(xp, *arrays, **full)
    results = result if isinstance(result, tuple) else (result,)
    outs = []
    for array, dt in zip(results, dtypes):
        if type(array) is not np.ndarray or array.dtype != dt:
            array = xp.asarray(array).astype(dt, copy=False)
        # A result that views its input shares its version counter: in-place changes to either
        # are seen by autograd's checks on both.
        view = is_view and array.base is not None and xp.may_share_memory(array, arrays[0])
        outs.append(_tensor.Tensor._wrap(array, tensors[0]._vc if view else None))
    recording = state.grad_enabled and not opdef.has(NONDIFFERENTIABLE)
    if recording and any(t._requires_grad for t in tensors):
        autograd.record(op, full, tensors, outs)
    return outs[0] if len(outs) == 1 else tuple(outs)


def _on_one_device(op: str, arrays):
    """(array module, arrays) for operands on one device. As in PyTorch, 0-d CPU operands (the
    Python scalars of `x * 2`) join a CUDA tensor; anything else on another device is an error
    naming it."""
    devices = [device_of(a) for a in arrays]
    target = next((d for d in devices if d.type != "cpu"), devices[0])
    moved = []
    for k, (array, dev) in enumerate(zip(arrays, devices)):
        if dev != target:
            if array.ndim != 0:
                name = ("self", "other")[k] if len(arrays) == 2 else f"argument #{k + 1}"
                raise same_device_error(name, dev, target, op)
            array = move(array, target)
        moved.append(array)
    return array_module(moved[0]), moved


# -- promotion helpers ---------------------------------------------------------------------------


def scalar(value, dtype) -> _tensor.Tensor:
    """A 0-d tensor holding Python scalar `value` as `dtype` (a graph constant while tracing);
    integers out of the dtype's range wrap around, as in PyTorch."""
    np_dtype = as_dtype(dtype).np
    if np_dtype.kind in "iu" and isinstance(value, int) and not isinstance(value, bool):
        info = np.iinfo(np_dtype)
        if not info.min <= value <= info.max:
            return _tensor.Tensor._wrap(np.asarray(value).astype(np_dtype))
    return _tensor.Tensor._wrap(np.asarray(value, dtype=np_dtype))


def cast(t: _tensor.Tensor, dtype) -> _tensor.Tensor:
    """`t` converted to `dtype` (itself when it already has it)."""
    dtype = as_dtype(dtype)
    return t if t.dtype is dtype else apply("cast", t, dtype=dtype.name)


def common_dtype(*operands):
    """PyTorch's result dtype of Tensors and Python scalars."""
    if len(operands) == 2:
        a, b = operands if isinstance(operands[0], _tensor.Tensor) else operands[::-1]
        if isinstance(a, _tensor.Tensor) and (fast := _same_kind(a.dtype, b)) is not None:
            return fast
    return result_type(
        *((x.dtype, x.ndim) if isinstance(x, _tensor.Tensor) else x for x in operands)
    )


def _same_kind(dtype, other):
    """`dtype` when `other` (a Tensor of that dtype, or a Python scalar it absorbs) keeps it."""
    if isinstance(other, _tensor.Tensor):
        return dtype if other.dtype is dtype else None
    kept = (type(other) is float and dtype.is_floating_point) or (
        type(other) is int and dtype is not bool_
    )
    return dtype if kept else None


def promote(*operands, dtype=None) -> list:
    """Tensors of one dtype (`dtype`, or the promoted one) from Tensors and Python scalars."""
    dtype = as_dtype(dtype) if dtype is not None else common_dtype(*operands)
    return [cast(x, dtype) if isinstance(x, _tensor.Tensor) else scalar(x, dtype) for x in operands]


def binary(op: str, a, b, dtype=None):
    """Binary op `op` on Tensors/scalars after promoting both to a common dtype."""
    x, y = promote(a, b, dtype=dtype)
    return apply(op, x, y)
