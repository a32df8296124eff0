"""Adagrad with learning-rate decay and an initial accumulator value."""

from __future__ import annotations

from graphc.device import array_module
from graphc.optim.emit import decayed_grad, f64, like, next_step, scale
from graphc.optim.optimizer import Optimizer
from graphc.optim.program import storage


class Adagrad(Optimizer):
    """PyTorch's `torch.optim.Adagrad`:

    step += 1; clr = lr / (1 + (step - 1) * lr_decay); sum = sum + g * g;
    p = p - clr * g / (sqrt(sum) + eps). Like PyTorch, state exists from construction.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                        "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                        "maximize": maximize}
        super().__init__(params, defaults)
        from graphc import from_numpy

        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {
                    name: from_numpy(self.initial_state(name, storage(p), group))
                    for name in self.state_names(group)
                }

    non_negative = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def structure(self, group):
        return (bool(group["maximize"]), group["weight_decay"] != 0)

    def hyper_values(self, group):
        values = {"lr": group["lr"], "lr_decay": group["lr_decay"], "eps": group["eps"]}
        if group["weight_decay"] != 0:
            values["weight_decay"] = group["weight_decay"]
        return values

    def state_names(self, group):
        return ("step", "sum")

    def initial_state(self, name, param, group):
        if name == "sum":
            return array_module(param).full_like(param, group["initial_accumulator_value"])
        return super().initial_state(name, param, group)

    def emit_param(self, b, slot, hyper, group):
        state = slot.state
        step = next_step(b, state["step"])
        grad = decayed_grad(b, slot, hyper, group)
        count = b.cast(step, dtype="float64")
        decay = b.add(f64(b, 1.0), b.mul(b.sub(count, f64(b, 1.0)), hyper["lr_decay"]))
        clr = b.div(hyper["lr"], decay)
        total = b.add(state["sum"], b.mul(grad, grad))
        std = b.add(b.sqrt(total), like(b, hyper["eps"], total))
        new_param = b.sub(slot.param, scale(b, b.div(grad, std), clr))
        return new_param, {"step": step, "sum": total}
