"""Gradient clipping as `torch.nn.utils`: on the `.grad` of parameters after `backward()`, in
place (eager training loops; a compiled step's gradients never leave its graph)."""

from __future__ import annotations

import math

import graphc


def _grads(parameters) -> list:
    if isinstance(parameters, graphc.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None):
    """Scale the gradients so that their joint `norm_type` norm is at most `max_norm` (by
    max_norm / (norm + 1e-6) where that is below 1); returns the norm before clipping."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return graphc.tensor(0.0)
    norms = [graphc.linalg.vector_norm(g, norm_type) for g in grads]
    total = (graphc.stack(norms).max() if math.isinf(norm_type)
             else graphc.linalg.vector_norm(graphc.stack(norms), norm_type))
    if error_if_nonfinite and not bool(graphc.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    scale = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
    with graphc.no_grad():
        for g in grads:
            g.mul_(scale.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with graphc.no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
