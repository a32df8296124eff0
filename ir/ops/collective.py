"""Collective ops: `all_reduce`, and the `all_reduce_start`/`all_reduce_wait` pair that lets a
reduction run while later nodes compute (a non-blocking request, started when its input is ready
and waited on where its result is first needed).

The kernels run on the communicator `graphc.distributed` installs (`ir.communicator`); without one,
or alone, a reduction is the identity. Attributes: `reduce` ('sum' or 'avg': the mean over
processes) and `bucket`, the number of the gradient bucket a data-parallel step reduces (-1: none),
which pairs a start with its wait when printed.
"""

from __future__ import annotations

import functools

from ir.communicator import peers
from ir.errors import ShapeError
from ir.ops.registry import COLLECTIVE, Attr, define_op
from ir.types import TensorType, is_float

GRAPH_OPS = ("sum", "avg")  # the reductions with a gradient rule
ATTRS = {"reduce": Attr(str, "sum"), "bucket": Attr(int, -1)}

# Requests in flight, by the id of the array being reduced (kept alive here until waited on).
_IN_FLIGHT: dict[int, tuple[object, object]] = {}


def _reduce_type(x: TensorType, *, reduce, bucket) -> TensorType:
    if reduce not in GRAPH_OPS:
        raise ShapeError(f"reduce must be one of {', '.join(GRAPH_OPS)}, got {reduce!r}")
    if reduce == "avg" and not is_float(x.dtype):
        raise ShapeError(f"'avg' needs a float tensor, got {x}")
    return x


# No collective declares `view`: planned runtimes take views once, when they load a graph, and
# a collective must act at every run. Each writes into its own buffer (in place where allowed).
def _impl(xp, x, *, reduce, bucket, blocking: bool):
    out = x.copy()
    _write(xp, out, x, reduce=reduce, bucket=bucket, blocking=blocking)
    return out


def _write(xp, out, x, *, reduce, bucket, blocking: bool):
    """Reduce into `out` (after copying `x` there): at once, or started for all_reduce_wait."""
    if out is not x:
        out[...] = x
    comm = peers()
    if comm is None:
        return
    if blocking:
        comm.all_reduce(out, reduce)
    else:
        _IN_FLIGHT[id(out)] = (out, comm.start_all_reduce(out, reduce))


def _reduce_vjp(b, g, out, x, *, reduce, bucket):
    # Every process's result reads every process's input: the gradients meet the same way.
    return (b.all_reduce(g, reduce=reduce, bucket=bucket),)


def _define_reduction(name: str, blocking: bool, doc: str) -> None:
    define_op(name, attrs=ATTRS, traits={COLLECTIVE}, shape=_reduce_type, vjp=_reduce_vjp,
              impl=functools.partial(_impl, blocking=blocking),
              write=functools.partial(_write, blocking=blocking), inplace=(0,), doc=doc)


_define_reduction("all_reduce", blocking=True,
                  doc="The reduction of x over all processes, as every process's result.")
_define_reduction("all_reduce_start", blocking=False,
                  doc="Starts all_reduce(x) into a buffer of its own and returns it at once; the "
                      "buffer holds the result only after all_reduce_wait, its one reader.")


def _wait_write(xp, out, x, *, bucket):
    request = _IN_FLIGHT.pop(id(x), None)
    if request is not None:
        request[1].wait()
    elif peers() is not None:
        raise RuntimeError(f"all_reduce_wait (bucket {bucket}): no all-reduce was started on "
                           "this array (all_reduce_start must produce the wait's input)")
    if out is not x:
        out[...] = x


def _wait_impl(xp, x, *, bucket):
    out = xp.empty_like(x)
    _wait_write(xp, out, x, bucket=bucket)
    return out


define_op(
    "all_reduce_wait",
    attrs={"bucket": ATTRS["bucket"]},
    traits={COLLECTIVE},
    shape=lambda x, *, bucket: x,
    impl=_wait_impl,
    vjp=lambda b, g, out, x, *, bucket: (g,),
    write=_wait_write,
    inplace=(0,),
    doc="Waits for the all_reduce_start that produced x; returns x, now reduced.",
)

COMMUNICATING = ("all_reduce", "all_reduce_start")  # the ops that send their input


def communicated_bytes(graph) -> int:
    """Bytes each process contributes to reductions in one run of `graph` (fused bodies included).

    A ring all-reduce of B bytes over N processes sends and receives 2(N-1)/N * B per process.
    """
    total = 0
    for node in graph.nodes:
        if node.op in COMMUNICATING:
            total += node.inputs[0].type.nbytes
        elif node.subgraph is not None:
            total += communicated_bytes(node.subgraph)
    return total
