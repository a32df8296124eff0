"""`evaluate`: THE reference evaluation loop, running a graph node by node with the ops' reference
kernels. The runtime's checked `run_graph`, constant folding and the fused op's reference kernel
all run through it; the planned `runtime.Executable` is the fast path checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ir.errors import ExecutionError, kernel_error
from ir.graph import Graph, Node, describe_location
from ir.ops.registry import get_op


def run_node(xp, node: Node, arrays: Sequence) -> tuple:
    """One node's reference kernel on `arrays`; errors name the node and the user's source line."""
    try:
        result = get_op(node.op).impl(xp, *arrays, **node.attrs)
    except ExecutionError:
        raise
    except Exception as err:
        raise kernel_error(
            f"while executing {node!r}{describe_location(node.meta)}: {type(err).__name__}: {err}",
            err) from err
    return result if isinstance(result, tuple) else (result,)


def evaluate(
    graph: Graph,
    inputs: Sequence = (),
    params: Mapping | None = None,
    xp=np,
    observe: Callable[[Node, tuple], None] | None = None,
) -> list:
    """The outputs of `graph` on `inputs` (one per graph input) and `params` (by name).

    Nothing is checked here (`runtime.run_graph` checks); each value is dropped once its last
    reader has run; `observe(node, results)` sees every node's results.
    """
    env = dict(zip(graph.inputs, inputs))
    params = params or {}
    for value in graph.params:
        env[value] = params[value.name]
    for value in graph.constants:
        env[value] = xp.asarray(value.data)
    keep = set(graph.outputs) | {v for pair in graph.updates for v in pair}
    last = {}
    for index, node in enumerate(graph.nodes):
        for value in node.inputs:
            last[value] = index
    for index, node in enumerate(graph.nodes):
        results = run_node(xp, node, [env[v] for v in node.inputs])
        env.update(zip(node.outputs, results))
        if observe is not None:
            observe(node, results)
        for value in node.inputs:
            if last[value] == index and value not in keep:
                env.pop(value, None)
    return [env[v] for v in graph.outputs]
