"""The runtime's BLAS GEMM (NumPy's own cblas through ctypes, SciPy's wrappers as the fallback)
against the reference kernels: transposes, F-ordered and strided operands, alpha/beta, in place
over c, empty dimensions, NaN in c with beta 0."""

from __future__ import annotations

import numpy as np
import pytest

from ir.ops.registry import get_op
from runtime import blas


@pytest.fixture(params=["numpy cblas", "scipy"])
def path(request, monkeypatch):
    if request.param == "scipy":
        monkeypatch.setattr(blas, "numpy_cblas", lambda dtype: None)
    elif blas.numpy_cblas(np.dtype("float32")) is None:
        pytest.skip("NumPy's BLAS exports no cblas_sgemm here")
    return request.param


def layouts(rng, shape, dtype):
    """The same matrix C-ordered, F-ordered and as a strided (non-contiguous) view."""
    x = rng.standard_normal(shape).astype(dtype)
    wide = rng.standard_normal((shape[0], 2 * shape[1])).astype(dtype)
    wide[:, ::2] = x
    return [x, np.asfortranarray(x), wide[:, ::2]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_the_reference_in_every_layout(path, dtype, trans_a, trans_b, rng):
    m, k, n = 5, 7, 3
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a in layouts(rng, (k, m) if trans_a else (m, k), dtype):
        for b in layouts(rng, (n, k) if trans_b else (k, n), dtype):
            c = rng.standard_normal((n,)).astype(dtype)
            alpha, beta = np.asarray(-0.5, dtype), np.asarray(0.9, dtype)
            flags = {"trans_a": trans_a, "trans_b": trans_b}
            want = get_op("gemm").impl(np, a, b, c, alpha, beta, **flags)
            out = np.empty((m, n), dtype)
            blas.gemm_write(np, out, a, b, c, alpha, beta, **flags)
            np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
            blas.matmul_write(np, out, a, b, **flags)
            np.testing.assert_allclose(out, get_op("matmul").impl(np, a, b, **flags), rtol=tol,
                                       atol=tol)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_in_place_over_c_and_the_ieee_cases(path, rng):
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3))
    w = rng.standard_normal((4, 3))
    want = w - 0.1 * (a @ b)
    blas.gemm_write(np, w, a, b, w, np.asarray(-0.1), np.asarray(1.0), trans_a=False,
                    trans_b=False)
    np.testing.assert_allclose(w, want, rtol=1e-12)
    out = np.empty((4, 3))
    nan = np.full((4, 3), np.nan)
    blas.gemm_write(np, out, a, b, nan, np.asarray(1.0), np.asarray(0.0), trans_a=False,
                    trans_b=False)
    assert np.isnan(out).all()  # 0 * NaN is NaN (BLAS alone would ignore c)
    inf = np.full((6, 3), np.inf)
    blas.gemm_write(np, out, a, inf, np.zeros(3), np.asarray(0.0), np.asarray(1.0),
                    trans_a=False, trans_b=False)
    assert np.isnan(out).all()  # 0 * inf is NaN (BLAS alone would skip the product)


def test_empty_dimensions(path):
    out = np.full((2, 3), 7.0)
    blas.gemm_into(out, np.zeros((2, 0)), np.zeros((0, 3)), 1.0, 0.5, False, False)
    np.testing.assert_array_equal(out, 3.5)
    blas.gemm_into(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((4, 3)), 1.0, 0.0, False, False)


def test_a_call_site_follows_new_arrays_and_new_contents(path, rng):
    site = blas.GemmSite()
    out, a, b = np.empty((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    for _ in range(2):  # same arrays, new contents: the prepared call reads them afresh
        a[...] = rng.standard_normal(a.shape)
        site(out, a, b, 2.0, 0.0, False, True)
        np.testing.assert_allclose(out, 2.0 * a @ b.T, rtol=1e-12)
    other, fresh = np.empty((3, 4)), rng.standard_normal((5, 3))  # new arrays, other layout
    site(other, fresh, b, 1.0, 0.0, True, True)
    np.testing.assert_allclose(other, fresh.T @ b.T, rtol=1e-12)
    strided = rng.standard_normal((3, 10))[:, ::2]  # needs a copy: never cached
    site(out, strided, b, 1.0, 0.0, False, True)
    np.testing.assert_allclose(out, strided @ b.T, rtol=1e-12)
    strided[...] = 1.0
    site(out, strided, b, 1.0, 0.0, False, True)
    np.testing.assert_allclose(out, strided @ b.T, rtol=1e-12)
