"""Small IR helpers the update rules share: scalar math in float64, then one cast to the param dtype.

Hyper-parameters arrive as 0-d float64 inputs; PyTorch computes its scalar factors (bias
corrections, `1 - beta`, ...) in Python floats, i.e. float64, so the rules do the same and cast the
result once to the parameter's dtype before it meets a tensor.
"""

from __future__ import annotations

from ir.graph import Value


def f64(b, value: float) -> Value:
    """A 0-d float64 constant."""
    return b.const(value, "float64")


def one_minus(b, h: Value) -> Value:
    """1 - h, in float64."""
    return b.sub(f64(b, 1.0), h)


def like(b, scalar: Value, tensor: Value) -> Value:
    """`scalar` (0-d float64) cast to the dtype of `tensor`."""
    return scalar if scalar.dtype == tensor.dtype else b.cast(scalar, dtype=tensor.dtype)


def scale(b, tensor: Value, scalar: Value) -> Value:
    """tensor * scalar, the scalar cast to the tensor's dtype."""
    return b.mul(tensor, like(b, scalar, tensor))


def lerp(b, start: Value, end: Value, weight: Value) -> Value:
    """PyTorch's `start.lerp_(end, weight)` for weight < 0.5: start + weight * (end - start)."""
    return b.add(start, scale(b, b.sub(end, start), weight))


def decayed_grad(b, slot, hyper: dict, group: dict) -> Value:
    """The gradient after `maximize` (negation) and L2 `weight_decay` (grad + wd * param)."""
    grad = b.neg(slot.grad) if group.get("maximize") else slot.grad
    if group.get("weight_decay", 0) != 0:
        grad = b.add(grad, scale(b, slot.param, hyper["weight_decay"]))
    return grad


def next_step(b, step: Value) -> Value:
    """The step count plus one (in the step's own dtype, float32 as in PyTorch)."""
    return b.add(step, b.const(1.0, step.dtype))
