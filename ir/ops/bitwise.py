"""Bitwise and logical ops on integer and bool tensors: and, or, xor, not, shifts.

On bool operands and/or/xor are logical (NumPy's and C's `&` agree there); `bitwise_not` takes
integers only, because C's `~` on a bool is not a logical not: bools use `logical_not`.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.elementwise import BINARY_TRAITS, UNARY_TRAITS, binary_type, define_ufunc
from ir.ops.registry import ASSOCIATIVE, COMMUTATIVE, IDEMPOTENT, INVOLUTION, no_grad
from ir.types import TensorType, is_float


def integral(x: TensorType, bool_ok: bool = True) -> TensorType:
    if is_float(x.dtype) or (x.dtype == "bool" and not bool_ok):
        kinds = "integer or bool" if bool_ok else "integer"
        raise ShapeError(f"needs {kinds} operands, got {x.dtype}")
    return x


def _bits_binary(x: TensorType, y: TensorType) -> TensorType:
    return binary_type(integral(x), y)


def _shift_type(x: TensorType, y: TensorType) -> TensorType:
    return binary_type(integral(x, bool_ok=False), y)


for _name, _ufunc, _c_op, _traits in (
    ("bitwise_and", "bitwise_and", "&", {COMMUTATIVE, ASSOCIATIVE, IDEMPOTENT}),
    ("bitwise_or", "bitwise_or", "|", {COMMUTATIVE, ASSOCIATIVE, IDEMPOTENT}),
    ("bitwise_xor", "bitwise_xor", "^", {COMMUTATIVE, ASSOCIATIVE}),
):
    define_ufunc(
        _name, _ufunc,
        traits=BINARY_TRAITS | _traits,
        arity=2,
        shape=_bits_binary,
        c_expr=f"({{0}} {_c_op} {{1}})",
        vjp=no_grad,
    )
define_ufunc(
    "left_shift", "left_shift",
    traits=BINARY_TRAITS,
    arity=2,
    shape=_shift_type,
    c_expr="({0} << {1})",
    vjp=no_grad,
)
define_ufunc(
    "right_shift", "right_shift",
    traits=BINARY_TRAITS,
    arity=2,
    shape=_shift_type,
    c_expr="({0} >> {1})",  # arithmetic on signed operands, as NumPy and PyTorch
    vjp=no_grad,
)
define_ufunc(
    "bitwise_not", "invert",
    traits=UNARY_TRAITS | {INVOLUTION},
    shape=lambda x: integral(x, bool_ok=False),
    c_expr="(~{0})",
    vjp=no_grad,
)


def _bool_only(x: TensorType) -> TensorType:
    if x.dtype != "bool":
        raise ShapeError(f"needs a bool operand, got {x.dtype}; compare with 0 first")
    return x


define_ufunc(
    "logical_not", "logical_not",
    traits=UNARY_TRAITS | {INVOLUTION},
    shape=_bool_only,
    c_expr="(!{0})",
    vjp=no_grad,
)
