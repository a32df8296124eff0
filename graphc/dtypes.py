"""graphc dtypes (`graphc.float32`, ...) and PyTorch's type-promotion rules."""

from __future__ import annotations

import builtins

import numpy as np

from graphc import state
from ir.types import normalize_dtype


class dtype:
    """A tensor element type; `t.dtype == graphc.float32`. `name` is the IR dtype name."""

    __slots__ = ("_rank", "is_floating_point", "itemsize", "name", "np")

    def __init__(self, name: str, rank: int):
        self.name = name
        self.np = np.dtype(name)
        self.is_floating_point = name.startswith("float")
        self.itemsize = self.np.itemsize
        self._rank = rank

    def __repr__(self) -> str:
        return f"graphc.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


# Promotion order of the supported types: promote(a, b) is the one ranked higher, except where
# PROMOTE_SPECIAL says otherwise (PyTorch's table: uint8 with int8 is int16).
bool_ = dtype("bool", 0)
uint8 = dtype("uint8", 1)
int8 = dtype("int8", 2)
int16 = dtype("int16", 3)
int32 = dtype("int32", 4)
int64 = dtype("int64", 5)
float16 = dtype("float16", 6)
float32 = dtype("float32", 7)
float64 = dtype("float64", 8)
BY_NAME = {d.name: d for d in (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)}
BY_NUMPY = {d.np: d for d in BY_NAME.values()}
PROMOTE_SPECIAL = {frozenset((uint8, int8)): int16}
DEFAULT_FLOAT = float32  # the default float dtype until set_default_dtype changes it
# PyTorch's scalar type names, as its messages and `Tensor.type()` print them.
TYPE_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
              "int64": "Long", "float16": "Half", "float32": "Float", "float64": "Double"}


def get_default_dtype() -> dtype:
    """The dtype of Python floats and of float tensors created without a dtype (float32)."""
    return state.default_float or DEFAULT_FLOAT


def set_default_dtype(d) -> None:
    """Make `d` (a floating-point dtype) the default float dtype, as torch.set_default_dtype."""
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    state.default_float = d


def as_dtype(value) -> dtype:
    """A graphc dtype from a graphc dtype, an IR/NumPy name, a NumPy dtype or a Python type."""
    if isinstance(value, dtype):
        return value
    if value is builtins.float:
        return get_default_dtype()
    if value is builtins.int:
        return int64
    if value is builtins.bool:
        return bool_
    return BY_NAME[normalize_dtype(value)]


def promote_types(a: dtype, b: dtype) -> dtype:
    special = PROMOTE_SPECIAL.get(frozenset((a, b)))
    if special is not None:
        return special
    return a if a._rank >= b._rank else b


def _category(d: dtype | None) -> int:
    """0 undefined, 1 bool, 2 integer, 3 floating."""
    if d is None:
        return 0
    return 1 if d is bool_ else (3 if d.is_floating_point else 2)


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    # PyTorch's combine_categories: a higher category of lower priority operands wins.
    if higher is not None and higher.is_floating_point:
        return higher
    if higher is bool_ or (lower is not None and lower.is_floating_point):
        if higher is None or lower is None:
            return higher or lower
        return promote_types(higher, lower)
    return higher if higher is not None else lower


def scalar_dtype(value) -> dtype:
    """The dtype a Python scalar takes in promotion (floats take the default float dtype)."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return get_default_dtype()
    raise TypeError(f"unsupported operand of type {type(value).__name__}")


def result_type(*operands) -> dtype:
    """PyTorch's result type: dimensioned tensors, then 0-d tensors, then Python scalars.

    `operands` are (dtype, ndim) pairs for tensors or plain Python scalars.
    """
    dims = zeros = wrapped = None
    for op in operands:
        if isinstance(op, tuple):
            d, ndim = op
            if ndim > 0:
                dims = d if dims is None else promote_types(dims, d)
            else:
                zeros = d if zeros is None else promote_types(zeros, d)
        else:
            d = scalar_dtype(op)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dims, _combine(zeros, wrapped))


def tensor_result_type(*operands) -> dtype:
    """`graphc.result_type(a, b)`: the dtype PyTorch's binary ops give tensors and/or scalars."""
    return result_type(*[(op.dtype, op.ndim) if hasattr(op, "dtype") and hasattr(op, "ndim")
                         else op for op in operands])


def can_cast(from_: dtype, to: dtype) -> bool:
    """PyTorch's same-kind rule: no cast to a lower category (float -> int, int -> bool)."""
    return _category(from_) <= _category(to)


class finfo:
    """Machine limits of a floating dtype (bits, eps, max, min, tiny, resolution), as
    `torch.finfo`."""

    def __init__(self, type: dtype | None = None):
        type = get_default_dtype() if type is None else type
        if not type.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use "
                            f"torch.iinfo to handle '{type.name}'")
        info = np.finfo(type.np)
        self.dtype, self.bits = type.name, info.bits
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (bits, min, max), as `torch.iinfo`."""

    def __init__(self, type: dtype):
        if type.is_floating_point:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo "
                            f"to handle '{type.name}'")
        if type is bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        info = np.iinfo(type.np)
        self.dtype, self.bits = type.name, info.bits
        self.min, self.max = int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
