"""`run_graph`: the reference interpreter (`ir.evaluate`) behind one check of the inputs.

`check_array` and `bind_params` are the one place inputs are checked, here and in `Executable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ir.errors import ExecutionError
from ir.evaluate import evaluate
from ir.graph import Graph, Node, Value

__all__ = ["ExecutionError", "check_array", "check_inputs", "run_graph"]


def check_array(value: Value, array, role: str):
    """`array` if its shape and dtype are exactly `value`'s type, else a clear ExecutionError."""
    shape, dtype = getattr(array, "shape", None), getattr(array, "dtype", None)
    if shape is None or dtype is None:
        raise ExecutionError(
            f"{role} '{value.name}' expects an array {value.type}, got {type(array).__name__}"
        )
    if tuple(shape) != value.type.shape or np.dtype(dtype) != value.type.np_dtype:
        got = f"{np.dtype(dtype).name}{list(shape)}"
        raise ExecutionError(f"{role} '{value.name}' expects {value.type}, got {got}")
    return array


def check_inputs(graph: Graph, values: Sequence[Value], arrays: Sequence, params: Mapping | None):
    """Check `arrays` (one per value of `values`) and every graph parameter in `params` by name;
    never broadcasts or casts silently."""
    if len(arrays) != len(values):
        names = ", ".join(f"{v.name}: {v.type}" for v in values)
        raise ExecutionError(
            f"graph '{graph.name}' takes {len(values)} input(s) ({names}), got {len(arrays)}"
        )
    for value, array in zip(values, arrays):
        check_array(value, array, "input")
    params = params or {}
    for value in graph.params:
        if value.name not in params:
            raise ExecutionError(
                f"graph '{graph.name}' needs parameter '{value.name}' ({value.type})"
            )
        check_array(value, params[value.name], "parameter")


def run_graph(
    graph: Graph,
    inputs: Sequence = (),
    params: Mapping | None = None,
    xp=np,
    observe: Callable[[Node, tuple], None] | None = None,
) -> list:
    """Execute `graph` with the reference kernels after checking `inputs` and `params`.

    `observe(node, results)` sees every node's results.
    """
    check_inputs(graph, graph.inputs, inputs, params)
    return evaluate(graph, inputs, params, xp, observe)
