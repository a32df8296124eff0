"""Communicators: MPI through mpi4py, and the one a process alone uses.

Both implement `ir.communicator.Communicator` (what the IR's collective ops run on) plus the eager
collectives `graphc.distributed` offers (broadcast, barrier). Every MPI call is non-blocking and
waited on with a deadline, so a rank that died or stopped calling collectives makes the others
fail with `DistBackendError` instead of hanging.
"""

from __future__ import annotations

import time

import numpy as np


class DistBackendError(RuntimeError):
    """A collective failed or did not complete in time (PyTorch's class of the same name)."""


class Alone:
    """The communicator of a world of one process: every collective is the identity."""

    rank, size = 0, 1

    def all_reduce(self, array, op: str) -> None:
        pass

    def start_all_reduce(self, array, op: str):
        return self

    def wait(self) -> None:
        pass

    def broadcast(self, array, root: int) -> None:
        pass

    def barrier(self) -> None:
        pass

    def abort(self, code: int) -> None:
        pass


class MPICommunicator:
    """Collectives over an mpi4py communicator (MPI.COMM_WORLD), each bounded by `timeout` s."""

    def __init__(self, comm, timeout: float):
        from mpi4py import MPI

        self.MPI, self.comm, self.timeout = MPI, comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._ops = {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN,
                     "max": MPI.MAX}
        self._in_flight: list = []

    def all_reduce(self, array, op: str) -> None:
        self.start_all_reduce(array, op).wait()

    def start_all_reduce(self, array, op: str) -> _Request:
        buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self._ops[op])
        # MPICH progresses requests inside MPI calls only: starting one moves the others along.
        self._in_flight = [r for r in self._in_flight if not r.Test()]
        self._in_flight.append(request)
        return _Request(self, request, f"all_reduce({op}) of {array.nbytes} bytes", array, buffer,
                        self.size if op == "avg" else 1)

    def broadcast(self, array, root: int) -> None:
        buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        _Request(self, self.comm.Ibcast(buffer, root=root), f"broadcast from rank {root}",
                 array, buffer).wait()

    def barrier(self) -> None:
        _Request(self, self.comm.Ibarrier(), "barrier").wait()

    def abort(self, code: int) -> None:
        self.comm.Abort(code)

    def complete(self, request, what: str) -> None:
        """Wait for `request`, polling so that a missing peer ends in DistBackendError."""
        deadline = time.monotonic() + self.timeout
        polls, pause = 0, 1e-5
        while not request.Test():
            polls += 1
            if polls > 2000:  # spin briefly (latency), then sleep a little more each time
                if time.monotonic() > deadline:
                    raise DistBackendError(
                        f"graphc.distributed: {what} on rank {self.rank} of {self.size} did not "
                        f"complete within {self.timeout:g} s: another rank died, hangs, or is not "
                        "running the same collectives in the same order"
                    )
                time.sleep(pause)
                pause = min(2 * pause, 1e-3)


class _Request:
    """A started collective; `wait()` completes it, copies a staged result back and averages."""

    def __init__(self, comm, request, what, array=None, buffer=None, divide: int = 1):
        self.comm, self.request, self.what = comm, request, what
        self.array, self.buffer, self.divide = array, buffer, divide

    def wait(self) -> None:
        self.comm.complete(self.request, self.what)
        if self.divide != 1:
            self.buffer /= self.divide
        if self.buffer is not self.array:
            self.array[...] = self.buffer
