"""`graphc.nn.functional`: activations, layers and normalizations as functions (PyTorch names).

Every function is a composite of primitive ops, written with Tensor methods and
`graphc.dispatch.apply`, so it runs eagerly, traces into IR and differentiates through the ops'
own gradient rules. Losses live in `graphc.nn.losses`, convolution and pooling in
`graphc.nn.spatial`, resampling in `graphc.nn.interpolation`, attention in `graphc.nn.attention`;
all are re-exported here.
"""

from __future__ import annotations

import math

import numpy as np

import graphc
from graphc.autograd import label
from graphc.dispatch import apply
from graphc.nn.attention import (  # noqa: F401  (re-exported)
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from graphc.nn.checks import user_error
from graphc.nn.functional_activations import (  # noqa: F401  (re-exported: F.hardtanh etc.)
    celu,
    elu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    relu6,
    selu,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from graphc.nn.interpolation import (  # noqa: F401  (re-exported)
    interpolate,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from graphc.nn.losses import (  # noqa: F401  (re-exported: F.cross_entropy etc.)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from graphc.nn.spatial import (  # noqa: F401  (re-exported: F.conv2d etc.)
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    max_pool1d,
    max_pool2d,
    max_pool2d_with_indices,
    max_unpool1d,
    max_unpool2d,
    unfold,
)
from graphc.tensor_shape import along


# -- helpers ----------------------------------------------------------------------------------------
def dtype_name(dtype) -> str:
    """The IR name ('float32', ...) of a graphc dtype, NumPy dtype or name."""
    from ir.types import normalize_dtype

    name = getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]
    return normalize_dtype(name)


def _scalar(value, like):
    """A 0-d tensor holding `value` with the dtype of `like` (a graph constant when tracing)."""
    return graphc.tensor(value, dtype=like.dtype)


def _device(like):
    """The device for a tensor made to meet `like` (none while tracing: a graph constant)."""
    return None if like.is_traced else like.device


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


def gelu(input, approximate: str = "none"):
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (graphc.tanh(inner) + 1.0)
    if approximate != "none":
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return input * 0.5 * (apply("erf", input * (1.0 / math.sqrt(2.0))) + 1.0)


def silu(input, inplace: bool = False):
    return input * graphc.sigmoid(input)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x) with one slope per channel (dim 1) or one in all."""
    if input.ndim >= 2 and weight.numel() > 1:
        weight = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    return graphc.where(input > 0, input, input * weight)


def _softmax(x, axis: int):
    if x.numel() == 0:
        return x.clone()
    e = graphc.exp(x - _detached_max(x, axis))
    return e / e.sum(axis, keepdim=True)


def _log_softmax(x, axis: int):
    if x.numel() == 0:
        return x.clone()
    z = x - _detached_max(x, axis)
    return z - graphc.log(graphc.exp(z).sum(axis, keepdim=True))


def softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along `dim`, shifted by the max so large logits stay finite."""
    input = input.type(dtype) if dtype is not None else _float(input)
    out = along(_softmax, input, _implicit_dim(input) if dim is None else dim)
    label(out, "SoftmaxBackward0", input)
    return out


def log_softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """x - logsumexp(x) along `dim`, shifted by the max so large logits stay finite."""
    input = input.type(dtype) if dtype is not None else _float(input)
    out = along(_log_softmax, input, _implicit_dim(input) if dim is None else dim)
    label(out, "LogSoftmaxBackward0", input)
    return out


def softmin(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along `dim`."""
    input = input.type(dtype) if dtype is not None else _float(input)
    return softmax(-input, _implicit_dim(input) if dim is None else dim)


def _float(x):
    if not x.dtype.is_floating_point and x.numel():
        raise NotImplementedError(
            f'"softmax_lastdim_kernel_impl" not implemented for \'{x.type()[7:-6]}\''
        )
    return x


def _implicit_dim(input) -> int:
    # PyTorch's legacy choice when no dim is given.
    return 0 if input.ndim in (0, 1, 3) else 1


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the rest by 1/(1-p), in training only.

    The mask comes from the `random_mask` op fed by `graphc.random.key_tensor()`, so a traced
    graph takes its randomness as an input and reproduces under `graphc.manual_seed`.
    """
    return _dropout(input, p, training, tuple(input.shape))


def _dropout(input, p: float, training: bool, mask_shape: tuple):
    """`input` times a keep-mask of `mask_shape` (broadcast over the rest) scaled by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    key = graphc.random.key_tensor(_device(input))
    mask = apply("random_mask", key, shape=mask_shape, p=1.0 - p, dtype=dtype_name(input.dtype))
    return input * (mask * (1.0 / (1.0 - p)))


def _feature_dropout(input, p: float, training: bool, batched: bool):
    """Dropout of whole channels (dim 1 of batched input): one mask value per (sample, channel)."""
    x = input if batched else input.unsqueeze(0)
    out = _dropout(x, p, training, tuple(x.shape[:2]) + (1,) * (x.ndim - 2))
    return out if batched else out.squeeze(0)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p."""
    if input.ndim not in (2, 3):
        raise user_error(RuntimeError, (
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."))
    return _feature_dropout(input, p, training, input.ndim == 3)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) input with probability p. As in PyTorch, 3-d input
    is taken as (N, C, L)."""
    return _feature_dropout(input, p, training, batched=True)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    return _feature_dropout(input, p, training, input.ndim == 5)


# -- normalization and lookup -----------------------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the trailing `normalized_shape` dims (biased variance), then scale/shift."""
    axes = _trailing_axes(input, normalized_shape)
    centered = input - _mean(input, axes)
    var = _mean(centered * centered, axes)
    out = centered / apply("sqrt", var + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def _trailing_axes(input, normalized_shape) -> tuple[int, ...]:
    """The trailing axes `normalized_shape` names; PyTorch's error if the input's do not match."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise user_error(RuntimeError, (
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"))
    return tuple(range(input.ndim - len(shape), input.ndim))


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """x / sqrt(mean(x^2) + eps) over the trailing dims, times weight; eps defaults to the
    dtype's machine epsilon, as in PyTorch."""
    axes = _trailing_axes(input, normalized_shape)
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    out = input * (_mean(input * input, axes) + eps).rsqrt()
    return out if weight is None else out * weight


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalize each sample over groups of channels (dim 1) and its other dims, then scale and
    shift per channel."""
    n, channels = input.shape[0], input.shape[1] if input.ndim > 1 else 0
    if input.ndim < 2 or channels % num_groups:
        raise user_error(RuntimeError, (
            "Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"))
    grouped = input.reshape((n, num_groups, -1))
    centered = grouped - _mean(grouped, (2,))
    var = _mean(centered * centered, (2,))
    out = (centered / apply("sqrt", var + eps)).reshape(tuple(input.shape))
    affine_shape = (1, channels) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(affine_shape)
    return out if bias is None else out + bias.reshape(affine_shape)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalize per channel (dim 1) with batch statistics (training) or the running ones.

    In training the running statistics are updated in place (unbiased variance); while tracing,
    those in-place updates become the graph's `updates` of the buffers. `momentum` may be a 0-d
    tensor (BatchNorm's cumulative average reads it from a buffer).
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
    """Pad (or crop, where negative) by `pad`: (before, after) pairs from the last dim backwards.

    Modes: 'constant' (with `value`), 'reflect' (mirror without the edge), 'replicate' (repeat
    the edge), 'circular' (wrap around).
    """
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        return _pad_constant(input, pairs, 0.0 if value is None else value)
    if mode not in PAD_INDEX:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    size = len(pad) // 2
    if size not in (1, 2, 3) or input.ndim not in (size + 1, size + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor."
        )
    out = _pad_constant(input, [(min(lo, 0), min(hi, 0)) for lo, hi in pairs], 0)  # crops
    for axis, (lo, hi) in enumerate(pairs):
        lo, hi = max(lo, 0), max(hi, 0)
        if lo or hi:
            index = PAD_INDEX[mode](out.shape[axis], lo, hi, axis, input.shape)
            out = apply("take", out, graphc.tensor(index, device=_device(input)), axis=axis)
    return out


def _pad_constant(input, pairs, value):
    """Constant padding; negative amounts crop first."""
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(input.shape, pairs))
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        input = input[crop]
    pads = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs)
    if not any(lo or hi for lo, hi in pads):
        return input
    if not input.dtype.is_floating_point:
        value = bool(value) if input.dtype is graphc.bool else int(value)
    return apply("pad", input, pads=pads, value=value)


def _reflect_index(n, lo, hi, axis, shape):
    if max(lo, hi) >= n:
        raise RuntimeError(
            "Argument #4: Padding size should be less than the corresponding input dimension, but "
            f"got: padding ({lo}, {hi}) at dimension {axis} of input {list(shape)}"
        )
    period = max(2 * n - 2, 1)
    i = np.arange(-lo, n + hi) % period
    return np.where(i < n, i, period - i)


def _replicate_index(n, lo, hi, axis, shape):
    return np.clip(np.arange(-lo, n + hi), 0, n - 1)


def _circular_index(n, lo, hi, axis, shape):
    if max(lo, hi) > n:
        raise RuntimeError("Padding value causes wrapping around more than once.")
    return np.arange(-lo, n + hi) % n


PAD_INDEX = {"reflect": _reflect_index, "replicate": _replicate_index,
             "circular": _circular_index}


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None):
    """input / max(||input||_p over `dim`, eps)."""
    return input / input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """Sum over `dim` of (x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), as PyTorch computes it
    (each operand divided by its own norm first; the clamp, as PyTorch's, passes the norm's
    gradient through)."""
    shape = _broadcast_shape(x1, x2)
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(dim)


def _clamped_norm(x, dim: int, eps: float):
    norm = x.norm(2, dim, keepdim=True)
    return norm + (norm.clamp_min(eps) - norm).detach()


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """||x1 - x2 + eps||_p over the last dimension."""
    _broadcast_shape(x1, x2)
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)


def _broadcast_shape(x1, x2) -> tuple:
    """The shape x1 and x2 broadcast to; PyTorch's error naming the first dimension (from the
    right) where they do not."""
    a, b = tuple(x1.shape), tuple(x2.shape)
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    for i in reversed(range(ndim)):
        if a[i] != b[i] and 1 not in (a[i], b[i]):
            raise RuntimeError(f"The size of tensor a ({a[i]}) must match the size of tensor b "
                               f"({b[i]}) at non-singleton dimension {i}")
    return tuple(max(m, n) if 0 not in (m, n) else 0 for m, n in zip(a, b))


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    return input.flatten(start_dim, end_dim)
