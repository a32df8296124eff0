"""`graphc.device`: eager tensors live in host memory; compiled executables choose their backend.

PyTorch's device names parse (`cpu`, `cuda:0`, `mps`), so the device lines of tutorials run; a
tensor on anything but the CPU is refused with the reason (no CuPy, no GPU, no such backend).
"""

from __future__ import annotations

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


def check_eager_device(spec) -> device:
    """The device for an eager tensor: only the CPU holds eager tensors."""
    dev = device(spec)
    if dev.type == "cpu":
        return dev
    if dev.type == "mps":
        raise RuntimeError("graphc has no MPS backend (graphc.backends.mps.is_available() is "
                           "False); use device='cpu'")
    from graphc import cuda

    if not cuda.is_available():
        raise RuntimeError(f"graphc has no CUDA device: {cuda.unavailable_reason()}; "
                           "use device='cpu'")
    raise RuntimeError(
        f"graphc eager tensors live on the CPU; got device '{dev}'. Run on the GPU by compiling: "
        "graphc.compile(model, ...) / graphc.compile_train_step(..., backend='cupy')."
    )


def check_new_device(spec) -> None:
    """Check the device a new tensor is asked for (None: the default device)."""
    spec = spec if spec is not None else state.default_device
    if spec is not None:
        check_eager_device(spec)


def set_default_device(spec) -> None:
    """Create new tensors on `spec` (None or 'cpu' for the CPU), as torch.set_default_device."""
    state.default_device = None if spec is None else device(spec)


def get_default_device() -> device:
    return state.default_device or CPU
