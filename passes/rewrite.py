"""`rewrite`: apply a table of local rules to a graph until none applies (a fixed point).

A rule is `rule(node, ctx) -> Value | tuple[Value, ...] | None`: it looks at one node and either
returns what replaces the node's results (emitting new nodes with `ctx.b`, which land before the
node) or None. The driver sweeps the nodes in order, rewires every reader of a replaced result,
keeps use counts current (so a rule can ask whether a value has other readers) and drops what
became dead. Rules never mutate nodes in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ir.builder import Builder
from ir.graph import CONST, Graph, Node, Value

Rule = Callable[[Node, "Context"], object]
MAX_SWEEPS = 50  # a rule set that has not converged by then is broken


class Context:
    """What a rule sees besides its node: a Builder stamping the node's meta, and use counts."""

    def __init__(self, graph: Graph, uses: Counter):
        self.graph = graph
        self.uses = uses
        self.b = Builder(graph)

    def readers(self, value: Value) -> int:
        """How many node operands, outputs and updates read `value` now."""
        return self.uses[value]

    def sole_reader(self, value: Value) -> bool:
        return self.uses[value] == 1


def rewrite(graph: Graph, rules: Sequence[Rule]) -> Graph:
    """A copy of `graph` with `rules` applied to a fixed point and dead nodes removed."""
    g = graph.copy()
    for _ in range(MAX_SWEEPS):
        if not _sweep(g, rules):
            break
    else:
        raise RuntimeError(f"rewrite rules {[r.__name__ for r in rules]} did not converge")
    g.remove_unused_nodes()
    return g


def _count_uses(graph: Graph) -> Counter:
    uses = Counter(v for node in graph.nodes for v in node.inputs)
    uses.update(graph.outputs)
    uses.update(v for _, v in graph.updates)
    return uses


def _sweep(g: Graph, rules: Sequence[Rule]) -> bool:
    """One pass over the nodes; True if any rule fired."""
    uses = _count_uses(g)
    old_nodes, g.nodes = g.nodes, []  # emitted nodes append to the new list, before `node`
    ctx = Context(g, uses)
    mapping: dict[Value, Value] = {}
    changed = False
    for node in old_nodes:
        if mapping and any(v in mapping for v in node.inputs):
            node.inputs = tuple(_resolve(mapping, v) for v in node.inputs)
        if not any(uses[v] for v in node.outputs):  # dead already: drop without asking rules
            uses.subtract(node.inputs)
            continue
        replacement = _apply(node, rules, ctx)
        if replacement is None:
            g.nodes.append(node)
            continue
        changed = True
        uses.subtract(node.inputs)
        for old, new in zip(node.outputs, replacement):
            mapping[old] = new
            uses[new] += uses.pop(old, 0)
    if mapping:
        g.replace_uses(mapping)
    return changed


def _apply(node: Node, rules: Sequence[Rule], ctx: Context):
    start = len(ctx.graph.nodes)
    with ctx.b.meta(**node.meta):
        for rule in rules:
            result = rule(node, ctx)
            if result is None:
                continue
            result = result if isinstance(result, tuple) else (result,)
            for emitted in ctx.graph.nodes[start:]:
                ctx.uses.update(emitted.inputs)
            return result
    if len(ctx.graph.nodes) != start:
        raise RuntimeError(f"a rule emitted nodes for {node!r} but did not replace it")
    return None


def _resolve(mapping: dict, value: Value) -> Value:
    while value in mapping:
        value = mapping[value]
    return value


# -- helpers rules share ---------------------------------------------------------------------------
def constant_data(value: Value) -> np.ndarray | None:
    """The array of a constant value, else None."""
    return value.data if value.kind == CONST else None


def is_constant_fill(value: Value, fill) -> bool:
    """Whether `value` is a constant whose every element is `fill`, bit for bit (for floats the
    sign of zero counts: -0.0 is not 0.0; NaN equals NaN)."""
    data = constant_data(value)
    if data is None or data.size == 0:
        return False
    target = np.asarray(fill).astype(data.dtype)
    if data.dtype.kind == "f":
        same_bits = np.signbit(data) == np.signbit(target)
        equal = (data == target) | (np.isnan(data) & np.isnan(target))
        return bool(np.all(equal & same_bits))
    return bool(np.all(data == target))


def producer(value: Value, op: str | None = None) -> Node | None:
    """The node that defines `value` (when it runs `op`, if given), else None."""
    node = value.node if value.kind == "node" else None
    return node if node is not None and (op is None or node.op == op) else None
