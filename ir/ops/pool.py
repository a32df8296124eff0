"""2-D pooling over NCHW tensors: max and average windows (PyTorch's ceil_mode, count_include_pad,
divisor_override) and adaptive max pooling, with their gradient ops.

Window kernels reduce a strided view of the padded input (`conv.windows`); `ceil_mode` pads the
bottom/right edge by as much as the last, partial window needs. Max pooling differentiates through
`max_pool2d_grad` (each window's gradient to its first maximum, computed tap by tap from the
pooled values: no index arrays, no scatter); average pooling through `avg_pool2d_grad`, its
adjoint, whose own gradient is avg_pool2d again.
"""

from __future__ import annotations

import numpy as np

from ir.errors import ShapeError
from ir.ops.conv import (
    LAYOUT,
    PAIR,
    allocating,
    check_pair,
    first_max_tap,
    image,
    nchw,
    pad_hw,
    reduce_taps,
    spatial_index,
    stored,
    tap_slices,
    windows,
)
from ir.ops.registry import Attr, define_op, no_grad
from ir.types import TensorType

WINDOW_ATTRS = {
    "kernel": Attr(PAIR),
    "stride": Attr((tuple, type(None)), None, "default: the kernel size"),
    "padding": Attr(PAIR, (0, 0)),
    "ceil_mode": Attr(bool, False),
}
MAX_ATTRS = {**WINDOW_ATTRS, "dilation": Attr(PAIR, (1, 1)), **LAYOUT}
AVG_ATTRS = {
    **WINDOW_ATTRS,
    "count_include_pad": Attr(bool, True),
    "divisor_override": Attr((int, type(None)), None),
    **LAYOUT,
}
ADAPTIVE_ATTRS = {"output_size": Attr(PAIR)}


# -- sizes -----------------------------------------------------------------------------------------
def pool_out_size(n, k, s, p, d, ceil_mode) -> int:
    """PyTorch's pooling output size; in ceil mode the last window must start inside the input
    or its left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geometry(hw, kernel, stride, padding, dilation, ceil_mode):
    """(output hw, extra bottom/right padding the ceil-mode windows read)."""
    stride = stride or kernel
    check_pair("kernel", kernel, 1), check_pair("stride", stride, 1)
    check_pair("padding", padding, 0), check_pair("dilation", dilation, 1)
    for p, k, d in zip(padding, kernel, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise ShapeError(f"padding {padding} must be at most half the kernel {kernel}")
    out = tuple(pool_out_size(*a, ceil_mode) for a in zip(hw, kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ShapeError(f"window {kernel} does not fit input {hw} padded by {padding}")
    extra = tuple(
        max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
        for o, n, k, s, p, d in zip(out, hw, kernel, stride, padding, dilation)
    )
    return out, extra


def _max_type(x, *, kernel, stride, padding, dilation, ceil_mode, layout="NCHW",
              dtype=None) -> TensorType:
    x = nchw(x, layout)
    image(x)
    out, _ = _geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    return stored(TensorType((*x.shape[:2], *out), dtype or x.dtype), layout)


def _avg_type(x, *, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override,
              layout="NCHW"):
    if divisor_override is not None and divisor_override < 1:
        raise ShapeError(f"divisor_override must be positive, got {divisor_override}")
    return _max_type(x, kernel=kernel, stride=stride, padding=padding, dilation=(1, 1),
                     ceil_mode=ceil_mode, layout=layout)


def _avg_grad_type(g, *, input_hw, layout="NCHW", **attrs):
    logical = nchw(g, layout)
    x = stored(TensorType((*logical.shape[:2], *input_hw), g.dtype), layout)
    expect = _avg_type(x, layout=layout, **attrs)
    if g != expect:
        raise ShapeError(f"gradient {g} does not match the avg_pool2d output {expect}")
    return x


def _adaptive_type(x, *, output_size, dtype=None) -> TensorType:
    image(x), check_pair("output_size", output_size, 1)
    return TensorType((*x.shape[:2], *output_size), dtype or x.dtype)


# -- kernels ---------------------------------------------------------------------------------------
def _hw(x, layout: str) -> tuple[int, int]:
    """The height and width of an array stored in `layout`."""
    return tuple(x.shape[2:]) if layout == "NCHW" else tuple(x.shape[1:3])


def _max_windows(xp, x, kernel, stride, padding, dilation, ceil_mode, layout="NCHW"):
    stride = stride or kernel
    _, extra = _geometry(_hw(x, layout), kernel, stride, padding, dilation, ceil_mode)
    padded = pad_hw(xp, x, padding, -float("inf"), extra, layout)
    return windows(xp, padded, kernel, stride, dilation, layout)


def _max_write(xp, out, x, **attrs):
    return reduce_taps(xp, _max_windows(xp, x, **attrs), xp.maximum, out)


def _max_indices_impl(xp, x, *, kernel, stride, padding, dilation, ceil_mode, layout):
    if layout != "NCHW":
        raise ShapeError("max_pool2d_indices reads NCHW input only")
    win = _max_windows(xp, x, kernel, stride, padding, dilation, ceil_mode)
    stride = stride or kernel
    ho, wo, kw = win.shape[2], win.shape[3], win.shape[5]
    tap = first_max_tap(xp, win)
    rows = xp.arange(ho).reshape(-1, 1) * stride[0] - padding[0] + (tap // kw) * dilation[0]
    cols = xp.arange(wo).reshape(1, -1) * stride[1] - padding[1] + (tap % kw) * dilation[1]
    return (rows * x.shape[3] + cols).astype("int64", copy=False)


def _divisors(xp, hw, out, kernel, stride, padding, count_include_pad, divisor_override, dtype):
    """The (Ho, Wo) divisor of each window, as PyTorch's avg_pool2d computes it."""
    if divisor_override is not None:
        return xp.asarray(divisor_override, dtype=dtype)
    sizes = []
    for n, o, k, s, p in zip(hw, out, kernel, stride, padding):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, n + p)  # windows count padding, never the ceil-mode overhang
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, n)
        sizes.append(end - start)
    return (sizes[0].reshape(-1, 1) * sizes[1].reshape(1, -1)).astype(dtype)


def _avg_parts(xp, hw, dtype, kernel, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """(output hw, stride, extra padding, divisors) of an average pooling of size-`hw` input."""
    stride = stride or kernel
    out, extra = _geometry(hw, kernel, stride, padding, (1, 1), ceil_mode)
    divisors = _divisors(xp, hw, out, kernel, stride, padding, count_include_pad,
                         divisor_override, dtype)
    return out, stride, extra, divisors


def _avg_write(xp, out, x, *, kernel, padding, layout="NCHW", **attrs):
    _, stride, extra, divisors = _avg_parts(xp, _hw(x, layout), x.dtype, kernel,
                                            padding=padding, **attrs)
    win = windows(xp, pad_hw(xp, x, padding, 0.0, extra, layout), kernel, stride, (1, 1), layout)
    reduce_taps(xp, win, xp.add, out)
    out /= divisors if layout == "NCHW" or divisors.ndim == 0 else divisors[..., None]
    return out


def _avg_grad_write(xp, out, g, *, input_hw, kernel, padding, layout="NCHW", **attrs):
    _, stride, extra, divisors = _avg_parts(xp, input_hw, g.dtype, kernel, padding=padding,
                                            **attrs)
    share = g / (divisors if layout == "NCHW" or divisors.ndim == 0 else divisors[..., None])
    (h, w), (ph, pw), (eh, ew) = input_hw, padding, extra
    shape = list(out.shape)
    h_axis = 2 if layout == "NCHW" else 1
    shape[h_axis], shape[h_axis + 1] = h + 2 * ph + eh, w + 2 * pw + ew
    padded = xp.zeros(shape, dtype=g.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):  # each tap's share of every window, one strided add
            view = padded[spatial_index(layout, *tap_slices(i, j, _hw(g, layout), stride,
                                                             (1, 1)))]
            xp.add(view, share, out=view)
    xp.copyto(out, padded[spatial_index(layout, slice(ph, ph + h), slice(pw, pw + w))])
    return out


def adaptive_ranges(n: int, out: int) -> np.ndarray:
    """(out, k) input indices of each adaptive window (PyTorch's floor/ceil bounds), shorter
    windows padded by repeating their last index: repeats change neither a max nor which
    element is the first maximum."""
    i = np.arange(out)
    start, end = (i * n) // out, ((i + 1) * n + out - 1) // out
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


def _adaptive_gather(xp, x, output_size):
    """(N, C, Ho, Wo, kh, kw) window values, and the row and column index arrays."""
    rows = xp.asarray(adaptive_ranges(x.shape[2], output_size[0]))
    cols = xp.asarray(adaptive_ranges(x.shape[3], output_size[1]))
    win = x[:, :, rows[:, :, None, None], cols[None, None, :, :]]  # (N, C, Ho, kh, Wo, kw)
    return win.transpose(0, 1, 2, 4, 3, 5), rows, cols


def _adaptive_max_write(xp, out, x, *, output_size):
    return reduce_taps(xp, _adaptive_gather(xp, x, output_size)[0], xp.maximum, out)


def _adaptive_indices_impl(xp, x, *, output_size):
    win, rows, cols = _adaptive_gather(xp, x, output_size)
    ho, wo, kw = win.shape[2], win.shape[3], win.shape[5]
    tap = first_max_tap(xp, win)
    row = rows[xp.arange(ho).reshape(-1, 1), tap // kw]
    col = cols[xp.arange(wo).reshape(1, -1), tap % kw]
    return (row * x.shape[3] + col).astype("int64", copy=False)


def _max_tap(xp, win, out, tap, step, hit):
    """Into `tap`: the tap of each window PyTorch's max pooling picks: the last NaN if the window
    holds one, else the first element equal to the maximum `out`. Integer arithmetic in place
    (`tap += (t - tap) * hit`): NumPy's masked copies are ten times slower."""
    kh, kw = win.shape[-2:]
    taps = kh * kw
    tap.fill(taps - 1)
    for t in reversed(range(taps)):  # the first equal tap wins: visit it last
        _select_tap(xp, tap, step, t, xp.equal(win[..., t // kw, t % kw], out, out=hit))
    if out.dtype.kind == "f" and xp.isnan(out.sum()):
        for t in range(taps):  # a NaN window: its last NaN
            _select_tap(xp, tap, step, t, xp.isnan(win[..., t // kw, t % kw], out=hit))


def _select_tap(xp, tap, step, t, hit) -> None:
    xp.subtract(t, tap, out=step)
    xp.multiply(step, hit, out=step)
    xp.add(tap, step, out=tap)


def _first_max_shares(xp, win, out, g, shares, scratch):
    """For windows without NaN: each tap's share of g, bit for bit (+0.0 where the tap is not its
    window's first maximum), written into `shares(t)`; yields each tap once written. The
    gradient not yet handed out (`left`, as integers) goes whole to the first tap equal to the
    maximum: four passes a tap, no tap indices."""
    left, mask, _, hit = scratch
    as_int = left.dtype
    xp.add(g, 0.0, out=left.view(g.dtype))  # PyTorch adds g to zeros: -0.0 lands as +0.0
    kh, kw = win.shape[-2:]
    for t in range(kh * kw):
        share = shares(t).view(as_int)
        xp.copyto(mask, xp.equal(win[..., t // kw, t % kw], out, out=hit), casting="unsafe")
        xp.negative(mask, out=mask)  # True -> all bits set
        xp.bitwise_and(left, mask, out=share)
        if t < kh * kw - 1:
            xp.bitwise_xor(left, share, out=left)  # (share's bits are a subset of left's)
        yield t


def _picked_tap_shares(xp, win, out, g, shares, scratch):
    """Each tap's share of g into `shares(t)` from the picked tap of each window (`_max_tap`:
    NaN windows and integer data); yields each tap once written."""
    tap, step, _, hit = scratch
    _max_tap(xp, win, out, tap, step, hit)
    as_int = g.dtype.str.replace("f", "i")
    bits = step.dtype.itemsize == g.dtype.itemsize and g.dtype.kind == "f"
    source = xp.add(g, 0.0) if bits else g  # PyTorch adds g to zeros: -0.0 lands as +0.0
    kh, kw = win.shape[-2:]
    for t in range(kh * kw):
        share = shares(t)
        if bits:  # g where this tap is the maximum, else +0.0, bit for bit (NaN and inf kept)
            mask = step.view(as_int)
            xp.copyto(mask, xp.equal(tap, t, out=hit), casting="unsafe")
            xp.negative(mask, out=mask)
            xp.bitwise_and(source.view(as_int), mask, out=share.view(as_int))
        else:
            xp.multiply(g, xp.equal(tap, t, out=hit), out=share)
        yield t


def _max_grad_write(xp, grad, g, x, out, *, kernel, stride, padding, dilation, ceil_mode,
                    layout="NCHW", scratch=None):
    stride = stride or kernel
    win = _max_windows(xp, x, kernel, stride, padding, dilation, ceil_mode, layout)
    scratch = scratch if scratch is not None else _max_grad_scratch_arrays(xp, g)
    (h, w), (ph, pw) = _hw(x, layout), padding
    (_, extra), (ho, wo) = _geometry((h, w), kernel, stride, padding, dilation, ceil_mode), \
        _hw(g, layout)
    eh, ew = extra
    if ph or pw or eh or ew:
        shape = list(grad.shape)
        h_axis = 2 if layout == "NCHW" else 1
        shape[h_axis], shape[h_axis + 1] = h + 2 * ph + eh, w + 2 * pw + ew
        padded = xp.zeros(shape, dtype=grad.dtype)
    else:
        padded = grad
    kh, kw = kernel
    # Windows that tile the input (2x2 pooling, stride 2) write disjoint cells: assign each
    # tap's share, zero only what no window covers. Overlapping windows accumulate.
    tiled = tuple(stride) == tuple(kernel) and tuple(dilation) == (1, 1) and padded is grad
    if tiled:
        grad[spatial_index(layout, slice(ho * kh, None), slice(None))] = 0
        grad[spatial_index(layout, slice(None), slice(wo * kw, None))] = 0
    elif padded is grad:
        grad.fill(0)

    def target(t):
        return padded[spatial_index(layout, *tap_slices(*divmod(t, kw), (ho, wo), stride,
                                                        dilation))]

    part = scratch[2]
    shares = target if tiled else (lambda t: part)
    fast = (g.dtype.kind == "f" and scratch[0].dtype.itemsize == g.dtype.itemsize
            and not xp.isnan(out.sum()))
    for t in (_first_max_shares if fast else _picked_tap_shares)(xp, win, out, g, shares,
                                                                  scratch):
        if not tiled:
            view = target(t)
            xp.add(view, part, out=view)
    if padded is not grad:
        xp.copyto(grad, padded[spatial_index(layout, slice(ph, ph + h), slice(pw, pw + w))])
    return grad


def _max_grad_scratch(g, x, out, **attrs):
    """Window-shaped temporaries: the picked tap, a step, one tap's share and a hit mask (the
    integers as wide as the floats, for the bitwise select)."""
    index = "int32" if g.dtype == "float32" else "int64"
    return (TensorType(g.shape, index), TensorType(g.shape, index), g,
            TensorType(g.shape, "bool"))


def _max_grad_scratch_arrays(xp, g):
    return tuple(xp.empty(t.shape, t.np_dtype) for t in _max_grad_scratch(
        TensorType.of(g), None, None))


def _max_grad_type(g, x, out, **attrs):
    expect = _max_type(x, **attrs)
    if g != expect or out != expect:
        raise ShapeError(f"gradient {g} and pooled {out} must both be {expect}")
    return x


def _max_grad_vjp(b, h, grad, g, x, out, **attrs):
    # Linear in g: the gradient of each window's value is h at its first maximum.
    if attrs["layout"] != "NCHW":  # (the index op reads NCHW)
        to = {"perm": (3, 0, 1, 2)}
        gh = _max_grad_vjp(b, b.permute(h, **to), None, b.permute(g, **to), b.permute(x, **to),
                           b.permute(out, **to), **{**attrs, "layout": "NCHW"})[0]
        return b.permute(gh, perm=(1, 2, 3, 0)), None, None
    n, c, hh, w = x.shape
    flat = (n, c, g.shape[2] * g.shape[3])
    idx = b.reshape(b.max_pool2d_indices(x, **attrs), shape=flat)
    picked = b.gather(b.reshape(h, shape=(n, c, hh * w)), idx, axis=2)
    return b.reshape(picked, shape=g.shape), None, None


# -- gradient rules --------------------------------------------------------------------------------
def _scatter_to_maxima(b, g, x, indices):
    """Each output gradient added at the input position of its window's first maximum."""
    n, c, h, w = x.shape
    flat = (n, c, g.shape[2] * g.shape[3])
    plane = b.zeros(TensorType((n, c, h * w), x.dtype))
    idx = b.reshape(indices, shape=flat)
    return b.reshape(b.scatter_add(plane, idx, b.reshape(g, shape=flat), axis=2), shape=x.shape)


define_op(
    "max_pool2d",
    attrs=MAX_ATTRS,
    shape=_max_type,
    impl=allocating(_max_write, _max_type),
    write=_max_write,
    layout_operands=(0, -1),
    vjp=lambda b, g, out, x, **attrs: (b.max_pool2d_grad(g, x, out, **attrs),),
    doc="Max over windows; padding counts as -inf.",
)
define_op(
    "max_pool2d_grad",
    attrs=MAX_ATTRS,
    arity=3,
    shape=_max_grad_type,
    impl=allocating(_max_grad_write, _max_grad_type),
    write=_max_grad_write,
    layout_operands=(0, 1, 2, -1),
    scratch=_max_grad_scratch,
    vjp=_max_grad_vjp,
    doc="Gradient of max_pool2d: each window's gradient g added at its first maximum in x "
    "(its last NaN, if any), found from the pooled values `out`.",
)
define_op(
    "max_pool2d_indices",
    attrs=MAX_ATTRS,
    shape=lambda x, **attrs: _max_type(x, **attrs, dtype="int64"),
    impl=_max_indices_impl,
    vjp=no_grad,
    doc="Flat index (row * W + col) into each input plane of the first maximum of each window.",
)
define_op(
    "avg_pool2d",
    attrs=AVG_ATTRS,
    shape=_avg_type,
    impl=allocating(_avg_write, _avg_type),
    write=_avg_write,
    layout_operands=(0, -1),
    vjp=lambda b, g, out, x, **attrs: (
        b.avg_pool2d_grad(g, input_hw=nchw(x.type, attrs["layout"]).shape[2:], **attrs),
    ),
    doc="Sum over windows divided by the window size (with count_include_pad, the zero padding "
    "counts; without, only input cells do) or by divisor_override.",
)
define_op(
    "avg_pool2d_grad",
    attrs={**AVG_ATTRS, "input_hw": Attr(PAIR)},
    shape=_avg_grad_type,
    impl=allocating(_avg_grad_write, _avg_grad_type),
    write=_avg_grad_write,
    layout_operands=(0, -1),
    vjp=lambda b, h, out, g, *, input_hw, **attrs: (b.avg_pool2d(h, **attrs),),
    doc="Gradient of avg_pool2d (its adjoint): each window's gradient / divisor spread over it.",
)
define_op(
    "adaptive_max_pool2d",
    attrs=ADAPTIVE_ATTRS,
    shape=_adaptive_type,
    impl=allocating(_adaptive_max_write, _adaptive_type),
    write=_adaptive_max_write,
    vjp=lambda b, g, out, x, *, output_size: (
        _scatter_to_maxima(b, g, x, b.adaptive_max_pool2d_indices(x, output_size=output_size)),
    ),
    doc="Max over PyTorch's adaptive windows: rows floor(i*H/Ho) to ceil((i+1)*H/Ho), alike "
    "for columns.",
)
define_op(
    "adaptive_max_pool2d_indices",
    attrs=ADAPTIVE_ATTRS,
    shape=lambda x, **attrs: _adaptive_type(x, **attrs, dtype="int64"),
    impl=_adaptive_indices_impl,
    vjp=no_grad,
    doc="Flat index (row * W + col) of the first maximum of each adaptive window.",
)
