"""Loss functions (PyTorch names and semantics), built from primitive ops and numerically stable.

Class-index losses pick log-probabilities with the `gather` op; log-softmax subtracts the max, and
the logistic losses use softplus in its overflow-free form, so logits of magnitude 1e4 give finite
losses and gradients.
"""

from __future__ import annotations

import graphc
from graphc.autograd import label
from graphc.dispatch import apply

REDUCTIONS = ("none", "mean", "sum")
IGNORE_INDEX = -100  # PyTorch's default ignore_index of the class-index losses


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss, reduction: str):
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def log1p_exp(x):
    """log(1 + exp(x)) (softplus) without overflow for any x, with the gradient sigmoid(x)
    everywhere: max(x, 0) splits its gradient at the tie x = 0, where |x| has none, giving 1/2."""
    return graphc.maximum(x, 0.0) + graphc.log(graphc.exp(-x.abs()) + 1.0)


def _softplus_neg(x):
    """-log(sigmoid(x)) = log(1 + exp(-x))."""
    return log1p_exp(-x)


def _class_terms(target, classes: int, weight, ignore_index, dtype):
    """(checked indices, per-element weight or None) for class-index targets.

    Every target must be a class in [0, classes) or `ignore_index` (PyTorch's IndexError
    otherwise, raised by the `check_target` op eagerly and in compiled steps alike). Ignored
    targets are replaced by class 0 (so `gather` stays in range) and get weight 0.
    """
    target = apply("check_target", target, classes=classes, ignore=ignore_index)
    if ignore_index is None:
        index, keep = target, None
    else:
        valid = target != ignore_index
        index = graphc.where(valid, target, graphc.zeros_like(target))
        keep = valid.type(dtype)
    per_element = None if weight is None else apply("take", weight, index, axis=0)
    if keep is not None:
        per_element = keep if per_element is None else per_element * keep
    return index, per_element


def _weighted_reduce(loss, per_element, reduction: str):
    """Reduce; 'mean' divides by the total weight when there are weights, as PyTorch does."""
    _check_reduction(reduction)
    if per_element is not None:
        loss = loss * per_element
    if reduction == "mean" and per_element is not None:
        return loss.sum() / per_element.sum()
    return _reduce(loss, reduction)


def _check_class_target(input, target) -> None:
    """PyTorch's checks of class-index targets: integer, with input's shape less the class dim."""
    if input.ndim <= 2 and target.ndim != input.ndim - 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim >= 2 and target.shape[0] != input.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0]})."
        )
    expect = [input.shape[0], *input.shape[2:]] if input.ndim >= 2 else []
    if list(target.shape) != expect:
        raise RuntimeError(f"Expected target size {expect}, got {list(target.shape)}")
    if target.dtype.is_floating_point or target.dtype is graphc.bool:
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {target.type()[7:-6]}"
        )


def nll_loss(input, target, weight=None, ignore_index: int | None = IGNORE_INDEX,
             reduction: str = "mean"):
    """Negative log-likelihood of class indices: input (N, C, ...) log-probs, target (N, ...).

    Targets equal to `ignore_index` (PyTorch's -100 by default; None ignores nothing) count
    neither in the loss nor in the mean.
    """
    _check_class_target(input, target)
    if input.ndim == 1:
        loss = nll_loss(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction)
        return loss.squeeze(0) if reduction == "none" else loss
    index, per_element = _class_terms(target, input.shape[1], weight, ignore_index, input.dtype)
    picked = apply("gather", input, index.unsqueeze(1), axis=1).squeeze(1)
    return _named(_weighted_reduce(-picked, per_element, reduction), "NllLossBackward0", input,
                  target, weight)


def cross_entropy(input, target, weight=None, ignore_index: int | None = IGNORE_INDEX,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross entropy of logits `input` (N, C, ...) or (C,) against class indices or probabilities.

    `label_smoothing` mixes the target with the uniform distribution; `ignore_index` (-100 by
    default, as in PyTorch) drops targets equal to it; `weight` rescales each class.
    """
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        _check_class_target(input, target)
    class_dim = 1 if input.ndim >= 2 else 0
    classes = input.shape[class_dim]
    logp = graphc.nn.functional.log_softmax(input, class_dim)
    if weight is not None:
        weight_b = weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    if tuple(target.shape) == tuple(input.shape):
        if not target.dtype.is_floating_point:
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{target.type()[7:-6]}"
            )
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / classes
        terms = logp * target if weight is None else logp * target * weight_b
        loss = -terms.sum(class_dim)
        return _reduce(loss, reduction)
    loss = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0:
        return loss
    smooth = -(logp if weight is None else logp * weight_b).sum(class_dim)
    if input.ndim == 1:
        smooth, target = smooth.unsqueeze(0), target.unsqueeze(0)
    _, per_element = _class_terms(target, classes, weight, ignore_index, input.dtype)
    keep = None
    if ignore_index is not None:
        keep = (target != ignore_index).type(input.dtype)
        smooth = smooth * keep
    if reduction == "mean" and per_element is not None:
        smooth = smooth.sum() / per_element.sum()
    elif reduction == "none" and input.ndim == 1:
        smooth = smooth.squeeze(0)
    else:
        smooth = _reduce(smooth, reduction)
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def _named(loss, name: str, *inputs):
    """`loss`, its grad_fn shown as PyTorch's loss node `name` (see `graphc.autograd.label`)."""
    label(loss, name, *inputs)
    return loss


def mse_loss(input, target, reduction: str = "mean"):
    diff = input - target
    return _named(_reduce(diff * diff, reduction), "MseLossBackward0", input, target)


def l1_loss(input, target, reduction: str = "mean"):
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); L1 at beta 0."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return l1_loss(input, target, reduction)
    diff = input - target
    size = diff.abs()
    loss = graphc.where(size < beta, diff * diff * (0.5 / beta), size - 0.5 * beta)
    return _named(_reduce(loss, reduction), "SmoothL1LossBackward0", input, target)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    diff = input - target
    size = diff.abs()
    loss = graphc.where(size < delta, diff * diff * 0.5, (size - 0.5 * delta) * delta)
    return _named(_reduce(loss, reduction), "HuberLossBackward0", input, target)


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """KL divergence of log-probabilities `input` from `target` (probabilities, or log ones with
    `log_target`): target (log target - input), 0 where target is 0; 'batchmean' divides the sum
    by the batch size (the true KL divergence), 'mean' by the element count."""
    if log_target:
        loss = graphc.exp(target) * (target - input)
    else:
        # xlogy: target * log(target) is 0 where target is 0 (log of 1 there keeps gradients finite)
        positive = target > 0
        safe = graphc.where(positive, target, graphc.ones_like(target))
        loss = target * graphc.log(safe) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean",
                                     pos_weight=None):
    """Binary cross entropy on logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x), overflow-free."""
    if pos_weight is None:
        loss = (1.0 - target) * input + _softplus_neg(input)
    else:
        loss = (1.0 - target) * input + ((pos_weight - 1.0) * target + 1.0) * _softplus_neg(input)
    if weight is not None:
        loss = loss * weight
    return _named(_reduce(loss, reduction), "BinaryCrossEntropyWithLogitsBackward0", input,
                  target, weight, pos_weight)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """Binary cross entropy on probabilities; logs are clamped at -100 as in PyTorch."""
    floor = graphc.tensor(-100.0, dtype=input.dtype)
    log_p = apply("maximum", graphc.log(input), floor)
    log_q = apply("maximum", graphc.log(1.0 - input), floor)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _named(_reduce(loss, reduction), "BinaryCrossEntropyBackward0", input, target, weight)
