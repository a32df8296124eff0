"""The op registry: each op is one `OpDef` holding every rule that defines it.

An op is declared once with `define_op(...)`: its attribute schema, its shape/dtype rule, its reference
kernel written against an array module `xp` (numpy or cupy), and its gradient rule, which emits IR
through a `Builder`. Registration fails when a rule is missing, so no op can exist half-defined.
Passes read `traits` (data), never lists of op names.
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
COMMUTATIVE = "commutative"
REDUCTION = "reduction"
SHAPE = "shape"  # moves data without computing on it (reshape, permute, slice, ...)
CREATION = "creation"  # makes a value from attributes alone
RANDOM = "random"  # depends on an explicit random key input: never folded or CSE'd across keys
NONDIFFERENTIABLE = "nondifferentiable"  # no gradient flows through it (comparisons, argmax, ...)
TRAITS = frozenset(
    {ELEMENTWISE, UNARY, BINARY, COMMUTATIVE, REDUCTION, SHAPE, CREATION, RANDOM, NONDIFFERENTIABLE}
)


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
    """

    name: str
    shape: Callable
    impl: Callable
    vjp: Callable
    attrs: dict[str, Attr] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    arity: int | None = 1
    doc: str = ""

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


def define_op(name, *, shape, impl, vjp, attrs=None, traits=(), arity=1, doc="") -> OpDef:
    """Declare and register an op. Every rule is required; use `no_grad` for non-differentiable ops."""
    if name in OPS:
        raise ValueError(f"op '{name}' is defined twice")
    for rule_name, rule in (("shape", shape), ("impl", impl), ("vjp", vjp)):
        if not callable(rule):
            raise TypeError(f"op '{name}' is missing its {rule_name} rule")
    unknown = set(traits) - TRAITS
    if unknown:
        raise ValueError(f"op '{name}' has unknown traits {sorted(unknown)}")
    traits = frozenset(traits) | ({NONDIFFERENTIABLE} if vjp is no_grad else frozenset())
    op = OpDef(name, shape, impl, vjp, dict(attrs or {}), traits, arity, doc)
    OPS[name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise ShapeError(f"unknown op '{name}'") from None
