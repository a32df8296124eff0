"""Reverse-mode symbolic differentiation of an IR graph, split AOTAutograd-style.

The driver walks the nodes that lie between the differentiated values and the seeded outputs in
reverse order and calls each op's gradient rule (`vjp`), which emits IR through a Builder. The
gradient of a value read several times is the sum of its contributions; int/bool values get none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from ir.builder import Builder
from ir.errors import GraphError
from ir.gradient import BACKWARD, backprop
from ir.graph import INPUT, NODE, PARAM, Graph, Node, Value
from ir.types import is_float
from passes.dce import eliminate_dead_code, extract

FORWARD = "forward"


@dataclass
class AutodiffResult:
    """The differentiated graph, whole and split.

    joint: inputs (+ `grad_<output>` seeds when seeded) and params -> original outputs, then one
        gradient per `wrt` name. Nodes carry meta phase 'forward' or 'backward'; backward nodes also
        `grad_of` (the forward value whose rule emitted them) and that node's `loc`/`scope`.
    forward: inputs and params -> original outputs, then the `saved` values.
    backward: the saved values (same names as in forward), then the seeds -> the gradients in `wrt`
        order.
    wrt: names of the inputs/params differentiated. saved: names of the forward values (inputs,
        params, node outputs) the backward graph reads. unreachable: `wrt` names with no
        differentiable path to a seeded output; their gradient is zeros.
    """

    joint: Graph
    forward: Graph
    backward: Graph
    wrt: list[str]
    saved: list[str]
    unreachable: list[str]


def differentiate(graph: Graph, wrt=None, seed_outputs: bool = False) -> AutodiffResult:
    """Differentiate `graph` with respect to `wrt` (names or Values of inputs/params).

    `wrt` defaults to every float parameter. With `seed_outputs=False`, `graph.outputs[0]` must be a
    float scalar and is seeded with 1; with `seed_outputs=True` every float output `o` gets a
    backward input `grad_<o.name>` holding its gradient. See `AutodiffResult` for what comes back.
    """
    joint = eliminate_dead_code(graph)
    joint.name = f"{graph.name}_joint"
    for node in joint.nodes:
        node.meta["phase"] = FORWARD
    targets = _resolve_wrt(joint, graph, wrt)
    outputs = list(joint.outputs)
    b = Builder(joint)
    seeds = _seeds(joint, b, seed_outputs)

    grads = _backprop(joint, b, [(out, seed) for out, seed in seeds if seed is not None], targets)
    unreachable = [t.name for t, g in zip(targets, grads) if g is None]
    grads = [g if g is not None else _zeros(b, t) for t, g in zip(targets, grads)]
    joint.set_outputs([*outputs, *grads])
    joint = eliminate_dead_code(joint)

    n_out = len(outputs)
    outputs, grads = joint.outputs[:n_out], joint.outputs[n_out:]
    seed_values = [v for v in joint.inputs if v.name in {s.name for _, s in seeds if s is not None}]
    saved = _saved_values(joint, grads, set(seed_values))
    joint.meta["saved"] = list(saved)

    originals = [v for v in joint.inputs if v not in set(seed_values)]
    forward = extract(
        joint,
        [*outputs, *saved],
        inputs=originals,
        params=joint.params,
        updates=joint.updates,
        name=f"{graph.name}_forward",
    )
    backward = extract(joint, grads, inputs=[*saved, *seed_values], name=f"{graph.name}_backward")
    backward.meta.pop("random_keys", None)
    return AutodiffResult(
        joint, forward, backward, [t.name for t in targets], [v.name for v in saved], unreachable
    )


def _resolve_wrt(joint: Graph, original: Graph, wrt) -> list[Value]:
    leaves = {v.name: v for v in [*joint.inputs, *joint.params]}
    if wrt is None:
        return [v for v in joint.params if is_float(v.dtype)]
    targets: list[Value] = []
    for item in wrt:
        name = item.name if isinstance(item, Value) else item
        if name not in leaves:
            raise GraphError(
                f"cannot differentiate with respect to '{name}': not an input or "
                f"parameter of graph '{original.name}'"
            )
        value = leaves[name]
        if not is_float(value.dtype):
            raise GraphError(
                f"cannot differentiate with respect to '{name}' of type {value.type}: "
                "only float values have gradients"
            )
        if value not in targets:
            targets.append(value)
    return targets


def _seeds(joint: Graph, b: Builder, seed_outputs: bool) -> list[tuple[Value, Value | None]]:
    """(output, seed gradient) pairs; seed is None for outputs that take no gradient."""
    if not joint.outputs:
        raise GraphError(f"graph '{joint.name}' has no outputs to differentiate")
    if not seed_outputs:
        loss = joint.outputs[0]
        if loss.shape != () or not is_float(loss.dtype):
            raise GraphError(
                f"the first output %{loss.name} must be a float scalar to be seeded "
                f"with 1, got {loss.type}; pass seed_outputs=True to give its gradient"
            )
        return [(loss, b.scalar_like(1, loss))]
    return [
        (out, joint.add_input(f"grad_{out.name}", out.type) if is_float(out.dtype) else None)
        for out in joint.outputs
    ]


def _vertex(value: Value):
    return value.node if value.kind == NODE else value


def _active_nodes(graph: Graph, seeds, targets) -> list[Node]:
    """Nodes on some path from a target to a seeded output, in graph order."""
    dag = graph.to_networkx()
    after = set().union(*(nx.descendants(dag, t) for t in targets)) if targets else set()
    before = (
        set().union(*(nx.ancestors(dag, _vertex(out)) | {_vertex(out)} for out, _ in seeds))
        if seeds
        else set()
    )
    return [n for n in graph.nodes if n in after and n in before]


def _backprop(graph: Graph, b: Builder, seeds, targets) -> list[Value | None]:
    """Emit the gradient of each target (None where no differentiable path reaches it)."""
    return backprop(b, _active_nodes(graph, seeds, targets), seeds, targets)


def _zeros(b: Builder, target: Value) -> Value:
    with b.meta(phase=BACKWARD, grad_of=target):
        return b.zeros(target.type)


def _saved_values(joint: Graph, grads: Sequence[Value], seeds: set[Value]) -> list[Value]:
    """Forward values (inputs, params, forward node outputs) that backward nodes or grads use."""

    def is_forward(v: Value) -> bool:
        if v.kind in (INPUT, PARAM):
            return v not in seeds
        return v.kind == NODE and v.node.meta.get("phase") == FORWARD

    used = {v for n in joint.nodes if n.meta.get("phase") == BACKWARD for v in n.inputs}
    used.update(grads)
    return [v for v in joint.values() if v in used and is_forward(v)]
