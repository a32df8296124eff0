"""Convolution, pooling and resampling over (N, C, *spatial) tensors, as functions (PyTorch names).

1-d forms run the 2-d ops on height-1 images; inputs without a batch dimension get one for the
call. Adaptive average pooling, unpooling and interpolation are composites of primitive ops
(avg_pool2d, matmul, take, scatter_add), so autodiff and the optimizer see through them.
Re-exported by `graphc.nn.functional`.
"""

from __future__ import annotations

import math

import numpy as np

import graphc
from graphc.creation import like_device
from graphc.dispatch import apply
from graphc.nn.checks import size_list, user_error
from ir.ops.pool import pool_out_size


def _tuple(value, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _batched(input, name: str, spatial: int, message=None):
    """(input with a batch dimension, whether one was added); PyTorch's error otherwise."""
    if input.ndim == spatial + 2:
        return input, False
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    raise user_error(RuntimeError, message or (
        f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {name}, but "
        f"got input of size: {size_list(input.shape)}"))


def _lift(spatial: int, *pairs):
    """1-d attributes as the 2-d ops take them: height 1 (kernel, stride, dilation) or 0 (pad)."""
    return tuple(value if spatial == 2 else (fill, *value) for value, fill in pairs)


def _const(array, like):
    return graphc.from_numpy(np.ascontiguousarray(array, dtype=like.dtype.np))


# -- convolution -----------------------------------------------------------------------------------
def _padding(padding, kernel, stride, dilation, spatial) -> tuple[tuple, tuple]:
    """(before, after) padding per spatial dim; 'same' may pad one more after than before."""
    if not isinstance(padding, str):
        pad = _tuple(padding, spatial)
        return pad, pad
    if padding == "valid":
        return (0,) * spatial, (0,) * spatial
    if padding != "same":
        raise user_error(ValueError, f"Invalid padding string {padding!r}, should be one of "
                         "{'valid', 'same'}")
    if any(s != 1 for s in stride):
        raise user_error(RuntimeError,
                         "padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


def _conv(input, weight, bias, stride, padding, dilation, groups, spatial, name):
    x, unbatched = _batched(input, name, spatial)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, spatial), _tuple(dilation, spatial)
    if weight.ndim != spatial + 2 or x.shape[1] != weight.shape[1] * groups:
        raise user_error(RuntimeError, (
            f"Given groups={groups}, weight of size {size_list(weight.shape)}, expected "
            f"input{size_list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead"))
    before, after = _padding(padding, kernel, stride, dilation, spatial)
    padded = [n + a + b for n, a, b in zip(x.shape[2:], before, after)]
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(p < e for p, e in zip(padded, effective)):
        raise user_error(RuntimeError, (
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, effective))}). Kernel size can't be greater "
            "than actual input size"))
    if before != after:  # PyTorch pads the odd one out after, then convolves symmetrically
        extra = [v for a, b in reversed(list(zip(before, after))) for v in (0, b - a)]
        x = graphc.nn.functional.pad(x, extra)
    if spatial == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    stride, before, dilation = _lift(spatial, (stride, 1), (before, 0), (dilation, 1))
    out = apply("conv2d", x, weight, stride=stride, padding=before, dilation=dilation,
                groups=groups)
    out = out.squeeze(2) if spatial == 1 else out
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * spatial)
    return out.squeeze(0) if unbatched else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-d cross-correlation of (N, C, H, W) or (C, H, W) input with (O, C/groups, kh, kw)
    weight; `padding` is a size, a pair, 'valid' or 'same'."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """1-d cross-correlation of (N, C, L) or (C, L) input with (O, C/groups, k) weight."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def transposed_size(n, kernel, stride, padding, output_padding, dilation) -> int:
    """The output size of a transposed convolution along one dim."""
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    spatial, name):
    x, unbatched = _batched(input, name, spatial)
    if isinstance(padding, str):
        raise user_error(TypeError, f"{name}(): argument 'padding' must be tuple of ints, not str")
    if weight.ndim != spatial + 2 or x.shape[1] != weight.shape[0]:
        raise user_error(RuntimeError, (
            f"Given transposed=1, weight of size {size_list(weight.shape)}, expected "
            f"input{size_list(x.shape)} to have {weight.shape[0]} channels, but got "
            f"{x.shape[1]} channels instead"))
    stride, padding = _tuple(stride, spatial), _tuple(padding, spatial)
    output_padding, dilation = _tuple(output_padding, spatial), _tuple(dilation, spatial)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise user_error(RuntimeError, (
            f"output padding must be smaller than either stride or dilation, but got "
            f"output_padding {output_padding}, stride {stride} and dilation {dilation}"))
    if any(o >= s for o, s in zip(output_padding, stride)):
        raise user_error(NotImplementedError,
                         "output_padding >= stride (allowed by a larger dilation)")
    size = tuple(transposed_size(*a) for a in zip(
        x.shape[2:], weight.shape[2:], stride, padding, output_padding, dilation))
    if min(size) < 1:
        raise user_error(RuntimeError, f"{name}: the output size {size} is too small")
    if spatial == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    stride, padding, dilation, size = _lift(spatial, (stride, 1), (padding, 0), (dilation, 1),
                                            (size, 1))
    out = apply("conv2d_grad_input", x, weight, input_hw=size, stride=stride, padding=padding,
                dilation=dilation, groups=groups)
    out = out.squeeze(2) if spatial == 1 else out
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * spatial)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """Transposed 2-d convolution (the gradient of conv2d w.r.t. its input) of (N, Cin, H, W)
    input with (Cin, Cout/groups, kh, kw) weight."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """Transposed 1-d convolution of (N, Cin, L) input with (Cin, Cout/groups, k) weight."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


# -- pooling ---------------------------------------------------------------------------------------
def _rank_message(name: str, input) -> str:
    """PyTorch's message (it differs from function to function) for input of the wrong rank."""
    if name.endswith("1d"):
        if name == "max_pool1d":
            return ("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch "
                    f"size for input, but got:{size_list(input.shape)}")
        return (f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for "
                f"argument #1 'self' (while checking arguments for {name})")
    if name.startswith("adaptive"):
        got = "got:" if name.startswith("adaptive_max") else "got"
        return f"{name}(): Expected 3D or 4D tensor, but {got} {size_list(input.shape)}"
    return "non-empty 3D or 4D (batch mode) tensor expected for input"


def _pool_input(input, name, spatial):
    return _batched(input, name, spatial, message=_rank_message(name, input))


def _check_windows(x, name, kernel, stride, padding, dilation, ceil_mode) -> None:
    """PyTorch's errors for too much padding or windows that do not fit (x is (N, C, H, W))."""
    for p, k, d in zip(padding, kernel, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise user_error(RuntimeError, f"pad should be at most half of effective kernel size, "
                             f"but got pad={p}, kernel_size={k} and dilation={d}")
    out = [pool_out_size(*args, ceil_mode) for args in zip(x.shape[2:], kernel, stride, padding,
                                                          dilation)]
    if min(out) < 1:
        c, h, w = x.shape[1:]
        raise user_error(RuntimeError, f"max_pool1d() Invalid computed output size: {out[1]}"
                         if name == "max_pool1d" else
                         f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                         f"({c}x{out[0]}x{out[1]}). Output size is too small")


def _window_attrs(kernel_size, stride, padding, spatial, dilation=None):
    kernel = _tuple(kernel_size, spatial)
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, spatial)
    padding = _tuple(padding, spatial)
    pairs = [(kernel, 1), (stride, 1), (padding, 0)]
    if dilation is not None:
        pairs.append((_tuple(dilation, spatial), 1))
    return _lift(spatial, *pairs)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial):
    name = f"max_pool{spatial}d"
    x, unbatched = _pool_input(input, name, spatial)
    x = x.unsqueeze(2) if spatial == 1 else x
    kernel, stride, padding, dilation = _window_attrs(kernel_size, stride, padding, spatial,
                                                      dilation)
    _check_windows(x, name, kernel, stride, padding, dilation, ceil_mode)
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
             "ceil_mode": bool(ceil_mode)}
    results = [apply("max_pool2d", x, **attrs)]
    if return_indices:
        results.append(apply("max_pool2d_indices", x, **attrs))
    results = [_unlift(r, spatial, unbatched) for r in results]
    return tuple(results) if return_indices else results[0]


def _unlift(out, spatial, unbatched):
    out = out.squeeze(2) if spatial == 1 else out
    return out.squeeze(0) if unbatched else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over windows; with return_indices also each maximum's flat index in its plane."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, spatial):
    name = f"avg_pool{spatial}d"
    x, unbatched = _pool_input(input, name, spatial)
    x = x.unsqueeze(2) if spatial == 1 else x
    kernel, stride, padding = _window_attrs(kernel_size, stride, padding, spatial)
    _check_windows(x, name, kernel, stride, padding, (1, 1), ceil_mode)
    out = apply("avg_pool2d", x, kernel=kernel, stride=stride, padding=padding,
                ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                divisor_override=divisor_override)
    return _unlift(out, spatial, unbatched)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None):
    """Window sums divided by the window size (or by divisor_override)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def _output_size(output_size, sizes, name) -> tuple[int, ...]:
    """PyTorch's adaptive output size: an int for all dims, or a tuple whose None keeps a dim."""
    if not isinstance(output_size, (tuple, list)):
        output_size = (output_size,) * len(sizes)
    if len(output_size) != len(sizes):
        raise user_error(RuntimeError, f"{name}: output_size must be {len(sizes)} values, got "
                         f"{tuple(output_size)}")
    return tuple(n if o is None else int(o) for o, n in zip(output_size, sizes))


def _adaptive_input(input, output_size, name, spatial):
    x, unbatched = _batched(input, name, spatial, message=_rank_message(name, input))
    size = _output_size(output_size, x.shape[2:], name)
    if spatial == 1:
        x, size = x.unsqueeze(2), (1, *size)
    return x, size, unbatched


def _window_matrix(n: int, out: int):
    """(out, n) 0/1 matrix of PyTorch's adaptive windows, and each window's length."""
    i = np.arange(out)
    start, end = (i * n) // out, -(-(i + 1) * n // out)
    cells = np.arange(n)
    return (cells >= start[:, None]) & (cells < end[:, None]), end - start


def _adaptive_avg(input, output_size, spatial):
    x, (ho, wo), unbatched = _adaptive_input(input, output_size, f"adaptive_avg_pool{spatial}d",
                                             spatial)
    h, w = x.shape[2:]
    if h % ho == 0 and w % wo == 0:  # equal windows: plain average pooling
        out = apply("avg_pool2d", x, kernel=(h // ho, w // wo))
    else:  # window sums as two matrix products, then the division by each window's size
        rows, row_len = _window_matrix(h, ho)
        cols, col_len = _window_matrix(w, wo)
        out = _const(rows, x) @ (x @ _const(cols.T, x))
        out = out / _const(row_len[:, None] * col_len[None, :], x)
    return _unlift(out, spatial, unbatched)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows (sizes need not divide the input)."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(input, output_size, 1)


def _adaptive_max(input, output_size, return_indices, spatial):
    x, (ho, wo), unbatched = _adaptive_input(input, output_size, f"adaptive_max_pool{spatial}d",
                                             spatial)
    h, w = x.shape[2:]
    if h % ho == 0 and w % wo == 0:  # equal windows: plain max pooling, the same first maxima
        op, attrs = "max_pool2d", {"kernel": (h // ho, w // wo)}
    else:
        op, attrs = "adaptive_max_pool2d", {"output_size": (ho, wo)}
    results = [apply(op, x, **attrs)]
    if return_indices:
        results.append(apply(f"{op}_indices", x, **attrs))
    results = [_unlift(r, spatial, unbatched) for r in results]
    return tuple(results) if return_indices else results[0]


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive windows; with return_indices also the flat indices."""
    return _adaptive_max(input, output_size, return_indices, 2)


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    return _adaptive_max(input, output_size, return_indices, 1)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, spatial):
    name = f"max_unpool{spatial}d"
    x, unbatched = _pool_input(input, name, spatial)
    indices = indices.unsqueeze(0) if unbatched else indices
    kernel, padding = _tuple(kernel_size, spatial), _tuple(padding, spatial)
    stride = kernel if stride is None else _tuple(stride, spatial)
    if output_size is None:
        size = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(x.shape[2:], kernel, stride,
                                                                   padding))
    else:
        size = tuple(int(v) for v in tuple(output_size)[-spatial:])
    n, c = x.shape[:2]
    flat = (n, c, math.prod(x.shape[2:]))
    idx, values = indices.reshape(flat), x.reshape(flat)
    where = like_device(x, None)
    plane = graphc.zeros((n, c, math.prod(size)), dtype=x.dtype, device=where)
    # Overlapping windows can pick one input twice: the mean of equal values is that value.
    total = apply("scatter_add", plane, idx, values, axis=2)
    hits = apply("scatter_add", plane, idx, graphc.ones(flat, dtype=x.dtype, device=where),
                 axis=2)
    out = (total / graphc.maximum(hits, graphc.ones((), dtype=x.dtype))).reshape((n, c, *size))
    return out.squeeze(0) if unbatched else out


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d: each value put back at its index, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


# -- sliding windows -------------------------------------------------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), one column per sliding window."""
    if input.ndim not in (3, 4):
        raise NotImplementedError(
            f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)"
        )
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (
        _tuple(v, 2) for v in (kernel_size, dilation, padding, stride))
    x = apply("pad", input, pads=((0, 0), (0, 0), (ph, ph), (pw, pw)), value=0.0)
    rows = _windows(x.shape[2], kh, dh, sh)  # (out_h, kh)
    cols = _windows(x.shape[3], kw, dw, sw)  # (out_w, kw)
    if rows.size == 0 or cols.size == 0:
        raise RuntimeError(
            f"Given input with spatial size {tuple(input.shape[2:])}, kernel_size "
            f"{(kh, kw)}, dilation {(dh, dw)}, padding {(ph, pw)}, calculated shape of the "
            "array of sliding blocks is non-positive"
        )
    where = like_device(x, None)
    x = apply("take", x, graphc.tensor(rows, device=where), axis=2)  # (N, C, out_h, kh, W)
    x = apply("take", x, graphc.tensor(cols, device=where), axis=4)  # (N, C, out_h, kh, out_w, kw)
    n, c, out_h, _, out_w, _ = x.shape
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, c * kh * kw, out_h * out_w)


def _windows(n: int, kernel: int, dilation: int, stride: int) -> np.ndarray:
    """Indices of each sliding window along one dim: (windows, kernel)."""
    count = (n - dilation * (kernel - 1) - 1) // stride + 1
    if count <= 0:
        return np.zeros((0, kernel), np.int64)
    return np.arange(count)[:, None] * stride + np.arange(kernel)[None, :] * dilation
