"""Data-parallel runs for tests/graphc/test_distributed_mpi.py, one process per rank.

`mpiexec -n N python distributed_worker.py OUT.npz` trains every SCENARIO on its shard of a fixed
global batch and rank 0 saves the loss curves (averaged over ranks) and final weights;
`... distributed_worker.py raise|hang` makes rank 1 fail or stop in the middle of training.
The test computes the single-process reference with `train(name)` in its own process.
"""

from __future__ import annotations

import datetime
import sys
import time

import numpy as np

import graphc
import graphc.distributed as dist
from graphc import nn, optim

GLOBAL_BATCH, STEPS = 12, 3


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
    )


# name -> (model, optimizer, how the step runs)
SCENARIOS = {
    "mlp_sgd": (mlp, lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "compiled"),
    "mlp_adam": (mlp, lambda p: optim.Adam(p, lr=0.01), "compiled_ddp"),
    "lenet_sgd": (lenet, lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "compiled"),
    "mlp_eager": (mlp, lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "eager_ddp"),
}


def batches(rank: int, size: int):
    """This rank's share of each step's global batch (float64 8x8 images and labels)."""
    rng = np.random.default_rng(7)
    share = GLOBAL_BATCH // size
    for _ in range(STEPS):
        X = rng.standard_normal((GLOBAL_BATCH, 1, 8, 8))
        y = rng.integers(0, 10, GLOBAL_BATCH)
        part = slice(rank * share, (rank + 1) * share)
        yield graphc.from_numpy(X[part]), graphc.from_numpy(y[part])


def train(name: str, rank: int = 0, size: int = 1) -> dict[str, np.ndarray]:
    """Loss per step (the global batch's) and final weights of scenario `name`."""
    make_model, make_optimizer, how = SCENARIOS[name]
    graphc.manual_seed(rank)  # replicas start different: rank 0's weights must reach the others
    model = make_model().double()
    optimizer = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    parallel = size > 1
    replica = dist.DistributedDataParallel(model) if parallel and how != "compiled" else model
    step, losses = None, []
    for X, y in batches(rank, size):
        if how == "eager_ddp":
            loss = loss_fn(replica(X), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        else:
            step = step or graphc.compile_train_step(replica, loss_fn, optimizer, X, y,
                                                     distributed=parallel)
            loss = step(X, y)
        loss = graphc.tensor(loss.item(), dtype=graphc.float64)
        if parallel:
            dist.all_reduce(loss, dist.ReduceOp.AVG)
        losses.append(loss.item())
    weights = {f"{name}.{k}": v.numpy() for k, v in model.state_dict().items()}
    return {f"{name}.losses": np.array(losses), **weights}


def fail(how: str, rank: int) -> None:
    """Train the MLP; rank 1 raises, or stops taking part, after the first step."""
    X, y = next(batches(rank, 2))
    model = mlp().double()
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()),
                                     X, y, distributed=True)
    for _ in range(STEPS):
        step(X, y)
        if rank == 1 and how == "raise":
            raise RuntimeError("rank 1 fails on purpose")
        if rank == 1 and how == "hang":
            time.sleep(60)


def main(argv) -> None:
    dist.init_process_group(timeout=datetime.timedelta(seconds=2))
    rank, size = dist.get_rank(), dist.get_world_size()
    if argv[0] in ("raise", "hang"):
        fail(argv[0], rank)
        return
    results = {}
    for name in SCENARIOS:
        results.update(train(name, rank, size))
    if rank == 0:
        np.savez(argv[0], **results)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
