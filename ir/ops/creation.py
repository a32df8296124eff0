"""Ops that create values: full, and the random mask for dropout."""

from ir.ops.registry import CREATION, Attr, define_op, no_grad
from ir.types import TensorType

define_op(
    "full", arity=0, traits={CREATION},
    attrs={"shape": Attr(tuple), "dtype": Attr(str), "value": Attr((int, float, bool))},
    shape=lambda *, shape, dtype, value: TensorType(shape, dtype),
    impl=lambda xp, *, shape, dtype, value: xp.full(shape, value, dtype=dtype),
    vjp=no_grad,
)
