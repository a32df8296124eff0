"""`graphc.distributed`: data-parallel training over processes on MPI (PyTorch's names).

Start N processes with `mpiexec -n N python train.py` (or `graphc train --nproc N`); in each,
`init_process_group()` joins them. `DistributedDataParallel` (also `graphc.nn.parallel`) keeps the
replicas equal, `graphc.data.DistributedSampler` gives each process its shard, and
`compile_train_step(..., distributed=True)` puts the gradient all-reduces into the step graph.
Needs the `dist` extra (mpi4py, mpich) for more than one process.
"""

from graphc.distributed.ddp import DistributedDataParallel
from graphc.distributed.mpi import DistBackendError
from graphc.distributed.process_group import (
    ReduceOp,
    Work,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    launched_world_size,
)
from ir.ops.collective import communicated_bytes

__all__ = [
    "DistBackendError",
    "DistributedDataParallel",
    "ReduceOp",
    "Work",
    "all_reduce",
    "barrier",
    "broadcast",
    "communicated_bytes",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "launched_world_size",
]
