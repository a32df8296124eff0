"""Data-parallel training of the quickstart MLP on MPI: 1 and 2 local ranks, then a scaling model.

    python benchmarks/bench_distributed.py [--steps 200] [--batch-size 64] [--nproc 1 2]

Each rank runs the compiled step (`compile_train_step(..., distributed=True)`, gradients averaged
by bucketed all-reduces in the graph) on its own batch of `--batch-size` samples (weak scaling, as
DDP), with one BLAS thread. Measured: samples/s over all ranks, the share of step time spent in
communication (inside the all-reduce start and wait calls), and the time of one all-reduce of the
gradient bytes (and of 8 bytes, the latency) between 2 ranks. The scaling table is a MODEL, not a
measurement: the measured per-rank compute time plus a ring all-reduce's cost,
2(N-1)·alpha + 2(N-1)/N·bytes/beta, with alpha and beta fitted to the 2-rank all-reduce times
(shared memory on this machine) and, for comparison, an assumed 10 Gb/s network.
Needs the dist extra (mpi4py, mpich). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NETWORK = {"alpha": 20e-6, "beta": 1.25e9}  # assumed 10 Gb/s Ethernet: 20 us per message


def worker(steps: int, batch: int) -> None:
    """One rank: time the compiled data-parallel step and isolated all-reduces; rank 0 prints."""
    import graphc
    import graphc.distributed as dist
    from graphc import nn, optim
    from ir.communicator import get_communicator, set_communicator

    dist.init_process_group()
    rank, size = dist.get_rank(), dist.get_world_size()
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                          nn.ReLU(), nn.Linear(512, 10))
    rng = np.random.default_rng(rank)
    X = graphc.from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = graphc.from_numpy(rng.integers(0, 10, batch))
    optimizer = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), optimizer, X, y,
                                     distributed=True)
    timed = TimedCommunicator(get_communicator())
    set_communicator(timed)
    for _ in range(10):
        step(X, y)
    dist.barrier()
    timed.seconds = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step(X, y)
    elapsed = time.perf_counter() - start
    grad_bytes = dist.communicated_bytes(step.graph)
    result = {"ranks": size, "step_s": slowest(elapsed) / steps,
              "comm_s": slowest(timed.seconds) / steps, "grad_bytes": grad_bytes,
              "samples_per_s": size * batch * steps / slowest(elapsed)}
    if size > 1:
        result["allreduce_s"] = {n: all_reduce_time(timed.comm, n) for n in (8, grad_bytes)}
    if rank == 0:
        print(json.dumps(result))
    dist.destroy_process_group()


def slowest(seconds: float) -> float:
    """The largest of every rank's `seconds` (the job goes at its slowest rank's pace)."""
    import graphc
    import graphc.distributed as dist

    value = graphc.tensor(seconds, dtype=graphc.float64)
    dist.all_reduce(value, dist.ReduceOp.MAX)
    return value.item()


def all_reduce_time(comm, nbytes: int, repeats: int = 50) -> float:
    """Median seconds of one all-reduce of `nbytes` bytes of float32."""
    buffer = np.ones(max(nbytes // 4, 1), np.float32)
    times = []
    for _ in range(repeats):
        comm.barrier()
        start = time.perf_counter()
        comm.all_reduce(buffer, "avg")
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class TimedCommunicator:
    """A communicator that adds the time spent inside its calls (blocked on communication)."""

    def __init__(self, comm):
        self.comm, self.rank, self.size, self.seconds = comm, comm.rank, comm.size, 0.0

    def all_reduce(self, array, op):
        self.start_all_reduce(array, op).wait()

    def start_all_reduce(self, array, op):
        start = time.perf_counter()
        handle = self.comm.start_all_reduce(array, op)
        self.seconds += time.perf_counter() - start
        return _TimedHandle(self, handle)


class _TimedHandle:
    def __init__(self, timed, handle):
        self.timed, self.handle = timed, handle

    def wait(self):
        start = time.perf_counter()
        self.handle.wait()
        self.timed.seconds += time.perf_counter() - start


def ring_seconds(n: int, nbytes: int, alpha: float, beta: float) -> float:
    """A ring all-reduce over n ranks: 2(n-1) steps, each one message of nbytes/n."""
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def launch(nproc: int, steps: int, batch: int) -> dict:
    from graphc.distributed.launch import mpiexec_path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    command = [mpiexec_path(), "-n", str(nproc), sys.executable, __file__, "--worker",
               "--steps", str(steps), "--batch-size", str(batch)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(runs: list[dict], batch: int) -> None:
    cores, load = os.cpu_count(), os.getloadavg()[0]
    print(f"quickstart MLP (784-512-512-10), compiled step, {batch} samples per rank, 1 BLAS "
          f"thread per rank, ranks on one {cores}-core machine, load {load:.1f} (measured)")
    print(f"{'ranks':>5}  {'ms/step':>8}  {'samples/s':>10}  {'comm ms/step':>12}  {'comm share':>10}")
    for r in runs:
        print(f"{r['ranks']:>5}  {1e3 * r['step_s']:>8.2f}  {r['samples_per_s']:>10.0f}  "
              f"{1e3 * r['comm_s']:>12.3f}  {r['comm_s'] / r['step_s']:>10.1%}")
    pair = next((r for r in runs if "allreduce_s" in r), None)
    if pair is None:
        return
    nbytes = pair["grad_bytes"]
    small, full = pair["allreduce_s"]["8"], pair["allreduce_s"][str(nbytes)]
    measured = {"alpha": small / 2, "beta": nbytes / max(full - small, 1e-9)}
    compute = runs[0]["step_s"] - runs[0]["comm_s"]
    print(f"\nall-reduce between 2 ranks (measured): 8 B {1e6 * small:.1f} us, "
          f"{nbytes / 1e6:.2f} MB of gradients {1e3 * full:.3f} ms -> alpha {1e6 * measured['alpha']:.1f}"
          f" us, beta {measured['beta'] / 1e9:.2f} GB/s")
    print(f"\nMODEL, not a measurement: step = {1e3 * compute:.2f} ms compute (measured, 1 rank) "
          "+ ring all-reduce of the gradients, no overlap")
    print(f"{'ranks':>5}  {'shared-memory alpha/beta':>33}  {'assumed 10 Gb/s, 20 us':>33}")
    print(f"{'':>5}  {'ms/step':>8} {'samples/s':>11} {'effic.':>7}    "
          f"{'ms/step':>8} {'samples/s':>11} {'effic.':>7}")
    for n in (8, 16, 32, 64):
        cells = []
        for link in (measured, NETWORK):
            seconds = compute + ring_seconds(n, nbytes, **link)
            cells.append(f"{1e3 * seconds:>8.2f} {n * batch / seconds:>11.0f} "
                         f"{compute / seconds:>7.0%}")
        print(f"{n:>5}  " + "    ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--nproc", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch_size)
        return
    runs = []
    for n in args.nproc:
        runs.append(launch(n, args.steps, args.batch_size))
        time.sleep(0.5)  # let the previous ranks' BLAS threads go quiet
    report(runs, args.batch_size)


if __name__ == "__main__":
    main()
