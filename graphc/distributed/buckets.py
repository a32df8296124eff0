"""Gradient buckets: which gradients are reduced together, and the graph edit that reduces them.

As in PyTorch's DDP, gradients are grouped, in the order they become ready, into buckets of about
`bucket_cap_mb` megabytes (one dtype each), so a step sends a few large messages instead of one per
parameter. In a step graph each bucket is flattened (reshape + concat) and its all-reduce started
right after its last gradient is computed, so it runs while the rest of backward computes; the
waits, and the splits back into gradients, come after backward, before the optimizer update.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ir.graph import Graph, Node, Value

DEFAULT_BUCKET_CAP_MB = 25.0  # PyTorch's default bucket_cap_mb
FIRST_BUCKET_CAP_MB = 1.0  # as PyTorch: a small first bucket starts communicating early


def plan_buckets(sizes: Sequence[tuple[int, str]], cap_mb: float,
                 first_cap_mb: float = FIRST_BUCKET_CAP_MB) -> list[list[int]]:
    """Group items given as (bytes, dtype), in readiness order, into buckets of one dtype each.

    A bucket is closed once it holds `cap_mb` megabytes (MiB) or more (the first one to close:
    `min(first_cap_mb, cap_mb)`); buckets are listed in the order they close, so the first can be
    sent while later ones fill.
    """
    first_cap, cap = min(first_cap_mb, cap_mb) * 2**20, cap_mb * 2**20
    open_buckets: dict[str, list[int]] = {}
    filled: dict[str, int] = {}
    closed: list[list[int]] = []
    for index, (nbytes, dtype) in enumerate(sizes):
        bucket = open_buckets.setdefault(dtype, [])
        bucket.append(index)
        filled[dtype] = filled.get(dtype, 0) + nbytes
        if filled[dtype] >= (cap if closed else first_cap):
            closed.append(open_buckets.pop(dtype))
            filled[dtype] = 0
    closed += [bucket for bucket in open_buckets.values() if bucket]
    return closed


def insert_gradient_all_reduce(graph: Graph, grads: dict[str, Value], *,
                               bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB,
                               overlap: bool = True) -> dict[str, Value]:
    """Average `grads` (name -> gradient Value of `graph`) over all processes, in place in `graph`.

    Returns name -> averaged gradient, which the optimizer update should read. With `overlap`,
    each bucket is an all_reduce_start/all_reduce_wait pair; without, one blocking all_reduce.
    """
    position = {node: index for index, node in enumerate(graph.nodes)}
    names = sorted(grads, key=lambda n: _ready_at(grads[n], position))
    values = [grads[n] for n in names]
    buckets = plan_buckets([(v.type.nbytes, v.dtype) for v in values], bucket_cap_mb)
    after: dict[int, list[Node]] = {}  # node index -> nodes to place right after it
    finish: list[Node] = []
    reduced: dict[str, Value] = {}
    for number, bucket in enumerate(buckets):
        meta = {"phase": "backward", "scope": f"gradient_bucket.{number}"}
        ready = max(_ready_at(values[i], position) for i in bucket)
        start, sent = _flatten(graph, [values[i] for i in bucket], meta)
        if overlap:
            sent = _add(start, graph, "all_reduce_start", [sent],
                        {"reduce": "avg", "bucket": number}, meta)
            flat = _add(finish, graph, "all_reduce_wait", [sent], {"bucket": number}, meta)
        else:
            flat = _add(start, graph, "all_reduce", [sent], {"reduce": "avg", "bucket": number},
                        meta)
        after.setdefault(ready, []).extend(start)
        parts = _unflatten(finish, graph, flat, [values[i] for i in bucket], meta)
        reduced.update((names[i], part) for i, part in zip(bucket, parts))
    nodes = after.get(-1, [])
    for index, node in enumerate(graph.nodes):
        nodes += [node, *after.get(index, [])]
    graph.nodes = nodes + finish
    return {name: reduced[name] for name in grads}


def _ready_at(value: Value, position: dict) -> int:
    """Index of the node computing `value` (-1 for a graph input, parameter or constant)."""
    return position[value.node] if value.node is not None else -1


def _add(nodes: list, graph: Graph, op: str, inputs, attrs, meta) -> Value:
    nodes.append(graph.make_node(op, inputs, attrs, meta))
    return nodes[-1].out


def _flatten(graph: Graph, values: list[Value], meta) -> tuple[list[Node], Value]:
    nodes: list[Node] = []
    flat = [v if v.type.ndim == 1 else _add(nodes, graph, "reshape", [v], {"shape": (-1,)}, meta)
            for v in values]
    if len(flat) == 1:
        return nodes, flat[0]
    return nodes, _add(nodes, graph, "concat", flat, {"axis": 0}, meta)


def _unflatten(nodes: list, graph: Graph, flat: Value, like: list[Value], meta) -> list[Value]:
    if len(like) == 1:
        parts = [flat]
    else:
        sizes = tuple(math.prod(v.shape) for v in like)
        nodes.append(graph.make_node("split", [flat], {"sizes": sizes, "axis": 0}, meta))
        parts = list(nodes[-1].outputs)
    return [part if part.shape == v.shape else
            _add(nodes, graph, "reshape", [part], {"shape": v.shape}, meta)
            for part, v in zip(parts, like)]
