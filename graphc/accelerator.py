"""`graphc.accelerator`: PyTorch 2.13's device-agnostic queries (the quickstart's device line).
The one accelerator graphc knows is CUDA through CuPy (`graphc.cuda`)."""

from __future__ import annotations

from graphc import cuda
from graphc.device import device


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """`device('cuda')` when a GPU is usable, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    return cuda.current_device()


current_device_idx = current_device_index


def synchronize(device=None) -> None:
    cuda.synchronize()
