"""`fold_constants`: evaluate at compile time every node whose operands are all constants, with the
op's own reference kernel, so folding can never disagree with running.

Parameters are not constants (`freeze_params` makes them so, for inference graphs whose weights
will not change, as torch.compile's freezing does). Random ops and collectives (they talk to other
processes) never fold, and results much larger
than their operands (a big `full`) stay nodes rather than bloat the graph.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ir.evaluate import run_node
from ir.graph import CONST, Graph, Node
from ir.ops.registry import COLLECTIVE, RANDOM
from passes.rewrite import Context, rewrite

SMALL = 16  # results up to this many elements always fold (shape arithmetic, scalars)


def fold_constants(graph: Graph) -> Graph:
    """`graph` with every foldable node replaced by the constant it computes."""
    return rewrite(graph, (fold_node,))


def fold_node(node: Node, ctx: Context):
    if node.opdef.has(RANDOM) or node.opdef.has(COLLECTIVE) \
            or any(v.kind != CONST for v in node.inputs):
        return None
    operand_size = sum(v.type.size for v in node.inputs)
    if sum(v.type.size for v in node.outputs) > max(SMALL, operand_size):
        return None
    results = run_node(np, node, [v.data for v in node.inputs])
    return tuple(
        ctx.graph.add_constant(np.asarray(array).astype(v.type.np_dtype, copy=False).reshape(v.shape))
        for v, array in zip(node.outputs, results)
    )


def freeze_params(graph: Graph, arrays: Mapping) -> Graph:
    """A copy of `graph` whose parameters named in `arrays` are constants holding those arrays
    (copied now: later changes to the arrays are not seen). Updated parameters stay parameters."""
    g = graph.copy()
    updated = {p for p, _ in g.updates}
    mapping = {}
    for param in list(g.params):
        if param.name in arrays and param not in updated:
            data = np.array(arrays[param.name], dtype=param.type.np_dtype, copy=True)
            g.params.remove(param)
            g._names.pop(param.name)
            mapping[param] = g.add_constant(data, param.name)
    g.replace_uses(mapping)
    return g
