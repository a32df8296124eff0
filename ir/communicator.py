"""The interface collective ops run on, and the registry holding the active communicator.

`ir` depends on no transport: `graphc.distributed` installs an implementation (MPI through mpi4py)
with `set_communicator`. With none installed, or in a world of one process, collectives are the
identity, so graphs holding them run anywhere.
"""

from __future__ import annotations

from typing import Protocol

REDUCE_OPS = ("sum", "avg", "product", "min", "max")


class Handle(Protocol):
    def wait(self) -> None:
        """Block until the operation has completed (and its result is in the array)."""


class Communicator(Protocol):
    """A group of `size` processes; this one is number `rank`. Reductions work in place on
    contiguous arrays, with an op of REDUCE_OPS ('avg' divides the sum by `size`)."""

    rank: int
    size: int

    def all_reduce(self, array, op: str) -> None:
        """Replace `array` by the reduction of every process's `array`."""

    def start_all_reduce(self, array, op: str) -> Handle:
        """Start `all_reduce(array, op)` and return at once; `array` is ready after `wait()`."""


_active: Communicator | None = None


def set_communicator(comm: Communicator | None) -> Communicator | None:
    """Make `comm` the communicator collective ops run on (None: none); returns the previous one."""
    global _active
    previous, _active = _active, comm
    return previous


def get_communicator() -> Communicator | None:
    """The installed communicator, if any."""
    return _active


def peers() -> Communicator | None:
    """The communicator collectives must go through: None when this process is alone."""
    return _active if _active is not None and _active.size > 1 else None
