"""Ops that create values: full, uniform random samples, and the random mask for dropout."""

from __future__ import annotations

import math

from ir.errors import ShapeError
from ir.ops.registry import CREATION, RANDOM, Attr, define_op, no_grad
from ir.types import TensorType

define_op(
    "full",
    arity=0,
    traits={CREATION},
    attrs={"shape": Attr(tuple), "dtype": Attr(str), "value": Attr((int, float, bool))},
    shape=lambda *, shape, dtype, value: TensorType(shape, dtype),
    impl=lambda xp, *, shape, dtype, value: xp.full(shape, value, dtype=dtype),
    write=lambda xp, out, *, shape, dtype, value: out.fill(value),
    vjp=no_grad,
)


def _mask_type(key: TensorType, *, shape, p, dtype) -> TensorType:
    if key.shape != () or key.dtype != "int64":
        raise ShapeError(f"the random key must be a scalar int64, got {key}")
    if not 0.0 <= p <= 1.0:
        raise ShapeError(f"keep probability p={p} is not in [0, 1]")
    return TensorType(shape, dtype)


# splitmix64 constants: a counter-based generator, so a key gives the same mask on NumPy and CuPy.
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def uniform(xp, key, shape):
    """Uniform [0, 1) float64 samples that depend only on `key` and the element index."""
    u64 = "uint64"
    z = xp.arange(1, 1 + math.prod(shape), dtype=u64)
    z = z * xp.asarray(GOLDEN, dtype=u64) + xp.asarray(key, dtype="int64").astype(u64)
    z = (z ^ (z >> xp.asarray(30, dtype=u64))) * xp.asarray(MIX1, dtype=u64)
    z = (z ^ (z >> xp.asarray(27, dtype=u64))) * xp.asarray(MIX2, dtype=u64)
    z = z ^ (z >> xp.asarray(31, dtype=u64))
    return ((z >> xp.asarray(11, dtype=u64)).astype("float64") * 2.0**-53).reshape(shape)


define_op(
    "random_mask",
    traits={RANDOM, CREATION},
    attrs={"shape": Attr(tuple), "p": Attr(float), "dtype": Attr(str, "float32")},
    shape=_mask_type,
    impl=lambda xp, key, *, shape, p, dtype: (uniform(xp, key, shape) < p).astype(dtype),
    vjp=no_grad,
    doc="1 with probability p (keep), else 0; all randomness comes from the int64 `key` input.",
)
define_op(
    "random_uniform",
    traits={RANDOM, CREATION},
    attrs={"shape": Attr(tuple), "dtype": Attr(str, "float32")},
    shape=lambda key, *, shape, dtype: _mask_type(key, shape=shape, p=0.5, dtype=dtype),
    impl=lambda xp, key, *, shape, dtype: uniform(xp, key, shape).astype(dtype),
    vjp=no_grad,
    doc="Uniform samples in [0, 1); all randomness comes from the int64 `key` input.",
)
