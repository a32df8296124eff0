"""`graphc.nn.functional`: activations, layers and normalizations as functions (PyTorch names).

Every function is a composite of primitive ops, written with Tensor methods and
`graphc.dispatch.apply`, so it runs eagerly, traces into IR and differentiates through the ops'
own gradient rules. Losses live in `graphc.nn.losses` and are re-exported here.
"""

from __future__ import annotations

import math

import graphc
from graphc.autograd import label
from graphc.dispatch import apply
from graphc.nn.losses import (  # noqa: F401  (re-exported: F.cross_entropy etc.)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    log1p_exp,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)


# -- helpers ----------------------------------------------------------------------------------------
def dtype_name(dtype) -> str:
    """The IR name ('float32', ...) of a graphc dtype, NumPy dtype or name."""
    from ir.types import normalize_dtype

    name = getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]
    return normalize_dtype(name)


def _scalar(value, like):
    """A 0-d tensor holding `value` with the dtype of `like` (a graph constant when tracing)."""
    return graphc.tensor(value, dtype=like.dtype)


def _axes(dims, ndim: int) -> tuple[int, ...]:
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return tuple(sorted(d % ndim for d in dims))


def _mean(x, axes: tuple[int, ...]):
    """Mean over `axes`, keeping them as size-1 dimensions."""
    count = math.prod(x.shape[a] for a in axes)
    return apply("sum", x, axes=axes, keepdims=True) * (1.0 / count)


def _detached_max(x, dim: int):
    # The shift only stabilizes exp; its gradient cancels exactly, so none needs to flow.
    return apply("stop_gradient", apply("max", x, axes=(dim % x.ndim,), keepdims=True))


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# -- linear and activations -------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias; input (*, in_features), weight (out_features, in_features)."""
    if input.ndim == 1:
        return linear(input.unsqueeze(0), weight, bias).squeeze(0)
    out = graphc.matmul(input, weight.T)
    if bias is None:
        return out
    out = out + bias
    label(out, "AddmmBackward0" if input.ndim == 2 else "ViewBackward0", bias, input, weight)
    return out


def relu(input, inplace: bool = False):
    return graphc.relu(input)


def sigmoid(input):
    return graphc.sigmoid(input)


def tanh(input):
    return graphc.tanh(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    return graphc.where(input > 0, input, input * negative_slope)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0 (and NaN), alpha * (exp(x) - 1) where x <= 0, as PyTorch (also its gradient
    at 0 and at NaN)."""
    negative = input <= 0
    # exp reads only the x <= 0 values: the unselected branch must not overflow (0 * inf would
    # poison the gradient).
    safe = graphc.where(negative, input, 0.0)
    return graphc.where(negative, (graphc.exp(safe) - 1.0) * alpha, input)


def gelu(input, approximate: str = "none"):
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (graphc.tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return input * 0.5 * (apply("erf", input * (1.0 / math.sqrt(2.0))) + 1.0)


def silu(input, inplace: bool = False):
    return input * graphc.sigmoid(input)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta, computed without overflow; linear above `threshold`."""
    z = input * beta if beta != 1 else input
    stable = log1p_exp(z)
    if beta != 1:
        stable = stable * (1.0 / beta)
    return graphc.where(z > threshold, input, stable)


def mish(input, inplace: bool = False):
    return input * graphc.tanh(softplus(input))


def prelu(input, weight):
    """max(0, x) + weight * min(0, x) with one slope per channel (dim 1) or one in all."""
    if input.ndim >= 2 and weight.numel() > 1:
        weight = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    return graphc.where(input > 0, input, input * weight)


def softmax(input, dim: int | None = None, dtype=None):
    if dtype is not None:
        input = input.type(dtype)
    dim = _implicit_dim(input) if dim is None else dim
    e = graphc.exp(input - _detached_max(input, dim))
    out = e / e.sum(dim, keepdim=True)
    label(out, "SoftmaxBackward0", input)
    return out


def log_softmax(input, dim: int | None = None, dtype=None):
    """x - logsumexp(x) along `dim`, shifted by the max so large logits stay finite."""
    if dtype is not None:
        input = input.type(dtype)
    dim = _implicit_dim(input) if dim is None else dim
    z = input - _detached_max(input, dim)
    out = z - graphc.log(graphc.exp(z).sum(dim, keepdim=True))
    label(out, "LogSoftmaxBackward0", input)
    return out


def _implicit_dim(input) -> int:
    # PyTorch's legacy choice when no dim is given.
    return 0 if input.ndim in (0, 1, 3) else 1


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the rest by 1/(1-p), in training only.

    The mask comes from the `random_mask` op fed by `graphc.random.key_tensor()`, so a traced
    graph takes its randomness as an input and reproduces under `graphc.manual_seed`.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = apply("random_mask", graphc.random.key_tensor(), shape=tuple(input.shape),
                 p=1.0 - p, dtype=dtype_name(input.dtype))
    return input * (mask * (1.0 / (1.0 - p)))


# -- normalization and lookup -----------------------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the trailing `normalized_shape` dims (biased variance), then scale/shift."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    axes = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    centered = input - _mean(input, axes)
    var = _mean(centered * centered, axes)
    out = centered / apply("sqrt", var + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalize per channel (dim 1) with batch statistics (training) or the running ones.

    In training the running statistics are updated in place (unbiased variance); while tracing,
    those in-place updates become the graph's `updates` of the buffers.
    """
    channels = input.shape[1]
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    if training or running_mean is None:
        axes = (0,) + tuple(range(2, input.ndim))
        mean = _mean(input, axes)
        centered = input - mean
        var = _mean(centered * centered, axes)
        if training and running_mean is not None:
            count = input.numel() // channels
            with graphc.no_grad():
                unbiased = var.reshape((channels,)) * (count / max(count - 1, 1))
                running_mean.mul_(1.0 - momentum).add_(mean.reshape((channels,)) * momentum)
                running_var.mul_(1.0 - momentum).add_(unbiased * momentum)
    else:
        mean = running_mean.reshape(stat_shape)
        centered = input - mean
        var = running_var.reshape(stat_shape)
    out = centered / apply("sqrt", var + eps)
    if weight is not None:
        out = out * weight.reshape(stat_shape)
    return out if bias is None else out + bias.reshape(stat_shape)


def embedding(input, weight, padding_idx: int | None = None):
    """Rows of `weight` picked by the integer tensor `input`: shape input.shape + (dim,).

    The row at `padding_idx` gets no gradient, as in PyTorch.
    """
    out = apply("take", weight, input, axis=0)
    if padding_idx is None:
        return out
    padding_idx = padding_idx % weight.shape[0]
    is_pad = (input == padding_idx).unsqueeze(-1)
    return graphc.where(is_pad, apply("stop_gradient", out), out)


def one_hot(tensor, num_classes: int = -1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index."""
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1
    classes = graphc.arange(num_classes)
    return (tensor.unsqueeze(-1) == classes).long()


def pad(input, pad, mode: str = "constant", value: float | None = None):
    """Pad with `value`; `pad` lists (before, after) pairs from the last dim backwards."""
    if mode != "constant":
        raise NotImplementedError(f"pad mode {mode!r} is not supported; only 'constant' is")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"padding length {len(pad)} is invalid for a {input.ndim}-d input")
    if any(p < 0 for p in pad):
        raise NotImplementedError("negative padding is not supported")
    pads = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pads[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return apply("pad", input, pads=tuple(pads), value=float(value or 0.0))


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    return input.flatten(start_dim, end_dim)


# -- convolution and pooling (NCHW) -----------------------------------------------------------------
def _unbatched(fn):
    """Let a 4-d (N, C, H, W) function also take one (C, H, W) image, as PyTorch's do."""

    def wrapper(input, *args, **kwargs):
        if input.ndim == 3:
            return fn(input.unsqueeze(0), *args, **kwargs).squeeze(0)
        return fn(input, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_unbatched
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-d cross-correlation; `groups` > 1 runs one conv2d per channel group and concatenates."""
    if isinstance(padding, str):
        raise NotImplementedError("string padding ('same'/'valid') is not supported; give sizes")
    attrs = {"stride": _pair(stride), "padding": _pair(padding), "dilation": _pair(dilation)}
    if groups == 1:
        out = apply("conv2d", input, weight, **attrs)
    else:
        cin, cout = input.shape[1] // groups, weight.shape[0] // groups
        out = graphc.cat([
            apply("conv2d", input[:, g * cin:(g + 1) * cin], weight[g * cout:(g + 1) * cout],
                  **attrs)
            for g in range(groups)
        ], 1)
    return out if bias is None else out + bias.reshape((1, -1, 1, 1))


@_unbatched
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    if ceil_mode or return_indices:
        raise NotImplementedError("max_pool2d: ceil_mode and return_indices are not supported")
    stride = kernel_size if stride is None or stride == [] else stride
    return apply("max_pool2d", input, kernel=_pair(kernel_size), stride=_pair(stride),
                 padding=_pair(padding), dilation=_pair(dilation))


@_unbatched
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None):
    if ceil_mode or divisor_override is not None:
        raise NotImplementedError("avg_pool2d: ceil_mode and divisor_override are not supported")
    stride = kernel_size if stride is None or stride == [] else stride
    attrs = {"kernel": _pair(kernel_size), "stride": _pair(stride), "padding": _pair(padding)}
    out = apply("avg_pool2d", input, **attrs)
    if count_include_pad or not any(attrs["padding"]):
        return out
    # Mean over the real elements only: divide by the pooled fraction of non-padding cells.
    ones = graphc.ones((1, 1) + tuple(input.shape[2:]), dtype=input.dtype)
    return out / apply("avg_pool2d", ones, **attrs)
