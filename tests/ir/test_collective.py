"""Collective ops on an in-process communicator that plays a second process holding the same data
(so a sum doubles and a mean keeps the values); the MPI runs are in tests/distributed."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import numpy as np
import pytest

from ir import Builder, Graph, ShapeError, TensorType
from ir.communicator import set_communicator
from ir.errors import ExecutionError
from ir.ops.collective import communicated_bytes
from passes.autodiff import differentiate
from runtime import run_graph

F64 = TensorType((2, 3), "float64")


class Twin:
    """Two processes with equal arrays; a started reduction lands only at `wait()`."""

    rank, size = 0, 2

    def __init__(self):
        self.calls = []

    def all_reduce(self, array, op):
        self.calls.append(op)
        if op == "sum":
            array *= 2

    def start_all_reduce(self, array, op):
        comm = self

        class Handle:
            def wait(self):
                comm.all_reduce(array, op)

        return Handle()


@contextlib.contextmanager
def communicator(comm):
    previous = set_communicator(comm)
    try:
        yield comm
    finally:
        set_communicator(previous)


def one_op_graph(*ops):
    g = Graph("collective")
    x = g.add_input("x", F64)
    b = Builder(g)
    for op, attrs in ops:
        x = b.emit(op, x, **attrs)
    g.set_outputs([x])
    return g


def test_all_reduce_sums_or_averages_without_touching_its_input():
    x = np.arange(6.0).reshape(2, 3)
    for reduce, factor in (("sum", 2), ("avg", 1)):
        g = one_op_graph(("all_reduce", {"reduce": reduce}))
        with communicator(Twin()):
            (out,) = run_graph(g, [x])
        np.testing.assert_array_equal(out, factor * x)
        assert x[1, 2] == 5.0


def test_started_reduction_is_complete_after_its_wait():
    x = np.ones((2, 3))
    g = Graph("overlap")
    xv = g.add_input("x", F64)
    b = Builder(g)
    started = b.all_reduce_start(xv, bucket=0)
    other = b.mul(xv, xv)  # runs while the reduction is in flight
    done = b.all_reduce_wait(started, bucket=0)
    g.set_outputs([b.add(done, other)])
    with communicator(Twin()) as comm:
        np.testing.assert_array_equal(run_graph(g, [x])[0], 3 * x)
    assert comm.calls == ["sum"]


def test_wait_without_its_start_is_a_clear_error():
    g = one_op_graph(("all_reduce_wait", {"bucket": 3}))
    with communicator(Twin()), pytest.raises(ExecutionError, match="bucket 3.*all_reduce_start"):
        run_graph(g, [np.zeros((2, 3))])


def test_gradient_of_a_sum_reduction_is_a_sum_reduction():
    g = one_op_graph(("all_reduce", {"reduce": "sum"}))
    b = Builder(g)
    g.set_outputs([b.sum(g.outputs[0], axes=None)])
    result = differentiate(g, wrt=["x"])
    assert [n.op for n in result.backward.nodes].count("all_reduce") == 1
    with communicator(Twin()):
        _, grad = run_graph(result.joint, [np.ones((2, 3))])
    np.testing.assert_array_equal(grad, np.full((2, 3), 2.0))


def test_bytes_communicated_per_run():
    g = one_op_graph(("all_reduce_start", {}), ("all_reduce_wait", {}), ("all_reduce", {}))
    assert communicated_bytes(g) == 2 * F64.nbytes


@pytest.mark.parametrize(
    "dtype, reduce, message",
    [("float32", "max", "reduce must be one of sum, avg"), ("int64", "avg", "needs a float")],
)
def test_shape_rule_rejects(dtype, reduce, message):
    g = Graph()
    x = g.add_input("x", TensorType((2,), dtype))
    with pytest.raises(ShapeError, match=message):
        g.add_node("all_reduce", [x], {"reduce": reduce})


def test_ir_imports_no_transport():
    ir_root = Path(__file__).resolve().parents[2] / "ir"
    for path in ir_root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] == "mpi4py" for n in names), path
