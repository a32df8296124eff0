"""`fold_gemm_epilogues`: elementwise affine epilogues of a matrix product go into one BLAS gemm.

BLAS computes `alpha * op(A) @ op(B) + beta * C` in one call, and writes it over C in place. So any
tree of elementwise ops that is affine in one product P with 0-d coefficients,

    x @ W^T + bias              -> gemm(x, W, bias, 1, 1)
    W - lr * (g^T @ h)          -> gemm(g, h, W, -lr, 1)       (SGD, in place on W)
    m * buf + a * (g^T @ h)     -> gemm(g, h, buf, a, m)       (the SGD momentum buffer)

becomes one `gemm` node; the 0-d coefficient arithmetic stays as tiny scalar nodes. A product is
folded only when every reader of it is inside the folded tree, so no product is ever computed twice.
Only 2-D products fold (batched ones stay `matmul`). Rounding differs from the unfused ops as a
reassociation does (one rounding of alpha * AB + beta * C instead of several).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ir.builder import Builder
from ir.graph import Graph, Node, Value
from passes.rewrite import Context, producer, rewrite

AFFINE_OPS = ("add", "sub", "neg", "mul")


def fold_gemm_epilogues(graph: Graph) -> Graph:
    """`graph` with every affine epilogue of a 2-D product folded into a `gemm`."""
    return rewrite(graph, (affine_epilogue,))


@dataclass
class Affine:
    """alpha * op(a) @ op(b) + beta * c, with alpha/beta 0-d Values (None: alpha 1, beta 1 with a c
    and 0 without) and `used` counting how often each value is read inside the matched tree."""

    product: Node
    alpha: Value | None = None
    c: Value | None = None
    beta: Value | None = None
    used: dict | None = None


def affine_epilogue(node: Node, ctx: Context):
    if node.op not in AFFINE_OPS:
        return None
    matcher = _Matcher(ctx, node.out)
    form = matcher.match(node.out, root=True)
    if form is None or not matcher.consumes_product(form):
        return None
    return matcher.emit(form)


class _Matcher:
    def __init__(self, ctx: Context, root: Value):
        self.ctx, self.b, self.root = ctx, ctx.b, root
        self.shape_type = root.type
        self.emitted: list = []  # coefficient builders, run only once the match succeeds

    # -- matching ------------------------------------------------------------------------------
    def match(self, value: Value, root=False) -> Affine | None:
        """`value` as an affine form of one product, or None."""
        node = producer(value)
        if node is None or value.type != self.shape_type:
            return None
        # A product may be read several times inside the tree (consumes_product counts them);
        # any other value of the tree must be read by the tree alone.
        if node.op == "matmul" and value.type.ndim == 2:
            return Affine(node, used={value: 1})
        if node.op == "gemm" and value.type.ndim == 2:
            _, _, c, alpha, beta = node.inputs
            if _zero_term(c, beta):  # 0 * 0: no c yet
                return Affine(node, alpha, used={value: 1})
            return Affine(node, alpha, c, beta, used={value: 1})
        if not root and not self.ctx.sole_reader(value):
            return None
        if node.op == "neg":  # negation is exact: it distributes over the sum
            form = self.match(node.inputs[0])
            return form and self._scaled(form, ("neg", None), value)
        if node.op == "mul":
            # One scaling of a bare product only: s1 * (s2 * P) or s * (P + c) would reassociate
            # and could overflow where the unfused ops did not.
            for x, s in (node.inputs, node.inputs[::-1]):
                if s.type.shape == () and x.type == self.shape_type:
                    form = self.match(x)
                    if form is not None and form.alpha is None and form.c is None:
                        return self._scaled(form, ("mul", s), value)
            return None
        if node.op in ("add", "sub"):
            return self._sum(node, value)
        return None

    def _scaled(self, form: Affine, how, value: Value) -> Affine:
        op, s = how
        scaled = self._times(form, (lambda v: self._neg(v)) if op == "neg" else
                             (lambda v: self._mul(s, v)))
        scaled.used = self._count(form.used, value)
        return scaled

    @staticmethod
    def _times(form: Affine, scale) -> Affine:
        """`form` with both coefficients mapped through `scale` (used counts unchanged)."""
        beta = scale(form.beta or "one") if form.c is not None else None
        return Affine(form.product, scale(form.alpha or "one"), form.c, beta, form.used)

    def _sum(self, node: Node, value: Value) -> Affine | None:
        """alpha * P + c: one operand is a form without c, the other becomes its c. (Two terms
        in the same product, P - 0.5 * P, are not folded: with P = inf that is NaN, not inf.)"""
        x, y = node.inputs
        fx, fy = self.match(x), self.match(y)
        sign = "neg" if node.op == "sub" else None
        if fx is not None and fy is not None:
            return None
        if fx is not None and fx.c is None:
            c, beta = self._term(y)
            beta = self._neg(beta or "one") if sign else beta
            return Affine(fx.product, fx.alpha, c, beta, self._count(fx.used, value))
        if fy is not None and fy.c is None:
            c, beta = self._term(x)
            if sign:  # x - alpha * P: negate the product's coefficient
                return Affine(fy.product, self._neg(fy.alpha or "one"), c, beta,
                              self._count(fy.used, value))
            return Affine(fy.product, fy.alpha, c, beta, self._count(fy.used, value))
        return None

    def _term(self, value: Value):
        """(c, beta) for an addend that is not a product: z * s with 0-d s, or value * 1."""
        node = producer(value)
        if node is not None and node.op == "mul" and self.ctx.sole_reader(value):
            for z, s in (node.inputs, node.inputs[::-1]):
                if s.type.shape == () and z.type.shape != () and z.type == value.type:
                    return z, s
        return value, None

    @staticmethod
    def _count(used: dict, value: Value) -> dict:
        return {**used, value: used.get(value, 0) + 1}

    def consumes_product(self, form: Affine) -> bool:
        """Every reader of the product (or of the folded gemm) is inside the matched tree."""
        product = form.product.out
        return form.used.get(product, 0) == self.ctx.readers(product) and len(form.used) > 1

    # -- coefficients: symbolic until emitted --------------------------------------------------
    def _neg(self, v):
        return ("neg", v)

    def _mul(self, s, v):
        return ("mul", s, v)

    def emit(self, form: Affine) -> Value:
        dtype = self.shape_type.dtype
        scalars = _ScalarEmitter(self.b, dtype)
        a, b = form.product.inputs[:2]
        c = form.c if form.c is not None else self.b.const(0.0, dtype)
        alpha = scalars.value(form.alpha or "one")
        beta = scalars.value(form.beta or ("one" if form.c is not None else "zero"))
        flags = {f: form.product.attrs[f] for f in ("trans_a", "trans_b")}
        return self.b.gemm(a, b, c, alpha, beta, **flags)


def _zero_term(c: Value, beta: Value) -> bool:
    """Whether beta * c is a constant 0 * finite constant: nothing to add."""
    if beta.kind != "const" or c.kind != "const":
        return False
    return bool(np.all(beta.data == 0) and np.all(np.isfinite(c.data)))


class _ScalarEmitter:
    """Emits a symbolic 0-d coefficient, folding the arithmetic of constants 0 and 1 on the way."""

    def __init__(self, b: Builder, dtype: str):
        self.b, self.dtype = b, dtype

    def value(self, expr) -> Value:
        result = self._emit(expr)
        return self.b.const(result, self.dtype) if isinstance(result, float) else result

    def _emit(self, expr):
        if expr == "one":
            return 1.0
        if expr == "zero":
            return 0.0
        if isinstance(expr, Value):
            return expr
        op, *args = expr
        if op == "neg":
            (v,) = (self._emit(a) for a in args)
            return -v if isinstance(v, float) else self.b.neg(v)
        if op == "mul":
            s, v = (self._emit(a) for a in args)
            if isinstance(v, float) and isinstance(s, float):
                return s * v
            if v == 1.0:
                return s
            if s == 1.0:
                return v
            return self.b.mul(self._value(s), self._value(v))
        raise ValueError(f"unknown coefficient expression {expr!r}")

    def _value(self, v) -> Value:
        return self.b.const(np.asarray(v, self.dtype), self.dtype) if isinstance(v, float) else v
