"""`custom`: a node applying a user-defined autograd.Function, with the user's own gradient rule.

Its `body` graph holds both halves: inputs are the Function's inputs then one gradient per output;
the first `forward_nodes` nodes compute the outputs (the first `outputs` body outputs) and the
rest is the user's backward, whose results (the remaining body outputs) are the gradients of the
inputs flagged in `grads`. The reference kernel runs only the forward nodes; the gradient rule
inlines the body, forward recomputed, as the fused op's does. One body keeps the node printable,
parsable and verifiable exactly as a fused node is.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.evaluate import run_node
from ir.ops.call import inline
from ir.ops.registry import Attr, define_op

ATTRS = {
    "body": Attr(object),
    "name": Attr(str, "Function", "the user's Function class, for printing and grad_fn names"),
    "outputs": Attr(int, 1, "how many body outputs the node returns"),
    "forward_nodes": Attr(int, 0, "how many leading body nodes compute those outputs"),
    "grads": Attr(tuple, (), "per input: does the backward give it a gradient"),
}


def _custom_type(*types, body, name, outputs, forward_nodes, grads):
    from ir.graph import Graph

    if not isinstance(body, Graph):
        raise ShapeError(f"the body of a custom node must be a Graph, got {type(body).__name__}")
    expected = [v.type for v in body.inputs[: len(body.inputs) - outputs]]
    if list(types) != expected or len(grads) != len(types):
        raise ShapeError(f"operands {list(map(str, types))} differ from the inputs of "
                         f"{name}'s body {list(map(str, expected))}")
    if len(body.outputs) != outputs + sum(grads):
        raise ShapeError(f"{name}'s body must return {outputs} output(s) and {sum(grads)} "
                         f"gradient(s), it returns {len(body.outputs)} values")
    return tuple(v.type for v in body.outputs[:outputs])


def _custom_impl(xp, *arrays, body, name, outputs, forward_nodes, grads):
    env = dict(zip(body.inputs, arrays))
    for value in body.constants:
        env[value] = xp.asarray(value.data)
    for node in body.nodes[:forward_nodes]:
        env.update(zip(node.outputs, run_node(xp, node, [env[v] for v in node.inputs])))
    # A forward may return an input or a constant (or a view of one); the node's results must be
    # arrays of their own, since the memory planner reuses an input's buffer once it is dead.
    given = [*arrays, *(env[v] for v in body.constants)]
    return tuple(
        env[v].copy() if any(xp.may_share_memory(env[v], a) for a in given) else env[v]
        for v in body.outputs[:outputs]
    )


def _custom_vjp(b, g, out, *inputs, body, name, outputs, forward_nodes, grads):
    seeds = g if isinstance(g, tuple) else (g,)
    results = iter(inline(b, body, [*inputs, *seeds])[outputs:])
    return tuple(next(results) if has else None for has in grads)


define_op(
    "custom",
    arity=None,
    attrs=ATTRS,
    shape=_custom_type,
    impl=_custom_impl,
    vjp=_custom_vjp,
    doc="A user's autograd.Function: its forward, and its backward as the gradient rule.",
)
