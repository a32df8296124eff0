"""Matrix multiplication: `matmul` (batched, broadcasting, with BLAS-style transpose flags) and
`gemm`, BLAS's `alpha * op(a) @ op(b) + beta * c`, which optimizer updates and bias adds fold into.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.elementwise import broadcast_shapes
from ir.ops.registry import FUSE_OUT, Attr, define_op
from ir.types import TensorType, is_float

FLAGS = {"trans_a": Attr(bool, False), "trans_b": Attr(bool, False)}


def transposed(t: TensorType) -> tuple[int, ...]:
    """The shape of `t` with its last two axes swapped."""
    return (*t.shape[:-2], t.shape[-1], t.shape[-2])


def _matmul_type(a: TensorType, b: TensorType, *, trans_a=False, trans_b=False) -> TensorType:
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError("both operands need at least 2 dimensions (reshape vectors to matrices)")
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ ({a.dtype} vs {b.dtype}); insert a cast")
    if a.dtype == "bool":
        raise ShapeError("cannot multiply bool matrices; cast them first")
    sa = transposed(a) if trans_a else a.shape
    sb = transposed(b) if trans_b else b.shape
    if sa[-1] != sb[-2]:
        raise ShapeError(f"inner dimensions differ: {sa[-1]} vs {sb[-2]}")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    return TensorType((*batch, sa[-2], sb[-1]), a.dtype)


def swap_last(xp, x):
    return xp.swapaxes(x, -1, -2)


def _operands(xp, a, b, trans_a, trans_b):
    return (swap_last(xp, a) if trans_a else a), (swap_last(xp, b) if trans_b else b)


def product_grads(b, g, x, y, trans_a, trans_b):
    """Gradients of op(x) @ op(y) for output gradient g, each in its operand's own layout."""
    if trans_a:  # x holds op(x)^T: its gradient is op(y) @ g^T
        gx = b.matmul(y, g, trans_a=trans_b, trans_b=True)
    else:
        gx = b.matmul(g, y, trans_b=not trans_b)
    if trans_b:  # y holds op(y)^T: its gradient is g^T @ op(x)
        gy = b.matmul(g, x, trans_a=True, trans_b=trans_a)
    else:
        gy = b.matmul(x, g, trans_a=not trans_a)
    return b.unbroadcast(gx, x), b.unbroadcast(gy, y)


def _matmul_impl(xp, x, y, *, trans_a, trans_b):
    if x.dtype == "float16":  # NumPy has no half GEMM: multiply in float32, round once
        product = xp.matmul(*_operands(xp, x.astype("float32"), y.astype("float32"), trans_a,
                                       trans_b))
        return product.astype("float16")
    return xp.matmul(*_operands(xp, x, y, trans_a, trans_b))


def _matmul_write(xp, out, x, y, *, trans_a, trans_b):
    if x.dtype == "float16":
        out[...] = _matmul_impl(xp, x, y, trans_a=trans_a, trans_b=trans_b)
    else:
        xp.matmul(*_operands(xp, x, y, trans_a, trans_b), out=out)


define_op(
    "matmul",
    arity=2,
    attrs=FLAGS,
    fusion=FUSE_OUT,
    shape=_matmul_type,
    impl=_matmul_impl,
    write=_matmul_write,
    vjp=lambda b, g, out, x, y, *, trans_a, trans_b: product_grads(b, g, x, y, trans_a, trans_b),
    doc="op(x) @ op(y), where op transposes the last two axes when its flag is set.",
)


# -- gemm ------------------------------------------------------------------------------------------
def _gemm_type(a, b, c, alpha, beta, *, trans_a, trans_b) -> TensorType:
    out = _matmul_type(a, b, trans_a=trans_a, trans_b=trans_b)
    if not is_float(out.dtype):
        raise ShapeError(f"gemm needs floating-point operands, got {out.dtype}")
    for name, t in (("c", c), ("alpha", alpha), ("beta", beta)):
        if t.dtype != out.dtype:
            raise ShapeError(f"{name} must be {out.dtype}, got {t.dtype}")
    if alpha.shape != () or beta.shape != ():
        raise ShapeError(f"alpha and beta must be scalars, got {alpha} and {beta}")
    if broadcast_shapes(c.shape, out.shape) != out.shape:
        raise ShapeError(f"c {c} does not broadcast to the product {out}")
    return out


def _gemm_impl(xp, a, b, c, alpha, beta, *, trans_a, trans_b):
    # IEEE semantics throughout: 0 * NaN is NaN, whatever BLAS would skip for alpha or beta 0.
    return alpha * xp.matmul(*_operands(xp, a, b, trans_a, trans_b)) + beta * c


def _gemm_write(xp, out, a, b, c, alpha, beta, *, trans_a, trans_b):
    out[...] = _gemm_impl(xp, a, b, c, alpha, beta, trans_a=trans_a, trans_b=trans_b)


def _gemm_vjp(b, g, out, x, y, c, alpha, beta, *, trans_a, trans_b):
    scaled = b.mul(g, alpha)
    gx, gy = product_grads(b, scaled, x, y, trans_a, trans_b)
    product = b.matmul(x, y, trans_a=trans_a, trans_b=trans_b)
    galpha = b.sum(b.mul(g, product), axes=None, keepdims=False)
    gbeta = b.sum(b.mul(g, c), axes=None, keepdims=False)
    return gx, gy, b.unbroadcast(b.mul(g, beta), c), galpha, gbeta


define_op(
    "gemm",
    arity=5,
    attrs=FLAGS,
    fusion=FUSE_OUT,
    shape=_gemm_type,
    impl=_gemm_impl,
    write=_gemm_write,
    inplace=(2,),
    vjp=_gemm_vjp,
    doc="alpha * op(a) @ op(b) + beta * c (BLAS gemm), alpha and beta 0-d.",
)
