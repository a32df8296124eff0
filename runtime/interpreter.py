"""The reference interpreter: runs any verified graph node by node with the ops' reference kernels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ir.graph import Graph, Node, Value, describe_location
from ir.ops.registry import get_op


class ExecutionError(RuntimeError):
    """A kernel failed, or a graph was given inputs that do not match its signature."""


def bind_inputs(graph: Graph, inputs: Sequence, params: Mapping | None, xp=np) -> dict[Value, object]:
    """Check `inputs` (one per graph input) and `params` (by name) against the graph's types.

    Raises ExecutionError that names the input and what was expected; never broadcasts silently.
    """
    if len(inputs) != len(graph.inputs):
        names = ", ".join(f"{v.name}: {v.type}" for v in graph.inputs)
        raise ExecutionError(f"graph '{graph.name}' takes {len(graph.inputs)} input(s) ({names}), got {len(inputs)}")
    env: dict[Value, object] = {}
    for value, array in zip(graph.inputs, inputs):
        env[value] = check_array(value, array, "input")
    params = params or {}
    for value in graph.params:
        if value.name not in params:
            raise ExecutionError(f"graph '{graph.name}' needs parameter '{value.name}' ({value.type})")
        env[value] = check_array(value, params[value.name], "parameter")
    for value in graph.constants:
        env[value] = xp.asarray(value.data)
    return env


def check_array(value: Value, array, role: str):
    """`array` if its shape and dtype are exactly `value`'s type, else a clear ExecutionError."""
    shape, dtype = getattr(array, "shape", None), getattr(array, "dtype", None)
    if shape is None or dtype is None:
        raise ExecutionError(f"{role} '{value.name}' expects an array {value.type}, got {type(array).__name__}")
    if tuple(shape) != value.type.shape or np.dtype(dtype) != value.type.np_dtype:
        got = f"{np.dtype(dtype).name}{list(shape)}"
        raise ExecutionError(f"{role} '{value.name}' expects {value.type}, got {got}")
    return array


def run_node(xp, node: Node, arrays: list):
    """Run one node's reference kernel; errors name the node and the user's source line."""
    try:
        result = get_op(node.op).impl(xp, *arrays, **node.attrs)
    except Exception as err:
        raise ExecutionError(f"while executing {node!r}{describe_location(node.meta)}: {err}") from err
    return result if isinstance(result, tuple) else (result,)


def run_graph(
    graph: Graph,
    inputs: Sequence = (),
    params: Mapping | None = None,
    xp=np,
    observe: Callable[[Node, tuple], None] | None = None,
) -> list:
    """Execute `graph` and return its outputs; `observe(node, results)` sees every node's results."""
    env = bind_inputs(graph, inputs, params, xp)
    for node in graph.nodes:
        results = run_node(xp, node, [env[v] for v in node.inputs])
        for value, array in zip(node.outputs, results):
            env[value] = array
        if observe is not None:
            observe(node, results)
    return [env[v] for v in graph.outputs]
