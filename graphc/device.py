"""`graphc.device`: eager tensors live in host memory; compiled executables choose their backend."""

from __future__ import annotations


class device:
    """A device name such as `cpu` (`cuda` is a valid name, but eager tensors refuse it)."""

    __slots__ = ("index", "type")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        kind, _, idx = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {spec}"
            )
        self.type = kind
        self.index = int(idx) if idx else index

    def __eq__(self, other) -> bool:
        try:
            other = device(other)
        except (RuntimeError, ValueError):
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
    if dev.type != "cpu":
        raise RuntimeError(
            f"graphc eager tensors live on the CPU; got device '{dev}'. "
            "Run on the GPU by compiling: "
            "graphc.compile(model, ...) / graphc.compile_train_step(..., backend='cupy')."
        )
    return dev


class cuda:
    """`graphc.cuda.is_available()`: False, eager graphc has no CUDA tensors."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0
