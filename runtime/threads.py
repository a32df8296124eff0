"""One BLAS thread pool for the whole process, sized once (`graphc.set_num_threads`).

NumPy and SciPy each bring their own OpenBLAS; both get the same thread count, and compiled steps
run every GEMM on one of them, so no two pools fight over the cores within a step.
"""

from __future__ import annotations

import os

_threads: int | None = None
_applied: int | None = None


def set_num_threads(n: int) -> None:
    """Use `n` BLAS threads from now on (as `torch.set_num_threads`)."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _threads = n
    configure_threads()


def get_num_threads() -> int:
    """The BLAS thread count compiled code runs with."""
    return _threads or os.cpu_count() or 1


def configure_threads() -> None:
    """Apply the thread count to every BLAS library loaded (once, and again after a change)."""
    global _applied
    wanted = get_num_threads()
    if _applied == wanted:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=wanted, user_api="blas")
    _applied = wanted
