"""`graphc.cuda`: PyTorch's device queries. A CUDA device exists when CuPy is installed and sees a
GPU; CuPy is imported only to ask, and never when it is not installed."""

from __future__ import annotations

import functools
import importlib.util


@functools.cache
def unavailable_reason() -> str | None:
    """Why there is no CUDA device, or None when there is one."""
    if importlib.util.find_spec("cupy") is None:
        return ("CuPy is not installed (pip install 'graphc[gpu]' for CUDA 12, "
                "'graphc[gpu-cuda13]' for CUDA 13)")
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except (ImportError, RuntimeError) as err:  # no CUDA library, no driver (CUDARuntimeError)
        return f"CuPy found no usable GPU ({type(err).__name__}: {err})"
    return None if count > 0 else "CuPy found no GPU"


def is_available() -> bool:
    return unavailable_reason() is None


def device_count() -> int:
    if not is_available():
        return 0
    import cupy

    return cupy.cuda.runtime.getDeviceCount()


def current_device() -> int:
    if not is_available():
        raise RuntimeError(f"graphc has no CUDA device: {unavailable_reason()}")
    return 0


def manual_seed(seed: int) -> None:
    """Seed the generator (graphc has one for every device)."""
    from graphc.random import manual_seed as seed_all

    seed_all(seed)


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    if is_available():
        import cupy

        cupy.cuda.runtime.deviceSynchronize()


def empty_cache() -> None:
    if is_available():
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
