"""A stand-in for the `cupy` module on a machine without a GPU, for the CUDA backend's tests.

NumPy arrays are its device arrays. `ElementwiseKernel` and `ReductionKernel` take the same
arguments as CuPy's and run the generated C on the host: the source is wrapped as CuPy wraps it
(`cuda_wrap`), compiled by the host C++ compiler over `cupy_shim.cuh` and called through ctypes
with CuPy's CArray/CIndexer layouts (broadcasting, raw parameters, reductions over any axes as
CuPy permutes them). Every launch is recorded in `launches` (kernel names, `cublas` for matmul).

`cuda.Stream` capture records the launches made while capturing instead of running them, and the
`Graph` it returns replays them. Only this module's kernels, `matmul` and `copyto` can be
captured (and functions that only make views): any other NumPy function called through it while
capturing raises, as CuPy raises for work that cannot be captured, so the runtime's fallback is
exercised too (CuPy itself captures more: its own kernels, with allocations from the graph's
pool).

What it cannot tell: whether CuPy accepts the call (its argument checks are mirrored, not run),
how the kernel performs, and CUDA's own semantics (FMA contraction, fast math): values are the
host compiler's, which is why float tolerances apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import tempfile
from pathlib import Path

import cuda_wrap
import numpy as np

from runtime.cuda.codegen import ElementwiseSource, Param, ReductionSource

FOLDER = Path(tempfile.gettempdir()) / "graphc-hostcupy"
KERNEL = "graphc_host_kernel"  # the function name of every wrapped unit, renamed when bundled
_FUNCTIONS: dict[str, object] = {}  # unit text -> its compiled function


class CaptureError(RuntimeError):
    """Work the host emulation cannot capture into a graph."""


def parse_params(text: str) -> tuple[Param, ...]:
    params = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        words = item.split()
        params.append(Param(words[-1], words[-2], raw="raw" in words[:-2]))
    return tuple(params)


# -- ctypes views of CuPy's kernel arguments --------------------------------------------------------
_STRUCTS: dict = {}


def _struct(kind: str, ndim: int):
    key = (kind, ndim)
    if key not in _STRUCTS:
        size = ("size", ctypes.c_ssize_t)
        if kind == "array":
            fields = [("data", ctypes.c_void_p), size]
            if ndim:
                fields += [("shape", ctypes.c_ssize_t * ndim), ("strides", ctypes.c_ssize_t * ndim)]
        else:
            fields = [size]
            if ndim:
                fields += [("shape", ctypes.c_ssize_t * ndim), ("index", ctypes.c_ssize_t * ndim)]
        _STRUCTS[key] = type(f"C{kind}{ndim}", (ctypes.Structure,), {"_fields_": fields})
    return _STRUCTS[key]


def carray(array: np.ndarray):
    struct = _struct("array", array.ndim)(array.ctypes.data, array.size)
    if array.ndim:
        struct.shape[:] = array.shape
        struct.strides[:] = array.strides
    return struct


def cindexer(shape: tuple):
    struct = _struct("indexer", len(shape))(int(np.prod(shape, dtype=np.int64)))
    if shape:
        struct.shape[:] = shape
    return struct


def functions(units: list[str]) -> list:
    """The compiled host functions of wrapped units (named KERNEL); those not compiled yet are
    compiled together, in one library (one compiler run instead of one each)."""
    missing = list(dict.fromkeys(u for u in units if u not in _FUNCTIONS))
    if missing:
        renamed = [u.replace(f" {KERNEL}(", f" k{k}(") for k, u in enumerate(missing)]
        library = cuda_wrap.host_library(cuda_wrap.translation_unit(renamed), FOLDER)
        for k, unit in enumerate(missing):
            _FUNCTIONS[unit] = getattr(library, f"k{k}")
    return [_FUNCTIONS[u] for u in units]


def _as_array(value, dtype: str) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.asarray(value, dtype=dtype)


class _Kernel:
    def __init__(self, xp, name: str):
        self.xp, self.name = xp, name

    def _launch(self, run):
        self.xp._launch(self.name, run)


class ElementwiseKernel(_Kernel):
    """cupy.ElementwiseKernel on the host (see the module docstring)."""

    def __init__(self, xp, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, **kwargs):
        super().__init__(xp, name)
        self.source = ElementwiseSource(name, parse_params(in_params), parse_params(out_params),
                                        operation, preamble)

    def __call__(self, *args, size=-1, stream=None, block_size=128):
        source = self.source
        n_in = len(source.inputs)
        if len(args) != n_in + len(source.outputs):
            raise TypeError(f"{self.name}: give every output (the runtime always does)")
        params = (*source.inputs, *source.outputs)
        arrays = [_as_array(a, p.dtype) for a, p in zip(args, params)]
        for p, a in zip(params, arrays):
            if np.dtype(p.dtype) != a.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {p.dtype}")
        broadcast = [a for p, a in zip(params, arrays) if not p.raw]
        if not broadcast:
            raise ValueError("Loop size is undecided.")
        shape = np.broadcast_shapes(*(a.shape for a in broadcast))
        for p, a in zip(source.outputs, arrays[n_in:]):
            if not p.raw and a.shape != shape:
                raise ValueError("Out shape is mismatched")
        views = [a if p.raw else np.broadcast_to(a, shape) if k < n_in else a
                 for k, (p, a) in enumerate(zip(params, arrays))]
        unit = cuda_wrap.elementwise_unit(source, [v.ndim for v in views], KERNEL)
        (function,) = functions([unit])

        def run():
            if 0 in shape:
                return
            function(*[carray(v) for v in views], cindexer(shape))

        self._launch(run)


class ReductionKernel(_Kernel):
    """cupy.ReductionKernel on the host (see the module docstring)."""

    def __init__(self, xp, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name="reduce_kernel", reduce_type=None, reduce_dims=True,
                 preamble="", options=()):
        super().__init__(xp, name)
        inputs, outputs = parse_params(in_params), parse_params(out_params)
        if any(p.raw for p in inputs + outputs):
            raise NotImplementedError("raw parameters of reductions are not emulated")
        self.source = ReductionSource(name, inputs, outputs, map_expr, reduce_expr,
                                      post_map_expr, identity, reduce_type, preamble, (), False)

    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        source = self.source
        n_in = len(source.inputs)
        params = (*source.inputs, *source.outputs)
        arrays = [_as_array(a, p.dtype) for a, p in zip(args, params)]
        if out is not None:
            arrays.append(out)
        if len(arrays) != len(params):
            raise TypeError(f"{self.name}: give every output (the runtime always does)")
        shape = np.broadcast_shapes(*(a.shape for a in arrays[:n_in]))
        ndim = len(shape)
        axes = tuple(range(ndim)) if axis is None else tuple(
            sorted(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))))
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
        out_shape = kept if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)
        for a in arrays[n_in:]:
            if a.shape != out_shape:
                raise ValueError("Out shape is mismatched")
        order = axes + tuple(i for i in range(ndim) if i not in axes)
        inputs = [np.broadcast_to(a, shape).transpose(order) for a in arrays[:n_in]]
        out_axes_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
        outputs = [a.reshape(out_axes_shape) if a.size else a for a in arrays[n_in:]]
        unit = cuda_wrap.host_reduction_unit(source, ndim, len(out_axes_shape), KERNEL)
        (function,) = functions([unit])

        def run():
            if any(a.size == 0 for a in outputs):
                return
            if not np.shares_memory(outputs[0], arrays[n_in]) and outputs[0].size:
                raise AssertionError("reduction outputs must be views of the given arrays")
            function(*[carray(v) for v in inputs + outputs],
                     cindexer(tuple(shape[i] for i in order)), cindexer(out_axes_shape),
                     ctypes.c_int(0))

        self._launch(run)


# -- streams, graphs, allocators ---------------------------------------------------------------------
class Graph:
    """What a capture recorded: `launch()` replays it."""

    def __init__(self, xp, work):
        self.xp, self.work = xp, work

    def launch(self, stream=None):
        self.xp.graph_launches += 1
        self.xp.replayed += len(self.work)
        for _, run in self.work:
            run()

    def upload(self, stream=None):
        pass


class Stream:
    def __init__(self, xp, null=False, non_blocking=False, ptds=False):
        self.xp = xp

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        if self.xp.capturing is not None:
            raise CaptureError("cannot synchronize a capturing stream")

    def begin_capture(self, mode=None):
        if self.xp.capturing is not None:
            raise CaptureError("the stream is already capturing")
        self.xp.capturing = []

    def is_capturing(self):
        return self.xp.capturing is not None

    def end_capture(self):
        work, self.xp.capturing = self.xp.capturing, None
        return Graph(self.xp, work)


class MemoryPool:
    def malloc(self, nbytes):
        raise NotImplementedError


class _Cuda:
    """The part of `cupy.cuda` the runtime uses."""

    def __init__(self, xp):
        self.xp = xp
        self.MemoryPool = MemoryPool

    def Stream(self, **kwargs):
        return Stream(self.xp, **kwargs)

    def get_current_stream(self):
        return Stream(self.xp)

    @contextlib.contextmanager
    def using_allocator(self, allocator=None):
        yield


class DeviceArray(np.ndarray):
    """An array "on the device": NumPy memory, told apart from host arrays by its type."""

    def set(self, host):
        np.copyto(self, host)

    def get(self):
        return np.array(self, copy=True).view(np.ndarray)


def device(array) -> DeviceArray:
    """A copy of `array` on the stand-in device."""
    return np.array(array, copy=True).view(DeviceArray)


class HostCupy:
    """The module object: NumPy's functions, CuPy's kernels and CUDA namespace (see above)."""

    __name__ = "numpy"  # reference kernels pick NumPy/SciPy code paths on these arrays
    ndarray = DeviceArray

    def __init__(self):
        self.launches: list[str] = []
        self.capturing: list | None = None
        self.graph_launches = 0
        self.replayed = 0  # launches replayed by graphs
        self.cuda = _Cuda(self)

    def ElementwiseKernel(self, *args, **kwargs):
        return ElementwiseKernel(self, *args, **kwargs)

    def ReductionKernel(self, *args, **kwargs):
        return ReductionKernel(self, *args, **kwargs)

    def matmul(self, a, b, out=None):
        if out is None:  # a new array: not capturable here
            if self.capturing is not None:
                raise CaptureError("matmul without out= cannot run inside a captured graph here")
            out = self.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2],
                                                                                 b.shape[-1]),
                             np.result_type(a, b))
        self._launch("cublas", lambda: np.matmul(a, b, out=out))
        return out

    def copyto(self, dst, src, **kwargs):
        self._launch("copy", lambda: np.copyto(dst, src, **kwargs))

    def asnumpy(self, array):
        return np.array(array, copy=True).view(np.ndarray)

    def asarray(self, array, dtype=None):
        if isinstance(array, DeviceArray) and dtype in (None, array.dtype):
            return array
        return np.array(array, dtype=dtype, copy=True).view(DeviceArray)

    def empty(self, shape, dtype="float64"):
        return np.empty(shape, dtype).view(DeviceArray)

    def _launch(self, name: str, run) -> None:
        self.launches.append(name)
        if self.capturing is not None:
            self.capturing.append((name, run))
        else:
            run()

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type) or name in VIEWS:
            return value
        return _Guarded(self, value, f"numpy.{name}")


# Functions that only make views (no device work): CuPy runs them during capture too.
VIEWS = {"reshape", "transpose", "swapaxes", "moveaxis", "broadcast_to", "expand_dims",
         "squeeze", "split", "flip", "may_share_memory", "shares_memory"}


class _Guarded:
    """A NumPy function (or ufunc, with its methods) that refuses to run while capturing."""

    def __init__(self, xp, function, name: str):
        self._xp, self._function, self._name = xp, function, name

    def __call__(self, *args, **kwargs):
        if self._xp.capturing is not None:
            raise CaptureError(f"{self._name} cannot run inside a captured graph here")
        result = self._function(*args, **kwargs)
        return result.view(DeviceArray) if type(result) is np.ndarray else result

    def __getattr__(self, name):
        return _Guarded(self._xp, getattr(self._function, name), f"{self._name}.{name}")
