"""Matrix multiplication (batched, broadcasting)."""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.elementwise import broadcast_shapes
from ir.ops.registry import define_op
from ir.types import TensorType


def _matmul_type(a: TensorType, b: TensorType) -> TensorType:
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError("both operands need at least 2 dimensions (reshape vectors to matrices)")
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ ({a.dtype} vs {b.dtype}); insert a cast")
    if a.dtype == "bool":
        raise ShapeError("cannot multiply bool matrices; cast them first")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"inner dimensions differ: {a.shape[-1]} vs {b.shape[-2]}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return TensorType((*batch, a.shape[-2], b.shape[-1]), a.dtype)


def transpose_last(b, v):
    """Emit `v` with its last two axes swapped."""
    perm = (*range(v.type.ndim - 2), v.type.ndim - 1, v.type.ndim - 2)
    return b.permute(v, perm=perm)


def _matmul_vjp(b, g, out, x, y):
    gx = b.matmul(g, transpose_last(b, y))
    gy = b.matmul(transpose_last(b, x), g)
    return b.unbroadcast(gx, x), b.unbroadcast(gy, y)


define_op(
    "matmul",
    arity=2,
    shape=_matmul_type,
    impl=lambda xp, x, y: xp.matmul(x, y),
    vjp=_matmul_vjp,
)
