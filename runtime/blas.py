"""GEMM on the BLAS NumPy itself uses: `alpha * op(a) @ op(b) + beta * c` written into a given
C-ordered output, in place over c when c is that output (NumPy's matmul has no alpha, beta or
in-place c, which an SGD step folded into its weight-gradient GEMM needs).

`cblas_?gemm` of NumPy's own OpenBLAS is called through ctypes, so eager `matmul` and compiled
GEMMs share one BLAS library and one thread pool (and NumPy's bundled OpenBLAS is the faster of
the two on the machines we measured). Where that library cannot be found (a NumPy built against
another BLAS), SciPy's BLAS wrappers do the same job: a C-ordered matrix is the transpose of a
column-major one, so `C = op(A) op(B)` is computed as the column-major `C^T = op(B)^T op(A)^T`.
Tests check both against the ops' reference kernels.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from ir.ops.registry import get_op

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SYMBOLS = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("cblas_{}gemm64_", ctypes.c_int64),
           ("cblas_{}gemm", ctypes.c_int))
PREFIX = {np.dtype("float32"): "s", np.dtype("float64"): "d"}
SCALAR = {np.dtype("float32"): ctypes.c_float, np.dtype("float64"): ctypes.c_double}


@functools.cache
def numpy_cblas(dtype: np.dtype):
    """NumPy's BLAS `cblas_?gemm` for `dtype` as a ctypes function, or None if not found."""
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern, index in SYMBOLS:
            fn = getattr(lib, pattern.format(PREFIX[dtype]), None)
            if fn is None:
                continue
            s, p = SCALAR[dtype], ctypes.c_void_p
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, s, p,
                           index, p, index, s, p, index]
            fn.restype = None
            return fn
    return None


def _numpy_blas_paths() -> list[str]:
    """The BLAS libraries threadpoolctl finds loaded by NumPy (its own bundled one first)."""
    from threadpoolctl import threadpool_info

    paths = [i["filepath"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return sorted(paths, key=lambda p: "numpy" not in p)


def supports(out, *operands) -> bool:
    """Whether the BLAS path applies: NumPy float32/float64 matrices and a C-ordered output."""
    return (
        isinstance(out, np.ndarray)
        and out.dtype in PREFIX
        and out.ndim == 2
        and out.flags.c_contiguous
        and all(isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == out.dtype
                for x in operands)
    )


def row_major(x: np.ndarray, trans: bool) -> tuple[np.ndarray, bool]:
    """(a C-ordered array, flag) standing for op(x), copying only if x is neither C- nor
    F-contiguous (an F-ordered x is the C-ordered x.T, transposed)."""
    if x.flags.c_contiguous:
        return x, trans
    if x.flags.f_contiguous:
        return x.T, not trans
    return np.ascontiguousarray(x), trans


def gemm_into(out, a, b, alpha: float, beta: float, trans_a: bool, trans_b: bool) -> None:
    """out = alpha * op(a) @ op(b) + beta * out (beta == 0: what out held is not read)."""
    GemmSite()(out, a, b, alpha, beta, trans_a, trans_b)


class GemmSite:
    """One GEMM call site (a program step): cblas arguments as ready ctypes objects, refilled
    only when other arrays come than last time (a step's planned buffers are the same arrays
    at every run), so a call costs one foreign call and allocates nothing. Operands BLAS cannot
    read in place (they need a copy) take the uncached path."""

    __slots__ = ("_args", "_call", "_seen")

    def __init__(self):
        self._seen: tuple = ()
        self._args = self._call = None

    def __call__(self, out, a, b, alpha: float, beta: float, trans_a: bool,
                 trans_b: bool) -> None:
        seen = self._seen
        if not (seen and seen[0] is out and seen[1] is a and seen[2] is b):
            self._seen = (out, a, b) if self._prepare(out, a, b, trans_a, trans_b) else ()
        if not self._seen:
            _gemm_uncached(out, a, b, alpha, beta, trans_a, trans_b)
            return
        args = self._args
        args[6].value, args[11].value = alpha, beta
        self._call()

    def _prepare(self, out, a, b, trans_a, trans_b) -> bool:
        """Fill the arguments for these arrays; False if they cannot be cached."""
        k = a.shape[0] if trans_a else a.shape[1]
        if (numpy_cblas(out.dtype) is None or out.size == 0 or k == 0
                or not all(x.flags.c_contiguous or x.flags.f_contiguous for x in (a, b))):
            return False
        if self._args is None:
            index, number = numpy_cblas(out.dtype).argtypes[3], SCALAR[out.dtype]
            self._args = (ctypes.c_int(ROW_MAJOR), ctypes.c_int(), ctypes.c_int(), index(),
                          index(), index(), number(), ctypes.c_void_p(), index(),
                          ctypes.c_void_p(), index(), number(), ctypes.c_void_p(), index())
            self._call = functools.partial(_untyped(out.dtype), *self._args)
        values = _cblas_arguments(out, a, b, 0.0, 0.0, trans_a, trans_b, k)
        for i, value in enumerate(values):
            if i not in (0, 6, 11):  # the layout is fixed; alpha and beta are set per call
                self._args[i].value = value
        return True


def _gemm_uncached(out, a, b, alpha, beta, trans_a, trans_b) -> None:
    if out.size == 0:
        return
    k = a.shape[0] if trans_a else a.shape[1]
    if k == 0:  # an empty inner dimension: the product is zero
        if beta == 0:
            out.fill(0)
        else:
            out *= beta
        return
    routine = numpy_cblas(out.dtype)
    if routine is None:
        _scipy_gemm(out, a, b, alpha, beta, trans_a, trans_b)
        return
    routine(*_cblas_arguments(out, a, b, alpha, beta, trans_a, trans_b, k))


def _cblas_arguments(out, a, b, alpha, beta, trans_a, trans_b, k) -> tuple:
    """cblas_?gemm's 14 arguments for out = alpha * op(a) @ op(b) + beta * out, row-major (a
    copy is made of an operand neither C- nor F-contiguous: callers caching the addresses
    refuse those)."""
    a, trans_a = row_major(a, trans_a)
    b, trans_b = row_major(b, trans_b)
    m, n = out.shape
    return (ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k,
            alpha, _address(a), a.shape[1], _address(b), b.shape[1], beta, _address(out), n)


@functools.cache
def _untyped(dtype: np.dtype):
    """`numpy_cblas(dtype)` without argtypes: given ready ctypes objects it skips converting
    them."""
    routine = numpy_cblas(dtype)
    fn = type(routine)(ctypes.cast(routine, ctypes.c_void_p).value)
    fn.restype = None
    return fn


def _address(x: np.ndarray) -> int:
    return x.__array_interface__["data"][0]


def _scipy_gemm(out, a, b, alpha, beta, trans_a, trans_b) -> None:
    from scipy.linalg import blas

    fb, tb = _column_major(b, trans_b)
    fa, ta = _column_major(a, trans_a)
    routine = blas.sgemm if out.dtype == np.float32 else blas.dgemm
    result = routine(alpha, fb, fa, beta=beta, c=out.T, trans_a=int(tb), trans_b=int(ta),
                     overwrite_c=1)
    if not np.may_share_memory(result, out):  # the wrapper had to copy: put it back
        np.copyto(out, result.T)


def _column_major(x: np.ndarray, trans: bool) -> tuple[np.ndarray, bool]:
    """(an F-ordered array, flag) standing for op(x)^T."""
    x, trans = row_major(x, trans)
    return x.T, trans


class MatmulKernel:
    """The `matmul` write kernel of one program step, on BLAS (2-D), else the reference one."""

    def __init__(self):
        self.site = GemmSite()

    def __call__(self, xp, out, a, b, *, trans_a, trans_b):
        if supports(out, a, b):
            self.site(out, a, b, 1.0, 0.0, trans_a, trans_b)
        else:
            get_op("matmul").write(xp, out, a, b, trans_a=trans_a, trans_b=trans_b)


class GemmKernel:
    """The `gemm` write kernel of one program step, on BLAS (2-D), else the reference one.

    BLAS skips the product when alpha is 0 and ignores c when beta is 0, where the op's IEEE
    semantics (0 * NaN = NaN) read them: those cases take the reference kernel, unless c is all
    finite (then 0 * c adds nothing)."""

    def __init__(self):
        self.site = GemmSite()

    def __call__(self, xp, out, a, b, c, alpha, beta, *, trans_a, trans_b):
        alpha_f, beta_f = float(alpha), float(beta)
        if (not supports(out, a, b) or alpha_f == 0
                or (beta_f == 0 and not np.isfinite(np.sum(c)))):
            get_op("gemm").write(xp, out, a, b, c, alpha, beta, trans_a=trans_a,
                                 trans_b=trans_b)
            return
        if beta_f != 0 and c is not out and not np.may_share_memory(out, c):
            np.copyto(out, c)  # broadcast c (a bias) into the output, then accumulate onto it
        self.site(out, a, b, alpha_f, beta_f, trans_a, trans_b)


def matmul_write(xp, out, a, b, *, trans_a, trans_b):
    """`MatmulKernel` for one call."""
    MatmulKernel()(xp, out, a, b, trans_a=trans_a, trans_b=trans_b)


def gemm_write(xp, out, a, b, c, alpha, beta, *, trans_a, trans_b):
    """`GemmKernel` for one call."""
    GemmKernel()(xp, out, a, b, c, alpha, beta, trans_a=trans_a, trans_b=trans_b)
