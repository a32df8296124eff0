"""Adadelta: per-parameter step sizes from running averages of squared gradients and updates."""

from __future__ import annotations

from graphc.optim.emit import decayed_grad, like, next_step, one_minus, scale
from graphc.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """PyTorch's `torch.optim.Adadelta`:

    sq = rho * sq + (1 - rho) * g * g; delta = sqrt(acc + eps) / sqrt(sq + eps) * g;
    acc = rho * acc + (1 - rho) * delta * delta; p = p - lr * delta.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    non_negative = ("eps", "weight_decay")

    def structure(self, group):
        return (bool(group["maximize"]), group["weight_decay"] != 0)

    def hyper_values(self, group):
        values = {"lr": group["lr"], "rho": group["rho"], "eps": group["eps"]}
        if group["weight_decay"] != 0:
            values["weight_decay"] = group["weight_decay"]
        return values

    def state_names(self, group):
        return ("step", "square_avg", "acc_delta")

    def emit_param(self, b, slot, hyper, group):
        state = slot.state
        grad = decayed_grad(b, slot, hyper, group)
        rho, rest = hyper["rho"], one_minus(b, hyper["rho"])
        square_avg = b.add(scale(b, state["square_avg"], rho), b.mul(scale(b, grad, rest), grad))
        eps = like(b, hyper["eps"], square_avg)
        std = b.sqrt(b.add(square_avg, eps))
        delta = b.mul(b.div(b.sqrt(b.add(state["acc_delta"], eps)), std), grad)
        acc_delta = b.add(scale(b, state["acc_delta"], rho), b.mul(scale(b, delta, rest), delta))
        new_state = {"step": next_step(b, state["step"]), "square_avg": square_avg,
                     "acc_delta": acc_delta}
        return b.sub(slot.param, scale(b, delta, hyper["lr"])), new_state
