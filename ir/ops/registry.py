"""The op registry: each op is one `OpDef` holding every rule that defines it.

An op is declared once with `define_op(...)`: its attribute schema, its shape/dtype rule, its reference
kernel written against an array module `xp` (numpy or cupy), its gradient rule, which emits IR through
a `Builder`, and the facts the optimizer reads: how it fuses, whether its result views an input,
whether it can write into a given buffer or run in place, and its algebra. Registration fails when a
rule is missing, so no op can exist half-defined. Passes read these facts (data), never lists of
op names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ir.errors import ShapeError

REQUIRED = object()  # marks an attribute without a default

# Traits passes read.
ELEMENTWISE = "elementwise"  # output[i] depends on input[i] only (after broadcasting)
UNARY = "unary"
BINARY = "binary"
COMMUTATIVE = "commutative"  # f(x, y) == f(y, x), bit for bit
ASSOCIATIVE = "associative"  # f(f(x, y), z) == f(x, f(y, z)) exactly (max, min; not float add)
IDEMPOTENT = "idempotent"  # unary: f(f(x)) == f(x); binary: f(x, x) == x
INVOLUTION = "involution"  # f(f(x)) == x (neg, logical_not)
REDUCTION = "reduction"
SHAPE = "shape"  # moves data without computing on it (reshape, permute, slice, concat, ...)
CREATION = "creation"  # makes a value from attributes alone
RANDOM = "random"  # depends on an explicit random key input: never folded or CSE'd across keys
NONDIFFERENTIABLE = "nondifferentiable"  # no gradient flows through it (comparisons, argmax, ...)
# Communicates with the other processes (all_reduce): every process must run it, in the same order;
# never folded, merged with another or evaluated at compile time.
COLLECTIVE = "collective"
TRAITS = frozenset({ELEMENTWISE, UNARY, BINARY, COMMUTATIVE, ASSOCIATIVE, IDEMPOTENT, INVOLUTION,
                    REDUCTION, SHAPE, CREATION, RANDOM, NONDIFFERENTIABLE, COLLECTIVE})

# Fusion classes, after TVM's OpPatternKind: what the fusion pass may group an op with.
FUSE_ELEMENTWISE = "elementwise"  # out[i] from in[i], operands broadcasting
FUSE_BROADCAST = "broadcast"  # out[i] from in[f(i)] for a broadcast f
FUSE_INJECTIVE = "injective"  # each output element is one input element (reshape, slice, gather)
FUSE_REDUCTION = "reduction"  # elementwise producers and consumers fuse around it
FUSE_OUT = "out_fusable"  # matmul, conv: elementwise epilogues fuse into its output
FUSE_OPAQUE = "opaque"  # fuses with nothing
FUSION_KINDS = (FUSE_ELEMENTWISE, FUSE_BROADCAST, FUSE_INJECTIVE, FUSE_REDUCTION, FUSE_OUT,
                FUSE_OPAQUE)


def no_grad(b, g, out, *inputs, **attrs):
    """Gradient rule of a non-differentiable op: no gradient reaches any input."""
    return (None,) * len(inputs)


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: the Python types it accepts and its default (REQUIRED if none)."""

    types: type | tuple[type, ...]
    default: Any = REQUIRED
    doc: str = ""


@dataclass(frozen=True)
class OpDef:
    """Everything that defines one op.

    shape(*input_types, **attrs) -> TensorType | tuple[TensorType, ...]; raises ShapeError.
    impl(xp, *arrays, **attrs) -> array | tuple[array, ...]; the reference kernel.
    vjp(b, g, out, *inputs, **attrs) -> tuple[Value | None, ...], one entry per input: emits the
        gradient with Builder `b` from the output gradient `g` (a tuple for multi-output ops), the
        output value(s) `out` and the input values.
    arity: number of inputs, or None for variadic ops.

    Facts for the optimizer and the planned runtime:
    fusion: one of FUSION_KINDS.
    view: index of the input whose memory the result(s) may view (reshape, permute, slice), or
        None when the result is always a fresh array.
    write(xp, out, *arrays, **attrs): computes the op into the given array `out` (a tuple of
        arrays for multi-output ops) instead of allocating; None when the op has no such kernel.
    inplace: inputs that `write` may be given as its `out` (the result overwrites that input).
    identity: {input index: value} where `op(..., value at that index, ...)` is the other operand,
        bit for bit (x * 1, x - 0.0, x + -0.0; max(x, -inf)).
    absorbing: {input index: value} that fixes the result whatever the other operand is, for
        integer and bool operands only (x * 0 is not 0 for x = inf or nan).
    c_expr: for elementwise ops, the C expression of one element (`{0}`, `{1}` the operands),
        from which fused GPU kernels are generated.
    scratch(*input_types, **attrs) -> tuple[TensorType, ...]: temporaries `write` can use; the
        memory planner provides them (as `scratch=` arrays) so the kernel allocates nothing.
        `write` must also work without them (scratch=None).
    layout_operands: for ops with a `layout` attribute (NCHW or CHWN), the operands stored in
        that layout, -1 standing for the result: what the layout pass permutes.
    """

    name: str
    shape: Callable
    impl: Callable
    vjp: Callable
    attrs: dict[str, Attr] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    arity: int | None = 1
    doc: str = ""
    fusion: str = FUSE_OPAQUE
    view: int | None = None
    write: Callable | None = None
    inplace: tuple[int, ...] = ()
    identity: dict = field(default_factory=dict)
    absorbing: dict = field(default_factory=dict)
    c_expr: str | None = None
    scratch: Callable | None = None
    layout_operands: tuple[int, ...] = ()

    def has(self, trait: str) -> bool:
        return trait in self.traits

    def check_attrs(self, attrs: dict) -> dict:
        """Return attrs with defaults filled in; raise ShapeError on unknown, missing or mistyped."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise ShapeError(f"unknown attribute(s) {sorted(unknown)} for op '{self.name}'")
        full = {}
        for key, spec in self.attrs.items():
            if key in attrs:
                value = attrs[key]
            elif spec.default is REQUIRED:
                raise ShapeError(f"op '{self.name}' needs attribute '{key}'")
            else:
                value = spec.default
            if value is not None and not isinstance(value, spec.types):
                raise ShapeError(
                    f"attribute '{key}' of op '{self.name}' must be {_type_names(spec.types)}, "
                    f"got {type(value).__name__} {value!r}"
                )
            try:
                hash(value)
            except TypeError:
                raise ShapeError(f"attribute '{key}' of op '{self.name}' is not hashable: {value!r}")
            full[key] = value
        return full

    def infer(self, input_types, attrs) -> tuple:
        """Output types as a tuple (ops with one output give a 1-tuple)."""
        if self.arity is not None and len(input_types) != self.arity:
            raise ShapeError(f"op '{self.name}' takes {self.arity} input(s), got {len(input_types)}")
        out = self.shape(*input_types, **attrs)
        return out if isinstance(out, tuple) else (out,)


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


OPS: dict[str, OpDef] = {}


def define_op(name, *, shape, impl, vjp, attrs=None, traits=(), arity=1, doc="", fusion=None,
              view=None, write=None, inplace=(), identity=None, absorbing=None,
              c_expr=None, scratch=None, layout_operands=()) -> OpDef:
    """Declare and register an op. Every rule is required; use `no_grad` for non-differentiable ops.

    `fusion` defaults from the traits: elementwise ops fuse as elementwise, reductions as
    reductions, shape ops as injective, anything else is opaque.
    """
    if name in OPS:
        raise ValueError(f"op '{name}' is defined twice")
    for rule_name, rule in (("shape", shape), ("impl", impl), ("vjp", vjp)):
        if not callable(rule):
            raise TypeError(f"op '{name}' is missing its {rule_name} rule")
    unknown = set(traits) - TRAITS
    if unknown:
        raise ValueError(f"op '{name}' has unknown traits {sorted(unknown)}")
    traits = frozenset(traits) | ({NONDIFFERENTIABLE} if vjp is no_grad else frozenset())
    fusion = fusion or _default_fusion(traits)
    if fusion not in FUSION_KINDS:
        raise ValueError(f"op '{name}' has unknown fusion kind {fusion!r}")
    if ELEMENTWISE in traits and c_expr is None:
        raise TypeError(f"elementwise op '{name}' is missing its scalar expression (c_expr)")
    if (inplace or scratch) and write is None:
        raise TypeError(f"op '{name}' lists in-place inputs or scratch but has no write kernel")
    op = OpDef(name, shape, impl, vjp, dict(attrs or {}), traits, arity, doc, fusion, view, write,
               tuple(inplace), dict(identity or {}), dict(absorbing or {}), c_expr, scratch,
               tuple(layout_operands))
    OPS[name] = op
    return op


def _default_fusion(traits) -> str:
    if ELEMENTWISE in traits:
        return FUSE_ELEMENTWISE
    if REDUCTION in traits:
        return FUSE_REDUCTION
    if SHAPE in traits:
        return FUSE_INJECTIVE
    return FUSE_OPAQUE


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise ShapeError(f"unknown op '{name}'") from None
