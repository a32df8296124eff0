"""Backends: an array module plus allocation, host/device transfer and synchronization.

"numpy" is always there; "cupy" when CuPy imports (it is imported only when asked for).
Kernels are written once against `backend.xp`.
"""

from __future__ import annotations

import numpy as np


class Backend:
    """The NumPy backend; the base of the others. Host and device are the same memory."""

    name = "numpy"

    def __init__(self):
        self.xp = np

    def to_device(self, array):
        """`array` (host or device) as this backend's array; no copy when it already is one."""
        return np.asarray(array)

    def to_host(self, array) -> np.ndarray:
        return np.asarray(array)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def copy(self, array):
        """A new array holding `array`'s data (on this backend's device)."""
        return self.xp.array(array, copy=True)

    def copy_into(self, dst, src) -> None:
        """Write `src` into the existing array `dst` (host or device), in place."""
        np.copyto(dst, self.to_host(src))

    def may_share_memory(self, a, b) -> bool:
        return np.may_share_memory(a, b)

    def synchronize(self) -> None:
        """Wait until queued device work is done (nothing to wait for on the CPU)."""

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


class CupyBackend(Backend):
    """CuPy on the current CUDA device; host arrays are copied over on the way in."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.xp = cupy

    def to_device(self, array):
        return self.xp.asarray(array)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def copy_into(self, dst, src) -> None:
        if isinstance(dst, np.ndarray):
            np.copyto(dst, self.to_host(src))
        else:
            self.xp.copyto(dst, self.to_device(src))

    def may_share_memory(self, a, b) -> bool:
        if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
            return False  # one on the host, one on the device
        return bool(self.xp.may_share_memory(a, b))

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()


BACKENDS = {"numpy": Backend, "cupy": CupyBackend}


def get_backend(backend: str | Backend = "numpy") -> Backend:
    """The backend named `backend` (or `backend` itself); a clear error if it cannot load."""
    if isinstance(backend, Backend):
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    try:
        return BACKENDS[backend]()
    except ImportError as err:
        raise RuntimeError(
            f"backend {backend!r} is not available ({err}); install graphc[gpu] for CuPy"
        ) from None


def available_backends() -> list[str]:
    """Names of the backends that load on this machine."""
    names = []
    for name in BACKENDS:
        try:
            get_backend(name)
        except RuntimeError:
            continue
        names.append(name)
    return names
