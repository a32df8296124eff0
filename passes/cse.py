"""`eliminate_common_subexpressions`: one node per distinct (op, operands, attributes), one
constant per distinct (dtype, shape, data).

Repeated computations (the six `cast(lr)` of a training step) and duplicate constants (three `0.0`)
become one. Random ops reading the same key give the same values, so they merge too; collectives
never merge (each is a message exchange the other processes expect).
"""

from __future__ import annotations

from ir.graph import Graph, Value
from ir.ops.registry import COLLECTIVE


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """`graph` with duplicate constants interned and repeated nodes computed once."""
    g = graph.copy()
    mapping: dict[Value, Value] = {}
    constants: dict[tuple, Value] = {}
    kept = []
    for value in g.constants:
        key = (value.type, value.data.tobytes())
        if key in constants:
            mapping[value] = constants[key]
        else:
            constants[key] = value
            kept.append(value)
    g.constants = kept
    seen: dict[tuple, tuple[Value, ...]] = {}
    nodes = []
    for node in g.nodes:
        node.inputs = tuple(mapping.get(v, v) for v in node.inputs)
        key = (node.op, node.inputs, _attrs_key(node.attrs))
        if key in seen and not node.opdef.has(COLLECTIVE):
            mapping.update(zip(node.outputs, seen[key]))
        else:
            seen[key] = node.outputs
            nodes.append(node)
    g.nodes = nodes
    g.replace_uses(mapping)
    g.remove_unused_nodes()
    return g


def _attrs_key(attrs: dict) -> tuple:
    # repr tells 1 from 1.0 from True and -0.0 from 0.0, which hashing alone would merge; a fused
    # body is compared by identity.
    return tuple((k, id(v) if k == "body" else repr(v)) for k, v in attrs.items())
