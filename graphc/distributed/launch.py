"""Data-parallel jobs from the command line: start N local ranks through `mpiexec`, or join the
job this process was started in."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graphc.distributed import process_group as pg


class LaunchError(RuntimeError):
    """The job cannot start: no mpiexec, no mpi4py, or not the number of processes asked for."""


def mpiexec_path() -> str:
    """The `mpiexec` beside this Python (the mpich wheel puts it there), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise LaunchError("starting several processes needs mpiexec: pip install 'graphc[dist]' "
                           "(mpi4py and the mpich wheel, which brings mpiexec)")
    return found


def launch_local(nproc: int, argv: list[str]) -> int:
    """Run `python -m graphc *argv` as `nproc` ranks on this machine; returns the exit status.

    Each rank gets one BLAS/OpenMP thread unless OMP_NUM_THREADS says otherwise (as torchrun),
    and imports the same graphc as this process.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [mpiexec_path(), "-n", str(nproc), sys.executable, "-m", "graphc", *argv]
    return subprocess.run(command, check=False, env=env).returncode


@dataclass(frozen=True)
class Job:
    """This process's place in a data-parallel job (a job of one when not launched)."""

    rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


@contextlib.contextmanager
def join_job(nproc: int = 1):
    """Within the block, this process is a rank of the job its launcher started (`nproc` of them,
    when given), with the default process group set up; ranks other than 0 print nothing."""
    if (pg.launched_world_size() or 1) == 1 and nproc == 1:
        yield Job()
        return
    try:
        pg.init_process_group(world_size=nproc if nproc > 1 else -1)
    except RuntimeError as err:
        raise LaunchError(str(err)) from None
    job = Job(pg.get_rank(), pg.get_world_size())
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(
            devnull if job.rank else sys.stdout
        ):
            yield job
    finally:
        pg.destroy_process_group()
