"""Fake `cupy` and `cupyx` modules for graphc's device tests on machines without a GPU: the
arrays, kernels and CUDA namespace of `hostcupy` under CuPy's module names, one GPU (`cuda:0`).

Installed (`install(monkeypatch)`), `graphc.cuda.is_available()` is True, `.to('cuda')` makes
`hostcupy.DeviceArray`s, eager ops run the reference kernels with this module as `xp`, and the
cupy backend runs generated kernels on the host."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import hostcupy
import numpy as np
import scipy.special


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def make():
    """(cupy, cupyx, cupyx.scipy, cupyx.scipy.special) fakes sharing one HostCupy."""
    xp = hostcupy.HostCupy()
    cupy = _module("cupy")
    cupy.__getattr__ = lambda name: getattr(xp, name)  # the rest of NumPy, guarded
    cupy.host = xp  # the stand-in itself: its launches, graph launches
    cupy.ndarray = hostcupy.DeviceArray
    for name in ("asnumpy", "asarray", "empty", "matmul", "copyto", "ElementwiseKernel",
                 "ReductionKernel"):
        setattr(cupy, name, getattr(xp, name))
    cuda = types.SimpleNamespace(
        Stream=xp.cuda.Stream, MemoryPool=xp.cuda.MemoryPool,
        using_allocator=xp.cuda.using_allocator, get_current_stream=xp.cuda.get_current_stream,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, deviceSynchronize=lambda: None))
    cupy.cuda = cuda
    cupy.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None)
    cupyx = _module("cupyx")
    cupyx.scatter_add = lambda array, positions, values: np.add.at(array, positions, values)
    cupyx_scipy = _module("cupyx.scipy")
    cupyx.scipy = cupyx_scipy
    cupyx_scipy.special = scipy.special
    return cupy, cupyx, cupyx_scipy, scipy.special


def install(monkeypatch):
    """Put the fakes in sys.modules for one test; graphc then sees one GPU."""
    import graphc

    for name, module in zip(("cupy", "cupyx", "cupyx.scipy", "cupyx.scipy.special"), make()):
        monkeypatch.setitem(sys.modules, name, module)
    graphc.cuda.unavailable_reason.cache_clear()
    monkeypatch.setattr(graphc.cuda, "unavailable_reason", _cached_none)
    return sys.modules["cupy"]


def _cached_none():
    return None
