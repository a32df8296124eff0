"""`fuse`: group nodes into `fused` nodes, each one kernel at run time (TVM-style, by fusion class).

Walking the nodes in order, a node joins the group of one of its producers when their fusion
classes allow it (the ops' `fusion` facts):
- elementwise ops of one shape fuse together (0-d scalar arithmetic forms groups of its own);
- a reduction absorbs the elementwise group that produces its operand (a prologue, such as
  `sum(exp(x - m))`), and elementwise ops of the reduced shape that follow (an epilogue: `log`);
- an output-fusable op (matmul, gemm, conv) anchors a group and absorbs elementwise epilogues of
  its output's shape (bias, activation, the optimizer's axpy after a weight-gradient gemm).
A join never creates a cycle (no path may leave the group and come back), nothing is computed
twice, and only ops with a `write` kernel fuse (a fused kernel writes into planned buffers). A
group of two or more nodes becomes one `fused` node whose body holds the members with their own
meta; values read outside the group become the fused node's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ir.graph import CONST, NODE, Graph, Node, Value
from ir.ops.registry import FUSE_ELEMENTWISE, FUSE_OUT, FUSE_REDUCTION

INLINE_CONSTANT_SIZE = 16  # constants up to this size are copied into the body


def fuse(graph: Graph) -> Graph:
    """`graph` with each fusible group of nodes outlined into one `fused` node."""
    g = graph.copy()
    groups = [group for group in _partition(g) if len(group.nodes) > 1]
    if not groups:
        return g
    members = {node for group in groups for node in group.nodes}
    readers = g.users()
    readers.update({v: [*readers.get(v, []), None] for v in [*g.outputs, *(v for _, v in g.updates)]})
    position = {node: i for i, node in enumerate(g.nodes)}
    keep = [node for node in g.nodes if node not in members]
    mapping: dict[Value, Value] = {}
    for index, group in enumerate(groups):
        fused = _outline(g, group, index, readers)
        position[fused] = position[group.nodes[-1]]
        for old, new in zip(fused.meta.pop("replaces"), fused.outputs):
            mapping[old] = new
        keep.append(fused)
    g.nodes = keep
    g.replace_uses(mapping)
    for fused in keep:
        if fused.op == "fused":
            _rename_outputs(g, fused, mapping)
    g.nodes = _topological(keep, position)
    g.remove_unused_nodes()
    return g


@dataclass
class _Group:
    kind: str  # FUSE_ELEMENTWISE, FUSE_REDUCTION or FUSE_OUT
    shape: tuple  # the iteration shape (a reduction's input shape)
    nodes: list = field(default_factory=list)
    reduced: tuple | None = None  # a reduction group's output shape

    def accepts(self, node: Node) -> bool:
        kind, out = node.opdef.fusion, node.outputs[0].shape
        if kind == FUSE_ELEMENTWISE:
            if self.kind == FUSE_REDUCTION:
                return self.reduced is not None and out == self.reduced
            return out == self.shape
        if kind == FUSE_REDUCTION:
            return self.kind == FUSE_ELEMENTWISE and node.inputs[0].shape == self.shape
        return False


def _fusible(node: Node) -> bool:
    opdef = node.opdef
    return (
        len(node.outputs) == 1
        and opdef.write is not None
        and opdef.fusion in (FUSE_ELEMENTWISE, FUSE_REDUCTION, FUSE_OUT)
        and node.op != "fused"
    )


def _partition(g: Graph) -> list[_Group]:
    """Greedy grouping in graph order; `deps[node]` is the set of groups it transitively reads."""
    group_of: dict[Node, _Group] = {}
    deps: dict[Node, set[int]] = {}
    groups: list[_Group] = []
    position = {node: i for i, node in enumerate(g.nodes)}
    for node in g.nodes:
        producers = [v.node for v in node.inputs if v.kind == NODE]
        deps[node] = set().union(*(deps[p] | _own(group_of, p) for p in producers)) \
            if producers else set()
        if not _fusible(node):
            continue
        joined = None
        candidates = sorted({id(group_of[p]): group_of[p] for p in producers if p in group_of}
                            .values(), key=lambda grp: -position[grp.nodes[-1]])
        for group in candidates:
            if group.accepts(node) and not _cycle(group, node, group_of, deps):
                joined = group
                break
        if joined is None:
            kind = node.opdef.fusion
            shape = node.inputs[0].shape if kind == FUSE_REDUCTION else node.outputs[0].shape
            joined = _Group(kind, shape)
            groups.append(joined)
            if kind == FUSE_REDUCTION:
                joined.reduced = node.outputs[0].shape
        elif node.opdef.fusion == FUSE_REDUCTION:
            joined.kind, joined.reduced = FUSE_REDUCTION, node.outputs[0].shape
        joined.nodes.append(node)
        group_of[node] = joined
        deps[node].add(id(joined))
    return groups


def _own(group_of: dict, node: Node) -> set[int]:
    return {id(group_of[node])} if node in group_of else set()


def _cycle(group: _Group, node: Node, group_of: dict, deps: dict) -> bool:
    """Whether `node` reads, outside `group`, something that itself depends on `group`."""
    for value in node.inputs:
        p = value.node if value.kind == NODE else None
        if p is not None and group_of.get(p) is not group and id(group) in deps[p]:
            return True
    return False


def _outline(g: Graph, group: _Group, index: int, readers: dict) -> Node:
    """Build the body of `group` and a fused node standing for it (not yet placed in g.nodes).

    `readers` maps each value to the nodes reading it (None for the graph's outputs and updates):
    a member's result read by anything outside the group becomes a result of the fused node.
    """
    members = set(group.nodes)
    defined = {v for node in group.nodes for v in node.outputs}
    body = Graph(_body_name(group.nodes, index))
    env: dict[Value, Value] = {}
    outer_inputs = []
    for node in group.nodes:
        for value in node.inputs:
            if value in env or value in defined:
                continue
            if value.kind == CONST and value.type.size <= INLINE_CONSTANT_SIZE:
                env[value] = body.add_constant(value.data, value.name)
            else:
                env[value] = body.add_input(value.name, value.type)
                outer_inputs.append(value)
    for node in group.nodes:
        copy = body.add_node(node.op, [env[v] for v in node.inputs], node.attrs,
                             _inner_meta(node.meta), names=[v.name for v in node.outputs])
        env.update(zip(node.outputs, copy.outputs))
    exported = [v for node in group.nodes for v in node.outputs
                if any(r not in members for r in readers.get(v, ()))]
    body.set_outputs(env[v] for v in exported)
    anchor = next((n for n in group.nodes if n.opdef.fusion != FUSE_ELEMENTWISE), group.nodes[-1])
    meta = {k: v for k, v in anchor.meta.items() if not isinstance(v, Value)}
    fused = g.make_node("fused", outer_inputs, {"body": body}, meta)
    fused.meta["replaces"] = exported
    return fused


def _inner_meta(meta: dict) -> dict:
    # References to outer values cannot live in the body (they would point outside its graph).
    return {k: v for k, v in meta.items() if not isinstance(v, Value)}


def _body_name(nodes: list[Node], index: int) -> str:
    ops = [n.op for n in nodes]
    shown = "+".join(ops[:4]) + ("+..." if len(ops) > 4 else "")
    return f"fused_{index}:{shown}"


def _rename_outputs(g: Graph, fused: Node, mapping: dict) -> None:
    """Give the fused node's results the names of the values they stand for (now gone)."""
    old_by_new = {new: old for old, new in mapping.items()}
    for value in fused.outputs:
        old = old_by_new.get(value)
        if old is not None:
            g.claim_name(value, old.name)


def _topological(nodes: list[Node], position: dict) -> list[Node]:
    """`nodes` in an order where every value is defined before it is read, as close to the
    original order as possible (a fused node sits where its last member was)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes)
    defining = {v: n for n in nodes for v in n.outputs}
    for node in nodes:
        for value in node.inputs:
            if value in defining:
                dag.add_edge(defining[value], node)
    return list(nx.lexicographical_topological_sort(dag, key=lambda n: position[n]))
