"""`Builder`: emit nodes into a graph with shared metadata; what gradient rules write with."""

from __future__ import annotations

import contextlib

import numpy as np

from ir.graph import Graph, Value
from ir.ops.registry import OPS
from ir.types import TensorType


class Builder:
    """Appends nodes to `graph`, stamping each with the current `meta` (loc, scope, phase, ...).

    `b.emit("mul", x, y)` or `b.mul(x, y)` returns the output Value (a tuple for multi-output ops).
    """

    def __init__(self, graph: Graph, **meta):
        self.graph = graph
        self._meta = dict(meta)

    @contextlib.contextmanager
    def meta(self, **meta):
        """Within the block, emitted nodes carry `meta` on top of the builder's."""
        saved = self._meta
        self._meta = {**saved, **meta}
        try:
            yield self
        finally:
            self._meta = saved

    def emit(self, op: str, *inputs: Value, **attrs):
        node = self.graph.add_node(op, inputs, attrs, self._meta)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def __getattr__(self, name: str):
        if name in OPS:
            return lambda *inputs, **attrs: self.emit(name, *inputs, **attrs)
        raise AttributeError(f"Builder has no attribute or op '{name}'")

    # -- helpers gradient rules share ---------------------------------------------------------------
    def const(self, value, dtype: str) -> Value:
        """A constant of `dtype` (a scalar broadcasts against anything)."""
        return self.graph.add_constant(np.asarray(value, dtype=dtype))

    def scalar_like(self, value, like: Value) -> Value:
        """A 0-d constant with the dtype of `like`."""
        return self.const(value, like.dtype)

    def zeros(self, type: TensorType) -> Value:
        return self.emit("full", shape=type.shape, dtype=type.dtype, value=0.0)

    def unbroadcast(self, grad: Value, target: Value | TensorType) -> Value:
        """Sum `grad` over the axes broadcasting added, so it has the shape of `target`."""
        shape = target.shape
        if grad.shape == tuple(shape):
            return grad
        lead = grad.type.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(shape) if d == 1 and grad.shape[lead + i] != 1
        )
        reduced = self.emit("sum", grad, axes=axes, keepdims=True) if axes else grad
        return self.emit("reshape", reduced, shape=tuple(shape)) if reduced.shape != tuple(shape) else reduced
