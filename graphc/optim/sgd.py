"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from graphc.optim.emit import decayed_grad, f64, one_minus, scale
from graphc.optim.optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's `torch.optim.SGD`, same formulas:

    g = grad (+ weight_decay * p); buf = g on the first step, else momentum * buf + (1 - dampening) * g;
    g = g + momentum * buf (nesterov) or buf; p = p - lr * g.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                        "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    non_negative = ("momentum", "weight_decay")

    def needs_fresh(self, group):
        return group["momentum"] != 0  # the momentum buffer starts as a copy of the first gradient

    def _check_group(self, group):
        super()._check_group(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def structure(self, group):
        return (group["momentum"] != 0, bool(group["nesterov"]), bool(group["maximize"]),
                group["weight_decay"] != 0)

    def hyper_values(self, group):
        values = {"lr": group["lr"]}
        if group["weight_decay"] != 0:
            values["weight_decay"] = group["weight_decay"]
        if group["momentum"] != 0:
            values.update(momentum=group["momentum"], dampening=group["dampening"])
        return values

    def state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def emit_param(self, b, slot, hyper, group):
        grad = decayed_grad(b, slot, hyper, group)
        new_state = {}
        if group["momentum"] != 0:
            # buf = momentum * buf + (1 - dampening) * grad, and on the first step grad itself: the
            # buffer then holds the zeros it was created with, so the first step's coefficients
            # (0 and 1) give exactly grad, with no select over whole tensors.
            first = b.gt(slot.fresh, f64(b, 0.0))
            keep = b.where(first, f64(b, 0.0), hyper["momentum"])
            take = b.where(first, f64(b, 1.0), one_minus(b, hyper["dampening"]))
            buf = b.add(scale(b, slot.state["momentum_buffer"], keep), scale(b, grad, take))
            new_state["momentum_buffer"] = buf
            grad = b.add(grad, scale(b, buf, hyper["momentum"])) if group["nesterov"] else buf
        return b.sub(slot.param, scale(b, grad, hyper["lr"])), new_state
