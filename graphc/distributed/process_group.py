"""The default process group: which process this is, how many there are, and eager collectives.

`init_process_group()` joins the processes `mpiexec` started (MPI through mpi4py) and installs
their communicator for the IR's collective ops. A process started without a launcher is a world
of one, with or without mpi4py.
"""

from __future__ import annotations

import datetime
import enum
import os
import sys
import traceback

from graphc.distributed.mpi import Alone, MPICommunicator
from ir.communicator import set_communicator

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default for CPU process groups
BACKENDS = (None, "mpi", "gloo")  # gloo: what CPU PyTorch code asks for; it runs on MPI here
# What launchers tell each process (MPICH and Intel MPI hydra, srun with PMI, Open MPI, MVAPICH).
WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class ReduceOp(enum.Enum):
    """How `all_reduce` combines the processes' tensors."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class _Group:
    communicator = None
    previous_excepthook = None


_group = _Group()


def is_available() -> bool:
    """True: graphc.distributed is always there (a world of one needs no MPI)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py can be imported (`pip install 'graphc[dist]'`)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def launched_world_size() -> int | None:
    """The number of processes a launcher (mpiexec, srun) started, from its environment."""
    for name in WORLD_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


def init_process_group(backend: str | None = None, init_method=None, timeout=None,
                       world_size: int = -1, rank: int = -1, store=None, group_name: str = "",
                       pg_options=None, device_id=None) -> None:
    """Join the processes started by `mpiexec -n N` (or be a world of one without a launcher).

    `timeout` (a timedelta, default 30 minutes) bounds every collective: a rank that died or
    stopped makes the others raise DistBackendError. An uncaught exception on any rank aborts
    the whole job. `world_size` and `rank`, when given, must agree with what MPI says.
    """
    if is_initialized():
        raise ValueError("trying to initialize the default process group twice!")
    if backend not in BACKENDS:
        raise ValueError(f"graphc.distributed runs on MPI: backend must be 'mpi' (or 'gloo' or "
                         f"None, which mean the same here), got {backend!r}")
    seconds = (timeout or DEFAULT_TIMEOUT).total_seconds()
    launched = launched_world_size()
    wanted = world_size if world_size != -1 else launched
    if is_mpi_available():
        import mpi4py

        mpi4py.rc.thread_level = "funneled"  # MPI is only ever called from the main thread
        from mpi4py import MPI

        comm = MPICommunicator(MPI.COMM_WORLD, seconds)
    elif wanted in (None, 1):
        comm = Alone()
    else:
        raise RuntimeError(f"init_process_group: {wanted} processes need MPI, but mpi4py is not "
                           "installed: pip install 'graphc[dist]' (mpi4py and the mpich wheel)")
    if wanted is not None and wanted != comm.size:
        raise RuntimeError(
            f"init_process_group: expected {wanted} processes but MPI sees {comm.size}; start "
            f"the script with `mpiexec -n {wanted} python ...` (or `graphc train --nproc N`)"
        )
    if rank != -1 and rank != comm.rank:
        raise RuntimeError(f"init_process_group(rank={rank}) but MPI numbers this process "
                           f"{comm.rank}")
    _group.communicator = comm
    set_communicator(comm)
    if comm.size > 1:
        _group.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_job


def _abort_job(kind, value, tb) -> None:
    """An uncaught exception on one rank: report it, then end every rank (no one waits forever)."""
    comm = _group.communicator
    traceback.print_exception(kind, value, tb)
    sys.stderr.write(f"graphc.distributed: rank {comm.rank} failed; aborting all {comm.size} "
                     "ranks\n")
    sys.stderr.flush()
    comm.abort(1)


def destroy_process_group(group=None) -> None:
    """Leave the process group: collectives run alone again."""
    _check_group(group)
    if _group.previous_excepthook is not None:
        sys.excepthook, _group.previous_excepthook = _group.previous_excepthook, None
    _group.communicator = None
    set_communicator(None)


def is_initialized() -> bool:
    return _group.communicator is not None


def communicator(group=None):
    """The default group's communicator; a ValueError (as in PyTorch) before init_process_group."""
    _check_group(group)
    if _group.communicator is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _group.communicator


def _check_group(group) -> None:
    if group is not None:
        raise ValueError("graphc.distributed has one process group, the default (group=None)")


def get_rank(group=None) -> int:
    return communicator(group).rank


def get_world_size(group=None) -> int:
    return communicator(group).size


class Work:
    """What a collective with `async_op=True` returns; here the collective has already run."""

    def wait(self, timeout=None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Replace `tensor`, in place, by the reduction of every process's `tensor`.

    SUM and AVG are the IR's all_reduce op: while tracing they become a node of the graph.
    """
    from graphc import dispatch

    comm = communicator(group)
    op = ReduceOp(op)
    if op in (ReduceOp.SUM, ReduceOp.AVG):
        tensor._assign(dispatch.apply("all_reduce", tensor, reduce=op.value))
    else:
        tensor._check_concrete(f"all_reduce with {op}")
        comm.all_reduce(tensor._storage(), op.value)
        tensor._vc[0] += 1
    return Work() if async_op else None


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """Make `tensor`, in place, a copy of rank `src`'s `tensor` on every process."""
    comm = communicator(group)
    if not 0 <= src < comm.size:
        raise ValueError(f"broadcast: src {src} is not a rank of the {comm.size} processes")
    comm.broadcast(tensor._storage(), src)
    tensor._vc[0] += 1
    return Work() if async_op else None


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Return once every process has called `barrier`."""
    communicator(group).barrier()
    return Work() if async_op else None
