"""`assign_layouts`: data laid out the way the kernels read it fastest, with the transposes folded
away.

- GEMMs read transposed operands through their transpose flags (as BLAS does) instead of a
  transposed copy: `matmul(permute(a), b)` becomes `matmul(a, b, trans_a=True)`, and
  `permute(matmul(a, b))` becomes `matmul(b, a)` with the flags swapped, (AB)^T = B^T A^T, so a
  weight gradient comes out in its weight's layout and the optimizer update runs on contiguous
  arrays.
- Convolutions and pooling (ops with a `layout` attribute) run channels first, batch last (CHWN):
  their im2col columns are contiguous slabs and their products come out without a transpose.
  Each is rewritten to CHWN between permutes; the permutes then sink through elementwise ops
  (bias, activation), reductions (a bias gradient) and each other until the ones between two
  convolutions cancel, leaving permutes only where the chain meets the rest of the model.

Values stay the same up to the order of a sum's terms (a reduction over other axes, a product in
another orientation).
"""

from __future__ import annotations

from ir.graph import Graph, Node
from ir.ops.conv import TO_CHWN, TO_NCHW
from ir.ops.registry import ELEMENTWISE
from passes.rewrite import Context, producer, rewrite
from passes.simplify import permute_of_permute

PRODUCTS = ("matmul", "gemm")
SMALL = 8  # an operand this many times smaller than the result is permuted along (a bias)


def assign_layouts(graph: Graph) -> Graph:
    """`graph` with transposes folded into GEMM flags and convolutions in CHWN."""
    return rewrite(graph, RULES)


def swaps_last_two(node: Node | None) -> bool:
    """Whether `node` is a permute that swaps the last two axes and nothing else."""
    if node is None or node.op != "permute":
        return False
    perm = node.attrs["perm"]
    n = len(perm)
    return n >= 2 and perm == (*range(n - 2), n - 1, n - 2)


def transposed_operand(node: Node, ctx: Context):
    """matmul(permute(a), b) -> matmul(a, b, trans_a=True); likewise for b and for gemm."""
    if node.op not in PRODUCTS:
        return None
    inputs, attrs = list(node.inputs), dict(node.attrs)
    changed = False
    for k, flag in ((0, "trans_a"), (1, "trans_b")):
        source = producer(inputs[k])
        if swaps_last_two(source) and source.inputs[0].type.ndim == inputs[k].type.ndim:
            inputs[k], attrs[flag] = source.inputs[0], not attrs[flag]
            changed = True
    return ctx.b.emit(node.op, *inputs, **attrs) if changed else None


def transposed_product(node: Node, ctx: Context):
    """permute(matmul(a, b)) -> matmul(b, a) with swapped, negated flags: (AB)^T = B^T A^T."""
    if not swaps_last_two(node):
        return None
    product = producer(node.inputs[0], "matmul")
    if product is None or not ctx.sole_reader(node.inputs[0]):
        return None  # other readers want the untransposed product: never compute it twice
    a, b = product.inputs
    return ctx.b.matmul(b, a, trans_a=not product.attrs["trans_b"],
                        trans_b=not product.attrs["trans_a"])


def batch_last(node: Node, ctx: Context):
    """An NCHW convolution or pooling -> its CHWN form between permutes."""
    operands = node.opdef.layout_operands
    if node.attrs.get("layout") != "NCHW" or not operands or len(node.outputs) != 1:
        return None
    inputs = [ctx.b.permute(v, perm=TO_CHWN) if k in operands else v
              for k, v in enumerate(node.inputs)]
    result = ctx.b.emit(node.op, *inputs, **{**node.attrs, "layout": "CHWN"})
    return ctx.b.permute(result, perm=TO_NCHW) if -1 in operands else result


def permute_through_elementwise(node: Node, ctx: Context):
    """f(permute(x, p), y) -> permute(f(x, permute(y, p^-1)), p) for an elementwise f whose other
    operands are scalars, small (broadcast) or permuted alike: the permute moves on toward its
    inverse."""
    if not node.opdef.has(ELEMENTWISE) or len(node.outputs) != 1:
        return None
    out = node.out
    sources = [producer(v, "permute") for v in node.inputs]
    perm = next((s.attrs["perm"] for s, v in zip(sources, node.inputs)
                 if s is not None and v.type.ndim == out.type.ndim), None)
    if perm is None:
        return None
    inverse = tuple(perm.index(i) for i in range(len(perm)))
    inputs = []
    for value, source in zip(node.inputs, sources):
        if source is not None and source.attrs["perm"] == perm:
            inputs.append(source.inputs[0])
        elif value.type.ndim == 0:
            inputs.append(value)
        elif value.type.ndim == out.type.ndim and value.type.size * SMALL <= out.type.size:
            inputs.append(ctx.b.permute(value, perm=inverse))
        else:
            return None  # a full-size operand in the other layout: moving the permute costs
    result = ctx.b.emit(node.op, *inputs, **node.attrs)
    return ctx.b.permute(result, perm=perm)


def reduction_of_permute(node: Node, ctx: Context):
    """sum(permute(x, p), axes) -> sum(x, p(axes)), then permute what remains if needed."""
    if node.op != "sum":
        return None
    source = producer(node.inputs[0], "permute")
    if source is None:
        return None
    perm, ndim = source.attrs["perm"], node.inputs[0].type.ndim
    axes = range(ndim) if node.attrs["axes"] is None else \
        [a % ndim for a in node.attrs["axes"]]
    reduced = tuple(sorted(perm[a] for a in axes))
    total = ctx.b.sum(source.inputs[0], axes=reduced, keepdims=node.attrs["keepdims"])
    if node.attrs["keepdims"]:
        return ctx.b.permute(total, perm=perm)
    kept = [perm[i] for i in range(ndim) if i not in axes]
    order = tuple(sorted(kept).index(k) for k in kept)
    return total if order == tuple(range(len(order))) else ctx.b.permute(total, perm=order)


RULES = (
    transposed_operand,
    transposed_product,
    batch_last,
    permute_through_elementwise,
    reduction_of_permute,
    permute_of_permute,
)
