"""Data parallelism across processes: ranks started by mpiexec (the mpich wheel's), on loopback.

N ranks on shards of a global batch must give the loss curve and weights of one process on the
whole batch; a rank that fails or stops must end the job, not hang it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from graphc.distributed.launch import LaunchError, mpiexec_path

pytest.importorskip("mpi4py")
pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 60  # seconds: a hung job fails the test instead of the suite


def mpiexec(nproc: int, *argv: str) -> tuple[subprocess.CompletedProcess, float]:
    try:
        command = [mpiexec_path(), "-n", str(nproc), sys.executable, *argv]
    except LaunchError as err:
        pytest.skip(str(err))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT,
                          cwd=ROOT, check=False)
    return done, time.monotonic() - start


def load_worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("nproc", [2, 3])
def test_ranks_on_shards_equal_one_process_on_the_global_batch(nproc, tmp_path):
    out = tmp_path / "ranks.npz"
    done, _ = mpiexec(nproc, str(WORKER), str(out))
    assert done.returncode == 0, done.stderr
    ranks = np.load(out)
    worker = load_worker()
    for name in worker.SCENARIOS:  # MLP with SGD, Adam (DDP), eagerly (DDP); a LeNet
        for key, expected in worker.train(name).items():
            np.testing.assert_allclose(ranks[key], expected, rtol=0, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("how, message", [
    ("raise", "rank 1 fails on purpose"),
    ("hang", "did not complete within 2 s"),  # the worker's timeout
])
def test_a_failing_rank_ends_the_job(how, message):
    done, seconds = mpiexec(2, str(WORKER), how)
    assert done.returncode != 0
    assert message in done.stderr and "aborting all 2 ranks" in done.stderr
    assert seconds < 30


def test_graphc_train_nproc(tmp_path):
    command = [sys.executable, "-m", "graphc", "train", "--nproc", "2", "--epochs", "1",
               "--hidden", "16", "--no-progress", "--no-render", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Final test accuracy") == 1 and "2 processes" in done.stdout
    assert (tmp_path / "model.safetensors").exists()
