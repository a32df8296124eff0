"""Dead-code elimination, and `extract`: copy the part of a graph that computes chosen values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ir.errors import GraphError
from ir.graph import CONST, Graph, Value, remap_meta


def eliminate_dead_code(graph: Graph) -> Graph:
    """A new graph with only the nodes and constants that feed `graph.outputs` or `graph.updates`.

    Inputs and parameters stay as they are (the signature does not change), even when unused.
    """
    return extract(
        graph, graph.outputs, inputs=graph.inputs, params=graph.params, updates=graph.updates
    )


def extract(
    graph: Graph,
    outputs: Sequence[Value],
    *,
    inputs: Sequence[Value],
    params: Sequence[Value] = (),
    updates: Iterable[tuple[Value, Value]] = (),
    name: str | None = None,
) -> Graph:
    """A new graph computing `outputs` (and `updates`) of `graph` from `inputs` and `params`.

    `inputs` may be any values of `graph`, node outputs included: they become graph inputs with the
    same names and types, and the nodes that defined them are left out. Only the nodes and constants
    needed are copied, in their original order; names, attrs and meta are kept (meta references to
    values the new graph does not hold are dropped).
    """
    updates = list(updates)
    leaves = {v: v.kind for v in inputs} | {v: "param" for v in params}
    live = set(outputs) | {v for pair in updates for v in pair}
    nodes = []
    for node in reversed(graph.nodes):
        if any(v in live and v not in leaves for v in node.outputs):
            nodes.append(node)
            live.update(node.inputs)
    nodes.reverse()

    new = Graph(name or graph.name)
    env: dict[Value, Value] = {}
    for value in inputs:
        env[value] = new.add_input(value.name, value.type)
    for value in params:
        env[value] = new.add_param(value.name, value.type)
    for value in graph.constants:
        if value in live and value not in leaves:
            env[value] = new.add_constant(value.data, value.name)
    for node in nodes:
        for value in node.inputs:
            if value not in env:
                raise GraphError(
                    f"cannot extract {node!r}: %{value.name} is neither computed nor given"
                )
        copy = new.clone_node(node, [env[v] for v in node.inputs])
        env.update(zip(node.outputs, copy.outputs))
    for value in [*outputs, *(v for pair in updates for v in pair)]:
        if value not in env:
            kind = "constant" if value.kind == CONST else value.kind
            raise GraphError(
                f"cannot extract output %{value.name} ({kind}): it is not computed or given"
            )
    new.set_outputs(env[v] for v in outputs)
    new.updates = [(env[p], env[v]) for p, v in updates]
    new.meta = remap_meta(graph.meta, env)
    for node in new.nodes:
        node.meta = remap_meta(node.meta, env)
    return new
