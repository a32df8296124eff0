"""Backends: an array module plus allocation, host/device transfer and synchronization.

"numpy" is always there; "cupy" when CuPy imports (it is imported only when asked for).
Kernels are written once against `backend.xp`.
"""

from __future__ import annotations

import numpy as np


class Backend:
    """The NumPy backend; the base of the others. Host and device are the same memory."""

    name = "numpy"
    device = False  # whether arrays live apart from the host (inputs are staged, see Executable)
    can_capture = False  # whether `capture` records a run as a CUDA graph

    def __init__(self):
        self.xp = np

    def holds(self, array) -> bool:
        """Whether `array` is this backend's array (else a host array to copy over)."""
        return isinstance(array, np.ndarray)

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

    def upload(self, dst, host: np.ndarray) -> None:
        """Copy the host array `host` into this backend's array `dst` of the same shape."""
        np.copyto(dst, host)

    def may_share_memory(self, a, b) -> bool:
        return np.may_share_memory(a, b)

    def synchronize(self) -> None:
        """Wait until queued device work is done (nothing to wait for on the CPU)."""

    def program(self, graph, plan, arena):
        """The `runtime.program.Program` running `graph` laid out by `plan` in `arena`."""
        from runtime.program import Program

        return Program(graph, plan, self, arena)

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


class CupyBackend(Backend):
    """CuPy on the current CUDA device; host arrays are copied over on the way in. Programs
    launch generated kernels (`runtime.cuda`). `xp` replaces the cupy module (tests run the
    backend on a host stand-in)."""

    name = "cupy"
    device = True
    can_capture = True

    def __init__(self, xp=None):
        if xp is None:
            import cupy as xp
        self.xp = xp
        self._stream = None

    def holds(self, array) -> bool:
        return isinstance(array, self.xp.ndarray)

    def upload(self, dst, host: np.ndarray) -> None:
        dst.set(host)

    def capture(self, run):
        """`run()` recorded by stream capture into a graph (`graph.launch()` replays it). What
        it allocates comes from a memory pool of the graph's own, kept alive with it, so a
        replay writes nowhere else."""
        xp = self.xp
        pool = xp.cuda.MemoryPool()
        stream = self.stream
        with xp.cuda.using_allocator(pool.malloc), stream:
            stream.begin_capture()
            try:
                run()
            finally:
                graph = stream.end_capture()
        return CapturedRun(graph, pool, stream)

    @property
    def stream(self):
        """The stream this backend's runs and graphs use (capture needs a stream of its own;
        a blocking one, so work on the default stream stays ordered with it)."""
        if self._stream is None:
            self._stream = self.xp.cuda.Stream()
        return self._stream

    def to_device(self, array):
        return self.xp.asarray(array)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def copy_into(self, dst, src) -> None:
        if self.holds(dst):
            self.xp.copyto(dst, self.to_device(src))
        else:
            np.copyto(dst, self.to_host(src))

    def may_share_memory(self, a, b) -> bool:
        if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
            return False  # one on the host, one on the device
        return bool(self.xp.may_share_memory(a, b))

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def program(self, graph, plan, arena):
        from runtime.cuda.program import CudaProgram

        return CudaProgram(graph, plan, self, arena)


class CapturedRun:
    """A captured run: its CUDA graph, the memory pool its allocations came from, its stream."""

    def __init__(self, graph, pool, stream):
        self.graph, self.pool, self.stream = graph, pool, stream

    def launch(self) -> None:
        self.graph.launch(stream=self.stream)


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
