"""GEMM through SciPy's BLAS: `alpha * op(a) @ op(b) + beta * c` written into a given C-ordered
output, in place over c when c is that output (NumPy's matmul has no alpha, beta or in-place c).

BLAS is column-major; a C-ordered matrix is the transpose of a column-major one, so
`C = op(A) op(B)` is computed as the column-major `C^T = op(B)^T op(A)^T` over the same memory,
no copy. This is the runtime's faster kernel for 2-D float `matmul` and `gemm`; tests check it
against the ops' reference kernels.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from ir.ops.registry import get_op

ROUTINES = {np.dtype("float32"): blas.sgemm, np.dtype("float64"): blas.dgemm}


def supports(out, *operands) -> bool:
    """Whether the BLAS path applies: NumPy float32/float64 matrices and a C-ordered output."""
    return (
        isinstance(out, np.ndarray)
        and out.dtype in ROUTINES
        and out.ndim == 2
        and out.flags.c_contiguous
        and all(isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == out.dtype
                for x in operands)
    )


def column_major(x: np.ndarray, trans: bool) -> tuple[np.ndarray, bool]:
    """(an F-ordered array, flag) standing for op(x)^T, copying only if x is neither C- nor
    F-contiguous."""
    if x.flags.c_contiguous:
        return x.T, trans
    if x.flags.f_contiguous:
        return x, not trans
    return np.asfortranarray(x.T), trans


def gemm_into(out, a, b, alpha: float, beta: float, trans_a: bool, trans_b: bool) -> None:
    """out = alpha * op(a) @ op(b) + beta * out (beta == 0 ignores what out held, NaN too)."""
    if out.size == 0:
        return
    if a.shape[-1 if not trans_a else 0] == 0:  # empty inner dimension: the product is zero
        if beta == 0:
            out.fill(0)
        else:
            out *= beta
        return
    fb, tb = column_major(b, trans_b)
    fa, ta = column_major(a, trans_a)
    routine = ROUTINES[out.dtype]
    result = routine(alpha, fb, fa, beta=beta, c=out.T, trans_a=int(tb), trans_b=int(ta),
                     overwrite_c=1)
    if not np.may_share_memory(result, out):  # the wrapper had to copy: put it back
        np.copyto(out, result.T)


def matmul_write(xp, out, a, b, *, trans_a, trans_b):
    """The `matmul` write kernel on BLAS (2-D), else the reference one."""
    if supports(out, a, b):
        gemm_into(out, a, b, 1.0, 0.0, trans_a, trans_b)
    else:
        get_op("matmul").write(xp, out, a, b, trans_a=trans_a, trans_b=trans_b)


def gemm_write(xp, out, a, b, c, alpha, beta, *, trans_a, trans_b):
    """The `gemm` write kernel on BLAS (2-D), else the reference one.

    BLAS skips the product when alpha is 0 and ignores c when beta is 0, where the op's IEEE
    semantics (0 * NaN = NaN) read them: those cases take the reference kernel, unless c is all
    finite (then 0 * c adds nothing)."""
    alpha_f, beta_f = float(alpha), float(beta)
    if (not supports(out, a, b) or alpha_f == 0
            or (beta_f == 0 and not np.isfinite(np.sum(c)))):
        get_op("gemm").write(xp, out, a, b, c, alpha, beta, trans_a=trans_a, trans_b=trans_b)
        return
    if beta_f != 0 and not np.may_share_memory(out, c):
        np.copyto(out, c)  # broadcast c (a bias) into the output, then accumulate onto it
    gemm_into(out, a, b, alpha_f, beta_f, trans_a, trans_b)
