"""graphc.distributed in one process (no MPI): the sampler, buckets, the step graph's all-reduces,
DistributedDataParallel in a world of one, and the errors. Runs of several ranks under mpiexec
are in test_distributed_mpi.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
import graphc.distributed as dist
from graphc import nn, optim
from graphc.data import DataLoader, DistributedSampler, TensorDataset
from graphc.distributed import process_group
from graphc.distributed.buckets import plan_buckets
from ir import parse


@pytest.fixture
def alone(monkeypatch):
    """A process group of one, without MPI even where mpi4py is installed."""
    monkeypatch.setattr(process_group, "is_mpi_available", lambda: False)
    for name in process_group.WORLD_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    dist.init_process_group()
    yield
    dist.destroy_process_group()


def mlp():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def batch():
    return graphc.rand(8, 1, 8, 8), graphc.randint(0, 10, (8,))


# -- DistributedSampler ------------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("n", [12, 13, 17])
def test_sampler_covers_the_data_set_once_per_epoch(size, n):
    data = TensorDataset(graphc.arange(n))
    epochs = []
    for epoch in range(2):
        shards = []
        for rank in range(size):
            sampler = DistributedSampler(data, size, rank, seed=3)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
            assert len(shards[-1]) == len(sampler) == -(-n // size)
        every = list(itertools.chain(*shards))
        assert sorted(set(every)) == list(range(n))  # all of it...
        assert len(every) - n == -n % size  # ...once, but for the padding to equal shards
        epochs.append(every)
    assert epochs[0] != epochs[1]  # set_epoch reshuffles, the same way on every rank

    kept = [list(DistributedSampler(data, size, r, drop_last=True)) for r in range(size)]
    every = list(itertools.chain(*kept))
    assert len(every) == len(set(every)) == n - n % size


def test_sampler_layout_matches_torch():
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    data = list(range(10))
    for drop_last in (False, True):
        for rank in range(3):
            ours = DistributedSampler(data, 3, rank, shuffle=False, drop_last=drop_last)
            theirs = TorchSampler(data, 3, rank, shuffle=False, drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_errors_and_loader():
    data = TensorDataset(graphc.arange(5))
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(data, 2, 2)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(data, 2, shuffle=True, sampler=DistributedSampler(data, 2, 0))
    loader = DataLoader(data, 2, sampler=DistributedSampler(data, 2, 1, shuffle=False))
    assert len(loader) == 2
    assert [x.tolist() for (x,) in loader] == [[1, 3], [0]]


def test_sampler_defaults_to_the_process_group(alone):
    assert len(DistributedSampler(TensorDataset(graphc.arange(5)))) == 5


# -- buckets and the step graph -----------------------------------------------------------------
def test_buckets_close_at_the_cap_and_keep_dtypes_apart():
    mib = 2**20
    sizes = [(mib, "float32"), (mib, "float64"), (2 * mib, "float32"), (mib // 2, "float64")]
    assert plan_buckets(sizes, cap_mb=2, first_cap_mb=2) == [[0, 2], [1, 3]]
    assert plan_buckets(sizes, cap_mb=2) == [[0], [2], [1, 3]]  # the first closes at 1 MiB
    assert plan_buckets(sizes, cap_mb=100, first_cap_mb=100) == [[0, 2], [1, 3]]
    assert plan_buckets(sizes, cap_mb=1) == [[0], [1], [2], [3]]


def test_step_graph_averages_gradients_in_buckets(alone):
    model, (X, y) = mlp(), batch()
    plain = mlp()
    loss_fn = nn.CrossEntropyLoss()
    # gradients ready last layer first: 40 + 640 bytes, then 64 + 4096 bytes
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=600 / 2**20)
    step = graphc.compile_train_step(ddp, loss_fn, optim.SGD(model.parameters(), lr=0.1), X, y)
    graph = step.graph
    ops = [n.op for n in graph.nodes]
    assert ops.count("all_reduce_start") == ops.count("all_reduce_wait") == 2
    # bucket 0 (the last layer) is in flight while the first layer's gradients are computed;
    # the waits come after all of backward
    starts = [i for i, op in enumerate(ops) if op == "all_reduce_start"]
    waits = [i for i, op in enumerate(ops) if op == "all_reduce_wait"]
    assert starts[0] < starts[1] < waits[0] < waits[1]
    assert any(n.meta.get("scope") == "1" and n.meta.get("phase") == "backward"
               for n in graph.nodes[starts[0]:starts[1]])
    assert all(n.attrs["reduce"] == "avg" for n in graph.nodes if n.op == "all_reduce_start")
    assert dist.communicated_bytes(graph) == sum(p.numel() * 4 for p in model.parameters())
    assert parse(str(graph)) == graph

    # alone, averaging is the identity: the same step as without data parallelism (up to
    # rounding: without the all-reduce in between, O2 folds the SGD update into the weight
    # gradient's GEMM, which rounds once instead of twice)
    reference = graphc.compile_train_step(plain, loss_fn, optim.SGD(plain.parameters(), lr=0.1),
                                          X, y)
    for _ in range(2):
        np.testing.assert_allclose(step(X, y).item(), reference(X, y).item(), rtol=1e-6)
    for ours, theirs in zip(model.parameters(), plain.parameters()):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5,
                                   atol=1e-7)


def test_collectives_are_drawn_distinctly(alone, tmp_path):
    model, (X, y) = mlp(), batch()
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()),
                                     X, y, distributed=True)
    graphc.render(step.graph, tmp_path / "step.dot")
    dot = (tmp_path / "step.dot").read_text()
    assert dot.count("shape=hexagon") >= 2 and "collective (all-reduce)" in dot


# -- DistributedDataParallel and the process group, alone ----------------------------------------
def test_ddp_in_a_world_of_one_is_the_module(alone):
    model, (X, y) = mlp(), batch()
    ddp = graphc.nn.parallel.DistributedDataParallel(model)
    assert ddp.module is model and next(iter(ddp.state_dict())) == "module.1.weight"
    loss = nn.CrossEntropyLoss()(ddp(X), y)
    loss.backward()
    expected = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    nn.CrossEntropyLoss()(model(X), y).backward()
    for p, grad in zip(model.parameters(), expected):
        np.testing.assert_array_equal(p.grad.numpy(), grad)
    with ddp.no_sync():
        nn.CrossEntropyLoss()(ddp(X), y).backward()


def test_ddp_refuses_a_parameter_left_out_of_the_loss(alone):
    model = mlp()
    ddp = dist.DistributedDataParallel(model)
    model[1](graphc.rand(2, 64)).sum().backward()  # the last layer gets no gradient
    with pytest.raises(RuntimeError, match="Expected to have finished reduction"):
        ddp(graphc.rand(2, 1, 8, 8))
    with pytest.raises(NotImplementedError, match="find_unused_parameters"):
        dist.DistributedDataParallel(mlp(), find_unused_parameters=True)


def test_collectives_alone(alone):
    assert (dist.get_rank(), dist.get_world_size(), dist.is_initialized()) == (0, 1, True)
    t = graphc.tensor([1.0, -2.0])
    dist.all_reduce(t)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert dist.broadcast(t, src=0) is None and dist.barrier() is None
    assert dist.all_reduce(t, async_op=True).wait() and t.tolist() == [1.0, -2.0]
    with pytest.raises(ValueError, match="src 1 is not a rank"):
        dist.broadcast(t, src=1)
    with pytest.raises(ValueError, match="twice"):
        dist.init_process_group()


def test_all_reduce_traces_into_the_graph(alone):
    def total(x):
        y = x * 2
        dist.all_reduce(y)
        return y

    graph = graphc.trace(total, graphc.spec((3,)))
    assert [n.op for n in graph.nodes] == ["mul", "all_reduce"]


def test_errors_without_a_process_group(monkeypatch):
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    model, (X, y) = mlp(), batch()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        graphc.compile_train_step(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()),
                                  X, y, distributed=True)
    with pytest.raises(ValueError, match="runs on MPI"):
        dist.init_process_group("nccl")
    monkeypatch.setattr(process_group, "is_mpi_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"2 processes need MPI.*graphc\[dist\]"):
        dist.init_process_group(world_size=2)
    monkeypatch.setenv("PMI_SIZE", "3")
    with pytest.raises(RuntimeError, match="3 processes need MPI"):
        dist.init_process_group()
    assert not dist.is_initialized()
