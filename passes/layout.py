"""`assign_layouts`: GEMMs read transposed operands through their transpose flags (as BLAS does)
instead of a transposed copy, and produce each result in the layout its readers want.

`matmul(permute(a), b)` becomes `matmul(a, b, trans_a=True)`, and `permute(matmul(a, b))` becomes
`matmul(b, a)` with the flags swapped, (AB)^T = B^T A^T: a weight gradient then comes out in its
weight's layout, so the optimizer update runs on contiguous arrays.
"""

from __future__ import annotations

from ir.graph import Graph, Node
from passes.rewrite import Context, producer, rewrite

PRODUCTS = ("matmul", "gemm")


def assign_layouts(graph: Graph) -> Graph:
    """`graph` with transposes folded into GEMM flags."""
    return rewrite(graph, (transposed_operand, transposed_product))


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
