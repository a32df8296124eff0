"""`graphc.autograd.Function`: custom operations with a hand-written backward, as in PyTorch.

`MyFunction.apply(*args)` traces the user's `forward(ctx, *args)` and `backward(ctx, *grads)`
once per input signature into the body of one `custom` IR node (see `ir.ops.function`): eagerly
the node runs at once and autograd records it, while tracing it joins the graph; either way its
gradient rule is the user's backward. Tensors given to `ctx.save_for_backward` are the forward's
own values in that body, so nothing needs saving separately.
"""

from __future__ import annotations

from graphc import dispatch, state, tracing
from graphc import tensor_core as _tensor
from ir.graph import Graph
from ir.types import TensorType, is_float

_BODIES: dict = {}
_MAX_BODIES = 256


class FunctionCtx:
    """The `ctx` of forward and backward: saved tensors, which inputs need a gradient, and any
    attributes forward sets for backward."""

    def __init__(self, needs_input_grad: tuple):
        self.needs_input_grad = needs_input_grad
        self.to_save: tuple = ()
        self.non_differentiable: tuple = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self.to_save

    def mark_non_differentiable(self, *outputs) -> None:
        self.non_differentiable = outputs

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value  # gradients of unused outputs are always zeros here

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("mark_dirty (in-place autograd.Functions) is not supported")


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`, then call
    `MyFunction.apply(*args)`. Forward and backward are traced, so they must be written with
    tensor operations (no `.numpy()`, no Python branches on tensor values)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args):
        tensors = [a for a in args if isinstance(a, _tensor.Tensor)]
        needs = tuple(_needs_grad(a) for a in args)
        key = (cls, needs, tuple(_signature(a) for a in args))
        body = _BODIES.get(key)
        if body is None:
            if len(_BODIES) >= _MAX_BODIES:
                _BODIES.clear()
            body = _BODIES[key] = _build(cls, args, needs)
        attrs, multiple, frozen = body
        outs = dispatch.apply("custom", *tensors, **attrs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        for i in frozen:
            outs[i]._requires_grad, outs[i]._grad_fn = False, None
        return outs if multiple else outs[0]


def _needs_grad(arg) -> bool:
    if not isinstance(arg, _tensor.Tensor) or not arg.dtype.is_floating_point:
        return False
    return arg.is_traced or (state.grad_enabled and arg.requires_grad)


def _signature(arg):
    if isinstance(arg, _tensor.Tensor):
        return ("tensor", tuple(arg.shape), arg.dtype.name)
    try:
        hash(arg)
    except TypeError:
        return ("object", id(arg))
    return ("value", type(arg), arg)


def _build(cls, args, needs) -> tuple:
    """(the custom node's attributes, whether forward returned a tuple, non-differentiable
    output positions) for `cls` applied to `args`."""
    graph = Graph(cls.__name__)
    trace = tracing.Trace(graph)
    traced = [
        _tensor.Tensor._traced(graph.add_input(f"input{i}", TensorType(a.shape, a.dtype.name)),
                               trace)
        if isinstance(a, _tensor.Tensor) else a
        for i, a in enumerate(args)
    ]
    ctx = FunctionCtx(needs)
    outer, state.trace = state.trace, trace
    try:
        result = cls.forward(ctx, *traced)
        multiple = isinstance(result, tuple)
        outputs = [trace.lift(t) for t in (result if multiple else (result,))]
        forward_nodes = len(graph.nodes)
        seeds = [_tensor.Tensor._traced(graph.add_input(f"grad{i}", v.type), trace)
                 for i, v in enumerate(outputs)]
        grads = cls.backward(ctx, *seeds)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(args):
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number of "
                               f"gradients (expected {len(args)}, got {len(grads)})")
        gradients = [_checked_grad(cls, i, g, a, trace) for i, (g, a) in enumerate(zip(grads, args))
                     if isinstance(a, _tensor.Tensor) or _no_grad_for(cls, i, g)]
    finally:
        state.trace = outer
    graph.set_outputs(outputs + [g for g in gradients if g is not None])
    frozen = tuple(i for i, v in enumerate(outputs) if not is_float(v.dtype) or any(
        isinstance(t, _tensor.Tensor) and t._value is v for t in ctx.non_differentiable))
    attrs = {"body": graph.verify(), "name": cls.__name__, "outputs": len(outputs),
             "forward_nodes": forward_nodes, "grads": tuple(g is not None for g in gradients)}
    return attrs, multiple, frozen


def _no_grad_for(cls, index: int, grad) -> bool:
    """Check that a non-tensor input got no gradient (then it has no place in the body)."""
    if grad is not None:
        raise RuntimeError(f"function {cls.__name__}Backward returned a gradient different than "
                           f"None at position {index + 1}, but the corresponding forward input "
                           "was not a Variable")
    return False


def _checked_grad(cls, index: int, grad, arg, trace):
    """The traced gradient of input `index` (None for none), shaped and typed like the input."""
    if grad is None or not arg.dtype.is_floating_point:
        return None
    if not isinstance(grad, _tensor.Tensor):
        raise TypeError(f"function {cls.__name__}Backward returned {type(grad).__name__} at "
                        f"position {index + 1}, expected a Tensor or None")
    if tuple(grad.shape) != tuple(arg.shape):
        raise RuntimeError(f"Function {cls.__name__}Backward returned an invalid gradient at index "
                           f"{index} - got {list(grad.shape)} but expected shape compatible with "
                           f"{list(arg.shape)}")
    return trace.lift(dispatch.cast(grad, arg.dtype))
