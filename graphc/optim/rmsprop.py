"""RMSprop, plain or centered, with optional momentum and weight decay."""

from __future__ import annotations

from graphc.optim.emit import decayed_grad, lerp, like, next_step, one_minus, scale
from graphc.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """PyTorch's `torch.optim.RMSprop`:

    sq = alpha * sq + (1 - alpha) * g * g; centered: ga = lerp(ga, g, 1 - alpha), avg = sqrt(sq -
    ga * ga), else avg = sqrt(sq); avg += eps; momentum: buf = momentum * buf + g / avg,
    p = p - lr * buf; else p = p - lr * g / avg.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                        "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    non_negative = ("eps", "momentum", "weight_decay", "alpha")

    def structure(self, group):
        return (group["momentum"] > 0, bool(group["centered"]), bool(group["maximize"]),
                group["weight_decay"] != 0)

    def hyper_values(self, group):
        values = {"lr": group["lr"], "alpha": group["alpha"], "eps": group["eps"]}
        if group["weight_decay"] != 0:
            values["weight_decay"] = group["weight_decay"]
        if group["momentum"] > 0:
            values["momentum"] = group["momentum"]
        return values

    def state_names(self, group):
        names = ("step", "square_avg")
        if group["momentum"] > 0:
            names += ("momentum_buffer",)
        return names + ("grad_avg",) if group["centered"] else names

    def emit_param(self, b, slot, hyper, group):
        state = slot.state
        grad = decayed_grad(b, slot, hyper, group)
        weight = one_minus(b, hyper["alpha"])
        square_avg = b.add(scale(b, state["square_avg"], hyper["alpha"]),
                           b.mul(scale(b, grad, weight), grad))
        new_state = {"step": next_step(b, state["step"]), "square_avg": square_avg}
        if group["centered"]:
            grad_avg = new_state["grad_avg"] = lerp(b, state["grad_avg"], grad, weight)
            avg = b.sqrt(b.sub(square_avg, b.mul(grad_avg, grad_avg)))
        else:
            avg = b.sqrt(square_avg)
        avg = b.add(avg, like(b, hyper["eps"], avg))
        if group["momentum"] > 0:
            buf = b.add(scale(b, state["momentum_buffer"], hyper["momentum"]), b.div(grad, avg))
            new_state["momentum_buffer"] = buf
            return b.sub(slot.param, scale(b, buf, hyper["lr"])), new_state
        return b.sub(slot.param, scale(b, b.div(grad, avg), hyper["lr"])), new_state
