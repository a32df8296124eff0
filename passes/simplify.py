"""`simplify`: algebraic identities as a rule table, driven to a fixed point by `passes.rewrite`.

Every rule keeps values bit for bit, NaN, inf and the sign of zero included: `x + 0.0` stays (it
turns -0.0 into 0.0), `x * 0` folds only for integers (inf * 0 is NaN). Generic rules read the ops'
facts (identity and absorbing elements, involution, idempotence, elementwise); the rest are about
data movement (permute, reshape, broadcast, slice, cast). Meant for graphs that run: it drops
`stop_gradient`, so differentiate first, then optimize.
"""

from __future__ import annotations

import numpy as np

from ir.graph import Graph, Node
from ir.ops.registry import ELEMENTWISE, IDEMPOTENT, INVOLUTION, UNARY
from passes.rewrite import Context, constant_data, is_constant_fill, producer, rewrite


def simplify(graph: Graph) -> Graph:
    """`graph` with the algebraic identities of RULES applied until none applies."""
    return rewrite(graph, RULES)


# -- rules read from the ops' facts -----------------------------------------------------------------
def identity_operand(node: Node, ctx: Context):
    """x * 1, x / 1, x - 0.0, x + -0.0, x ** 1, max(x, -inf) -> x (never changing the type)."""
    for k, element in node.opdef.identity.items():
        other = node.inputs[1 - k]
        if other.type != node.out.type:
            continue
        if not np.isfinite(element) and other.type.np_dtype.kind != "f":
            continue
        if is_constant_fill(node.inputs[k], element):
            return other
    return None


def absorbing_operand(node: Node, ctx: Context):
    """x * 0 -> 0 for integer and bool operands (for floats, inf * 0 is NaN: never folded)."""
    out = node.outputs[0] if node.outputs else None
    if out is None or out.type.np_dtype.kind == "f":
        return None
    for k, element in node.opdef.absorbing.items():
        if is_constant_fill(node.inputs[k], element):
            return ctx.b.full(shape=out.shape, dtype=out.dtype, value=element)
    return None


def repeated_application(node: Node, ctx: Context):
    """neg(neg(x)) -> x (involutions); abs(abs(x)) -> abs(x) (idempotent unary ops)."""
    opdef = node.opdef
    if not opdef.has(UNARY) or node.attrs:
        return None
    inner = producer(node.inputs[0], node.op)
    if inner is None or inner.attrs:
        return None
    if opdef.has(INVOLUTION) and inner.inputs[0].type == node.out.type:
        return inner.inputs[0]
    if opdef.has(IDEMPOTENT):
        return node.inputs[0]
    return None


def same_operands(node: Node, ctx: Context):
    """max(x, x) -> x for idempotent binary ops; where(c, x, x) -> x."""
    if node.op == "where":
        _, x, y = node.inputs
        return x if x is y and x.type == node.out.type else None
    if node.opdef.has(IDEMPOTENT) and len(node.inputs) == 2:
        x, y = node.inputs
        return x if x is y and x.type == node.out.type else None
    return None


def broadcast_operand(node: Node, ctx: Context):
    """An elementwise op reads broadcast_to(y) or full(...) as y or a scalar: it broadcasts itself."""
    if not node.opdef.has(ELEMENTWISE):
        return None
    for k, value in enumerate(node.inputs):
        source = producer(value)
        if source is None:
            continue
        if source.op == "broadcast_to":
            smaller = source.inputs[0]
        elif source.op == "full" and source.out.type.size > 1:
            smaller = ctx.graph.add_constant(np.asarray(source.attrs["value"], value.dtype))
        else:
            continue
        inputs = [*node.inputs[:k], smaller, *node.inputs[k + 1 :]]
        if node.opdef.infer([v.type for v in inputs], node.attrs) == (node.out.type,):
            return ctx.b.emit(node.op, *inputs, **node.attrs)
    return None


# -- data movement -----------------------------------------------------------------------------------
def trivial_movement(node: Node, ctx: Context):
    """Movement that does nothing: reshape/broadcast_to to the same shape, identity permute,
    a slice of everything, cast to the same dtype, concat of one operand, stop_gradient."""
    x = node.inputs[0] if node.inputs else None
    if x is None or len(node.outputs) != 1 or x.type != node.out.type:
        return None
    attrs = node.attrs
    if node.op in ("reshape", "broadcast_to", "cast", "stop_gradient"):
        return x
    if node.op == "permute" and attrs["perm"] == tuple(range(x.type.ndim)):
        return x
    if node.op == "slice" and all(s == 1 for s in attrs["steps"]) and all(
        a == 0 for a in attrs["starts"]
    ):
        return x
    if node.op == "concat" and len(node.inputs) == 1:
        return x
    return None


def permute_of_permute(node: Node, ctx: Context):
    """permute(permute(x, p1), p2) -> permute(x, p1 o p2), or x when that is the identity."""
    if node.op != "permute":
        return None
    inner = producer(node.inputs[0], "permute")
    if inner is None:
        return None
    first, second = inner.attrs["perm"], node.attrs["perm"]
    perm = tuple(first[i] for i in second)
    x = inner.inputs[0]
    return x if perm == tuple(range(len(perm))) else ctx.b.permute(x, perm=perm)


def reshape_of_reshape(node: Node, ctx: Context):
    """reshape(reshape(x)) -> reshape(x); reshape(sum(x, keepdims=True)) dropping exactly the
    reduced axes -> sum(x, keepdims=False)."""
    if node.op != "reshape":
        return None
    inner = producer(node.inputs[0])
    if inner is None:
        return None
    if inner.op == "reshape":
        return ctx.b.reshape(inner.inputs[0], shape=node.out.shape)
    if inner.op == "sum" and inner.attrs["keepdims"] and ctx.sole_reader(node.inputs[0]):
        attrs = {**inner.attrs, "keepdims": False}
        if inner.opdef.infer([inner.inputs[0].type], attrs) == (node.out.type,):
            return ctx.b.sum(inner.inputs[0], **attrs)
    return None


def constant_condition(node: Node, ctx: Context):
    """where(all-true, x, y) -> x and where(all-false, x, y) -> y, when the type stays."""
    if node.op != "where":
        return None
    cond, x, y = node.inputs
    data = constant_data(cond)
    if data is None or data.size == 0:
        return None
    if bool(data.all()) and x.type == node.out.type:
        return x
    if not data.any() and y.type == node.out.type:
        return y
    return None


RULES = (
    identity_operand,
    absorbing_operand,
    repeated_application,
    same_operands,
    trivial_movement,
    permute_of_permute,
    reshape_of_reshape,
    constant_condition,
    broadcast_operand,
)
