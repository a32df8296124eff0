"""The NumPy backend's faster kernels against the ops' reference kernels, through one call site
fed the same arrays again (what it prepared is reused) and other arrays (it prepares again)."""

from __future__ import annotations

import numpy as np
import pytest

from ir.ops.registry import get_op
from runtime.numpy_kernels import WhereKernel

SPECIAL = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.5])


def operands(rng, dtype, shape=(4, 8)):
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[: SPECIAL.size] = SPECIAL
    return x, rng.random(shape) < 0.5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("zero", [0.0, -0.0, 2.0])
@pytest.mark.parametrize("zero_side", ["x", "y"])
def test_where_equals_the_reference_bit_for_bit(rng, dtype, zero, zero_side):
    x, cond = operands(rng, dtype)
    z = np.asarray(zero, dtype)
    args = (cond, x, z) if zero_side == "y" else (cond, z, x)
    kernel, scratch = WhereKernel(), (np.empty(x.shape, dtype),)
    out = np.empty_like(x)
    for _ in range(2):  # the second call reuses what the first prepared
        x[...] = np.flip(x)
        cond[...] = ~cond
        kernel(np, out, *args, scratch=scratch)
        want = get_op("where").impl(np, *args)
        np.testing.assert_array_equal(out.view(np.uint8), want.view(np.uint8))
    z[...] = 3.0  # the zero operand changed value: no longer a select with +0.0
    kernel(np, out, *args, scratch=scratch)
    np.testing.assert_array_equal(out, get_op("where").impl(np, *args))


def test_where_takes_the_reference_path_where_the_select_does_not_apply(rng):
    x, cond = operands(rng, "float32")
    kernel, out = WhereKernel(), np.empty_like(x)
    zero = np.asarray(0.0, np.float32)
    for args, scratch in [((cond, x, zero), None),  # no scratch
                          ((cond[:1], x, zero), (np.empty_like(x),)),  # cond broadcast
                          ((cond, x, x[::-1]), (np.empty_like(x),))]:  # no zero branch
        kernel(np, out, *args, scratch=scratch)
        np.testing.assert_array_equal(out, get_op("where").impl(np, *args))
    ints = np.arange(32).reshape(4, 8)
    out = np.empty_like(ints)
    kernel(np, out, cond, ints, np.asarray(0), scratch=(np.empty_like(ints),))
    np.testing.assert_array_equal(out, np.where(cond, ints, 0))
