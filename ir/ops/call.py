"""`fused`: a node that applies a whole subgraph (its `body` attribute), as JAX's `xla_call`.

The fusion pass makes these; everything else handles them as any op: the type rule is the body's
outputs, the reference kernel evaluates the body, the gradient rule inlines the body and
differentiates it. The runtime compiles each one into a single kernel.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import Attr, define_op


def _fused_type(*types, body):
    from ir.graph import Graph

    if not isinstance(body, Graph):
        raise ShapeError(f"the body of a fused node must be a Graph, got {type(body).__name__}")
    if body.params or body.updates:
        raise ShapeError("a fused body may not have parameters or updates")
    expected = [v.type for v in body.inputs]
    if list(types) != expected:
        raise ShapeError(f"operand types {_types(types)} differ from its body's inputs "
                         f"{_types(expected)}")
    return tuple(v.type for v in body.outputs)


def _types(types) -> str:
    return "(" + ", ".join(map(str, types)) + ")"


def _fused_impl(xp, *arrays, body):
    from ir.evaluate import evaluate

    return tuple(evaluate(body, arrays, xp=xp))


def inline(b, body, inputs) -> list:
    """Emit `body`'s nodes with `b`, reading `inputs` for its inputs; return its outputs there."""
    env = dict(zip(body.inputs, inputs))
    for value in body.constants:
        env[value] = b.graph.add_constant(value.data)
    for node in body.nodes:
        results = b.emit(node.op, *(env[v] for v in node.inputs), **node.attrs)
        env.update(zip(node.outputs, results if isinstance(results, tuple) else (results,)))
    return [env[v] for v in body.outputs]


def _fused_vjp(b, g, out, *inputs, body):
    from ir.gradient import backprop

    start = len(b.graph.nodes)
    outputs = inline(b, body, inputs)
    inlined = b.graph.nodes[start:]
    grads = g if isinstance(g, tuple) else (g,)
    return tuple(backprop(b, inlined, list(zip(outputs, grads)), list(inputs)))


define_op(
    "fused",
    arity=None,
    attrs={"body": Attr(object)},
    shape=_fused_type,
    impl=_fused_impl,
    vjp=_fused_vjp,
    doc="Applies the subgraph `body` to the operands: one kernel in the runtime.",
)
