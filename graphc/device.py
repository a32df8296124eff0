"""`graphc.device`: where a tensor's array lives. CPU tensors hold NumPy arrays, CUDA tensors
CuPy arrays; eager ops run the same reference kernels on either (`array_module`), compiled graphs
run on the backend of their parameters' device.

PyTorch's device names parse (`cpu`, `cuda:0`, `mps`), so the device lines of tutorials run; a
device graphc cannot use is refused with the reason (no CuPy, no GPU, no MPS backend). CuPy is
imported only when a CUDA device is asked for: a CuPy array can only exist once it is, so
`array_module` merely looks it up.
"""

from __future__ import annotations

import sys

import numpy as np

from graphc import state

DEVICE_TYPES = ("cpu", "cuda", "mps")


class device:
    """A device name such as `cpu` or `cuda:0` (eager tensors live on the CPU only)."""

    __slots__ = ("index", "type")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        if isinstance(spec, int) and not isinstance(spec, bool):  # torch.device(0) is cuda:0
            spec, index = "cuda", spec
        kind, _, idx = str(spec).partition(":")
        if kind not in DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(DEVICE_TYPES)} device type at start of device "
                f"string: {spec}"
            )
        self.type = kind
        self.index = int(idx) if idx else index

    def __eq__(self, other) -> bool:
        try:
            other = device(other)
        except (RuntimeError, ValueError, TypeError):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}')"
            if self.index is None
            else f"device(type='{self.type}', index={self.index})"
        )


CPU = device("cpu")
CUDA = device("cuda", 0)


def check_eager_device(spec) -> device:
    """The device `spec` names, as tensors report it (`cuda` is `cuda:0`); a RuntimeError with
    the reason when graphc cannot put tensors there."""
    dev = device(spec)
    if dev.type == "cpu":
        return CPU
    if dev.type == "mps":
        raise RuntimeError("graphc has no MPS backend (graphc.backends.mps.is_available() is "
                           "False); use device='cpu'")
    from graphc import cuda

    if not cuda.is_available():
        raise RuntimeError(f"graphc has no CUDA device: {cuda.unavailable_reason()}; "
                           "use device='cpu'")
    if dev.index not in (None, 0):
        raise RuntimeError(f"CUDA error: invalid device ordinal (graphc uses one GPU, cuda:0; "
                           f"got '{dev}')")
    return CUDA


def check_new_device(spec) -> device:
    """The device a new tensor is asked for (None: the default device), checked."""
    spec = spec if spec is not None else state.default_device
    return CPU if spec is None else check_eager_device(spec)


def array_module(array):
    """`numpy`, or `cupy` for a CuPy array: the array module an eager kernel runs with."""
    if type(array) is np.ndarray:
        return np
    cupy = sys.modules.get("cupy")
    return cupy if cupy is not None and isinstance(array, cupy.ndarray) else np


def device_of(array) -> device:
    """The device holding `array`."""
    return CPU if array_module(array) is np else CUDA


def move(array, dev: device):
    """`array` on device `dev`: itself if it is there already, else a copy."""
    here = device_of(array)
    if here == dev:
        return array
    if dev.type == "cpu":
        return array_module(array).asnumpy(array)
    import cupy

    return cupy.asarray(array)


def backend_name(dev: device) -> str:
    """The runtime backend that runs compiled graphs on `dev`."""
    return "cupy" if dev.type == "cuda" else "numpy"


def same_device_error(what: str, dev: device, others: device, method: str) -> RuntimeError:
    """PyTorch's error for operands on different devices."""
    return RuntimeError(
        f"Expected all tensors to be on the same device, but got {what} is on {dev}, different "
        f"from other tensors on {others} (when checking argument in method {method})"
    )


def set_default_device(spec) -> None:
    """Create new tensors on `spec` (None or 'cpu' for the CPU), as torch.set_default_device."""
    state.default_device = None if spec is None else device(spec)


def get_default_device() -> device:
    return state.default_device or CPU
