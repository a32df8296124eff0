"""Adam and AdamW (decoupled weight decay), with bias correction from a per-parameter step count."""

from __future__ import annotations

from graphc.optim.emit import decayed_grad, lerp, like, next_step, one_minus, scale
from graphc.optim.optimizer import Optimizer


class Adam(Optimizer):
    """PyTorch's `torch.optim.Adam` (single-tensor formulas):

    step += 1; m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) * g * g;
    p = p - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps).
    With `amsgrad`, v is replaced by the running maximum `max_exp_avg_sq`.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                        "amsgrad": amsgrad, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        if group["eps"] < 0:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if group["weight_decay"] < 0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def structure(self, group):
        return (bool(group["amsgrad"]), bool(group["maximize"]), group["weight_decay"] != 0)

    def hyper_values(self, group):
        beta1, beta2 = group["betas"]
        values = {"lr": group["lr"], "beta1": beta1, "beta2": beta2, "eps": group["eps"]}
        if group["weight_decay"] != 0:
            values["weight_decay"] = group["weight_decay"]
        return values

    def state_names(self, group):
        names = ("step", "exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if group["amsgrad"] else names

    def emit_param(self, b, slot, hyper, group):
        param, state = slot.param, slot.state
        step = next_step(b, state["step"])
        if self.decoupled_weight_decay:
            grad = b.neg(slot.grad) if group["maximize"] else slot.grad
            if group["weight_decay"] != 0:
                shrink = one_minus(b, b.mul(hyper["lr"], hyper["weight_decay"]))
                param = scale(b, param, shrink)
        else:
            grad = decayed_grad(b, slot, hyper, group)
        exp_avg = lerp(b, state["exp_avg"], grad, one_minus(b, hyper["beta1"]))
        exp_avg_sq = b.add(scale(b, state["exp_avg_sq"], hyper["beta2"]),
                           b.mul(scale(b, grad, one_minus(b, hyper["beta2"])), grad))
        new_state = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        second = exp_avg_sq
        if group["amsgrad"]:
            second = new_state["max_exp_avg_sq"] = b.maximum(state["max_exp_avg_sq"], exp_avg_sq)
        count = b.cast(step, dtype="float64")
        correction1 = one_minus(b, b.pow(hyper["beta1"], count))
        correction2_sqrt = b.sqrt(one_minus(b, b.pow(hyper["beta2"], count)))
        step_size = b.div(hyper["lr"], correction1)
        denom = b.add(b.div(b.sqrt(second), like(b, correction2_sqrt, second)),
                      like(b, hyper["eps"], second))
        new_param = b.sub(param, scale(b, b.div(exp_avg, denom), step_size))
        return new_param, new_state


class AdamW(Adam):
    """PyTorch's `torch.optim.AdamW`: Adam whose weight decay shrinks the parameter first,
    p = p * (1 - lr * weight_decay), instead of adding to the gradient (default 1e-2)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)

