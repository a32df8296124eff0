"""`backprop`: the reverse walk that calls each op's gradient rule (vjp) and sums the gradient
contributions of values read more than once. `passes.autodiff` drives it over a whole graph; the
fused op's own gradient rule drives it over its inlined body.
"""

from __future__ import annotations

from ir.builder import Builder
from ir.errors import GraphError
from ir.graph import NODE, Node, Value
from ir.ops.registry import NONDIFFERENTIABLE
from ir.types import is_float

BACKWARD = "backward"


def backprop(b: Builder, nodes: list[Node], seeds, targets) -> list[Value | None]:
    """Emit the gradient of each target from `seeds` ((value, gradient) pairs) through `nodes`.

    `nodes` are the nodes between the targets and the seeded values, in graph order. Returns one
    gradient per target, None where no differentiable path reaches it. Emitted nodes carry
    phase 'backward', `grad_of` (the forward value whose rule emitted them) and its loc/scope.
    """
    wanted = set(targets) | {v for n in nodes for v in n.outputs if is_float(v.dtype)}
    pending: dict[Value, list[Value]] = {}
    for out, seed in seeds:
        if out in wanted:
            pending.setdefault(out, []).append(seed)

    for node in reversed(nodes):
        if node.opdef.has(NONDIFFERENTIABLE):
            continue
        gs = [_total(b, pending, v) for v in node.outputs]
        if all(g is None for g in gs):
            continue
        with b.meta(phase=BACKWARD, grad_of=node.outputs[0], **origin(node)):
            if len(gs) > 1:  # multi-output rules get zeros for outputs nothing reads
                g = tuple(
                    gi if gi is not None else b.zeros(v.type) for gi, v in zip(gs, node.outputs)
                )
                out = node.outputs
            else:
                g, out = gs[0], node.out
            in_grads = node.opdef.vjp(b, g, out, *node.inputs, **node.attrs)
        if len(in_grads) != len(node.inputs):
            raise GraphError(
                f"gradient rule of '{node.op}' returned {len(in_grads)} gradients "
                f"for {len(node.inputs)} inputs"
            )
        for value, grad in zip(node.inputs, in_grads):
            if grad is None or value not in wanted:
                continue
            if grad.type != value.type:
                raise GraphError(
                    f"gradient rule of '{node.op}' gave {grad.type} for input "
                    f"%{value.name}: {value.type}"
                )
            pending.setdefault(value, []).append(grad)
    return [_total(b, pending, t) for t in targets]


def origin(node: Node) -> dict:
    """The user-facing meta (loc, scope) a node's gradient inherits."""
    return {k: node.meta[k] for k in ("loc", "scope") if node.meta.get(k)}


def _total(b: Builder, pending: dict, value: Value) -> Value | None:
    """The summed gradient of `value` (emitting the adds once), or None if it has none."""
    parts = pending.get(value)
    if not parts:
        return None
    if len(parts) > 1:
        extra = origin(value.node) if value.kind == NODE else {}
        with b.meta(phase=BACKWARD, grad_of=value, **extra):
            total = parts[0]
            for part in parts[1:]:
                total = b.add(total, part)
        pending[value] = [total]
    return pending[value][0]
