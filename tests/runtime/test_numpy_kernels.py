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


ALONG_AXIS_CASES = [  # (x shape, idx shape, axis)
    ((6, 10), (6, 1), 1),  # a loss's class targets: one index per row
    ((6, 10), (6, 3), 1),  # several per row, repeats accumulate
    ((5, 4, 3), (2, 4, 3), 0),
    ((5, 4, 3), (3, 2, 2), -1),  # idx covers a corner of x off the axis
    ((7,), (4,), 0),
    ((3, 0), (3, 0), 1),
]


def index_operands(rng, x_shape, idx_shape, axis, dtype="int64", negative=False):
    n = x_shape[axis]
    low = -n if negative else 0
    idx = rng.integers(low, max(n, 1), idx_shape).astype(dtype) if n else np.zeros(idx_shape,
                                                                                   dtype)
    return rng.standard_normal(x_shape).astype(np.float32), idx


@pytest.mark.parametrize("case", ALONG_AXIS_CASES)
@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("negative", [False, True])
def test_gather_and_scatter_add_equal_the_reference(rng, case, dtype, negative):
    from runtime.numpy_kernels import GatherKernel, ScatterAddKernel

    x_shape, idx_shape, axis = case
    gather, scatter = GatherKernel(), ScatterAddKernel()
    for _ in range(2):  # new index contents at the same call site
        x, idx = index_operands(rng, x_shape, idx_shape, axis, dtype, negative)
        out = np.empty(idx_shape, np.float32)
        gather(np, out, x, idx, axis=axis)
        np.testing.assert_array_equal(out, get_op("gather").impl(np, x, idx, axis=axis))
        src = rng.standard_normal(idx_shape).astype(np.float32)
        into = np.empty_like(x)
        scatter(np, into, x, idx, src, axis=axis)
        want = get_op("scatter_add").impl(np, x, idx, src, axis=axis)
        np.testing.assert_array_equal(into, want)
        scatter(np, x, x, idx, src, axis=axis)  # in place over its base
        np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("bad", [10, -11])
def test_gather_and_scatter_add_out_of_range_raise_the_reference_error(rng, bad):
    from runtime.numpy_kernels import GatherKernel, ScatterAddKernel

    x, idx = index_operands(rng, (4, 10), (4, 1), 1)
    idx[2, 0] = bad
    with pytest.raises(IndexError) as want:
        get_op("gather").impl(np, x, idx, axis=1)
    with pytest.raises(IndexError) as got:
        GatherKernel()(np, np.empty((4, 1), np.float32), x, idx, axis=1)
    assert str(got.value) == str(want.value)
    with pytest.raises(IndexError):
        ScatterAddKernel()(np, np.empty_like(x), x, idx, np.ones((4, 1), np.float32), axis=1)
