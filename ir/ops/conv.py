"""2-D convolution and pooling over NCHW tensors (groups=1), with their gradient ops.

Kernels view the padded input as windows (N, C, Ho, Wo, kh, kw) with `as_strided`, which NumPy and
CuPy both have, copy them once into an im2col matrix and do one matrix multiply.
The gradient ops are linear maps whose own gradients are conv2d and its partners, so the set is
closed under differentiation; max pooling differentiates through `max_pool2d_indices` + scatter_add.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import FUSE_OUT, Attr, define_op, no_grad
from ir.types import TensorType, is_float

PAIR = (tuple,)
CONV_ATTRS = {
    "stride": Attr(PAIR, (1, 1)),
    "padding": Attr(PAIR, (0, 0)),
    "dilation": Attr(PAIR, (1, 1)),
}
POOL_ATTRS = {
    "kernel": Attr(PAIR),
    "stride": Attr((tuple, type(None)), None, "default: the kernel size"),
    "padding": Attr(PAIR, (0, 0)),
    "dilation": Attr(PAIR, (1, 1)),
}


# -- shapes ----------------------------------------------------------------------------------------
def _pair(name, value, minimum):
    if len(value) != 2 or any(not isinstance(v, int) or v < minimum for v in value):
        raise ShapeError(f"{name} must be a pair of ints >= {minimum}, got {value}")
    return value


def out_hw(hw, kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output height and width of a window op; ShapeError if the window does not fit."""
    _pair("kernel", kernel, 1), _pair("stride", stride, 1)
    _pair("padding", padding, 0), _pair("dilation", dilation, 1)
    out = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(hw, kernel, stride, padding, dilation)
    )
    if min(out) < 1:
        raise ShapeError(
            f"window {kernel} (dilation {dilation}) does not fit input {hw} padded by {padding}"
        )
    return out


def _image(x: TensorType, role="input") -> TensorType:
    if x.ndim != 4:
        raise ShapeError(f"{role} must be NCHW (4 dimensions), got {x}")
    if not is_float(x.dtype):
        raise ShapeError(f"{role} must be floating point, got {x.dtype}")
    return x


def _same_dtype(a: TensorType, b: TensorType) -> None:
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ ({a.dtype} vs {b.dtype}); insert a cast")


def _conv_type(x: TensorType, w: TensorType, *, stride, padding, dilation) -> TensorType:
    _image(x), _image(w, "weight"), _same_dtype(x, w)
    if x.shape[1] != w.shape[1]:
        raise ShapeError(f"input has {x.shape[1]} channels, weight expects {w.shape[1]}")
    ho, wo = out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)
    return TensorType((x.shape[0], w.shape[0], ho, wo), x.dtype)


def _grad_input_type(g, w, *, input_hw, stride, padding, dilation) -> TensorType:
    _image(g, "gradient"), _image(w, "weight"), _same_dtype(g, w)
    expect = (w.shape[0], *out_hw(input_hw, w.shape[2:], stride, padding, dilation))
    if g.shape[1:] != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output (N, {expect})")
    return TensorType((g.shape[0], w.shape[1], *input_hw), g.dtype)


def _grad_weight_type(x, g, *, kernel_hw, stride, padding, dilation) -> TensorType:
    _image(x), _image(g, "gradient"), _same_dtype(x, g)
    expect = (x.shape[0], *out_hw(x.shape[2:], kernel_hw, stride, padding, dilation))
    if (g.shape[0], *g.shape[2:]) != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output {expect} (N, Ho, Wo)")
    return TensorType((g.shape[1], x.shape[1], *kernel_hw), x.dtype)


def _pool_type(x, *, kernel, stride, padding, dilation, dtype=None) -> TensorType:
    _image(x)
    stride = stride or kernel
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ShapeError(f"padding {padding} must be at most half the kernel {kernel}")
    return TensorType(
        (*x.shape[:2], *out_hw(x.shape[2:], kernel, stride, padding, dilation)), dtype or x.dtype
    )


# -- kernels ---------------------------------------------------------------------------------------
def _pad(xp, x, padding, value=0.0):
    if not any(padding):
        return x
    (ph, pw) = padding
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def windows(xp, x, kernel, stride, dilation):
    """A (N, C, Ho, Wo, kh, kw) strided view of the windows of `x` (no copy)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    s = x.strides
    return xp.lib.stride_tricks.as_strided(
        x,
        shape=(n, c, ho, wo, kh, kw),
        strides=(s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw),
    )


def im2col(xp, x, kernel, stride, padding, dilation):
    """The windows of padded `x` as a (C*kh*kw, N*Ho*Wo) matrix, and (N, Ho, Wo).

    This row order makes the copy walk the input nearly in memory order, and the products with
    it plain matrix multiplies, which is what keeps conv2d and its gradients fast.
    """
    win = windows(xp, _pad(xp, x, padding), kernel, stride, dilation)
    n, c, ho, wo, kh, kw = win.shape
    cols = xp.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, -1)
    return cols, (n, ho, wo)


def _rows(xp, g):
    """(N, O, Ho, Wo) -> the (O, N*Ho*Wo) matrix."""
    return xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(g.shape[1], -1)


def _conv_impl(xp, x, w, *, stride, padding, dilation):
    cols, (n, ho, wo) = im2col(xp, x, w.shape[2:], stride, padding, dilation)
    out = (w.reshape(w.shape[0], -1) @ cols).reshape(w.shape[0], n, ho, wo)
    return xp.ascontiguousarray(out.transpose(1, 0, 2, 3))


def _grad_input_impl(xp, g, w, *, input_hw, stride, padding, dilation):
    (h, wd), (ph, pw), (sh, sw), (dh, dw) = input_hw, padding, stride, dilation
    n, o, ho, wo = g.shape
    c, kh, kw = w.shape[1:]
    taps = (w.reshape(o, -1).T @ _rows(xp, g)).reshape(c, kh, kw, n, ho, wo)
    out = xp.zeros((c, n, h + 2 * ph, wd + 2 * pw), dtype=g.dtype)  # channel-major, like taps
    # One strided add per kernel tap: kh*kw adds of whole images, no Python loop over pixels.
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            out[:, :, rows, cols] += taps[:, i, j]
    return xp.ascontiguousarray(out[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))


def _grad_weight_impl(xp, x, g, *, kernel_hw, stride, padding, dilation):
    cols, _ = im2col(xp, x, kernel_hw, stride, padding, dilation)
    # (C*kh*kw, K) @ (K, O) is the fast orientation for BLAS here; transpose the small result.
    gw = cols @ _rows(xp, g).T
    return xp.ascontiguousarray(gw.T).reshape(g.shape[1], x.shape[1], *kernel_hw)


def _max_pool_impl(xp, x, *, kernel, stride, padding, dilation):
    win = windows(xp, _pad(xp, x, padding, -float("inf")), kernel, stride or kernel, dilation)
    return win.max(axis=(4, 5))


def _max_pool_indices_impl(xp, x, *, kernel, stride, padding, dilation):
    stride = stride or kernel
    win = windows(xp, _pad(xp, x, padding, -float("inf")), kernel, stride, dilation)
    n, c, ho, wo, kh, kw = win.shape
    tap = win.reshape(n, c, ho, wo, kh * kw).argmax(axis=-1)  # first maximum, as PyTorch
    rows = xp.arange(ho).reshape(-1, 1) * stride[0] - padding[0] + (tap // kw) * dilation[0]
    cols = xp.arange(wo).reshape(1, -1) * stride[1] - padding[1] + (tap % kw) * dilation[1]
    return (rows * x.shape[3] + cols).astype("int64", copy=False)


def _avg_pool_impl(xp, x, *, kernel, stride, padding, dilation):
    win = windows(xp, _pad(xp, x, padding), kernel, stride or kernel, dilation)
    return win.mean(axis=(4, 5))


# -- gradient rules --------------------------------------------------------------------------------
def _conv_vjp(b, g, out, x, w, **attrs):
    return (
        b.conv2d_grad_input(g, w, input_hw=x.shape[2:], **attrs),
        b.conv2d_grad_weight(x, g, kernel_hw=w.shape[2:], **attrs),
    )


def _grad_input_vjp(b, h, out, g, w, *, input_hw, **attrs):
    return b.conv2d(h, w, **attrs), b.conv2d_grad_weight(h, g, kernel_hw=w.shape[2:], **attrs)


def _grad_weight_vjp(b, h, out, x, g, *, kernel_hw, **attrs):
    return b.conv2d_grad_input(g, h, input_hw=x.shape[2:], **attrs), b.conv2d(x, h, **attrs)


def _max_pool_vjp(b, g, out, x, **attrs):
    n, c, h, w = x.shape
    flat = (n, c, out.shape[2] * out.shape[3])
    idx = b.reshape(b.max_pool2d_indices(x, **attrs), shape=flat)
    plane = b.zeros(TensorType((n, c, h * w), x.dtype))
    return (b.reshape(b.scatter_add(plane, idx, b.reshape(g, shape=flat), axis=2), shape=x.shape),)


def _avg_pool_vjp(b, g, out, x, *, kernel, stride, padding, dilation):
    # Average pooling is a convolution of each channel with a constant 1/(kh*kw) kernel.
    n, c, h, w = x.shape
    per_channel = b.reshape(g, shape=(n * c, 1, *g.shape[2:]))
    weight = b.emit(
        "full", shape=(1, 1, *kernel), dtype=x.dtype, value=1.0 / (kernel[0] * kernel[1])
    )
    gx = b.conv2d_grad_input(
        per_channel,
        weight,
        input_hw=(h, w),
        stride=stride or kernel,
        padding=padding,
        dilation=dilation,
    )
    return (b.reshape(gx, shape=x.shape),)


# -- ops -------------------------------------------------------------------------------------------
define_op(
    "conv2d",
    attrs=CONV_ATTRS,
    arity=2,
    fusion=FUSE_OUT,
    shape=_conv_type,
    impl=_conv_impl,
    vjp=_conv_vjp,
    doc="Cross-correlation of NCHW input with OIHW weight (no bias; add it separately).",
)
define_op(
    "conv2d_grad_input",
    attrs={**CONV_ATTRS, "input_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_input_type,
    impl=_grad_input_impl,
    vjp=_grad_input_vjp,
    doc="Gradient of conv2d w.r.t. its input (the transposed convolution of g with w).",
)
define_op(
    "conv2d_grad_weight",
    attrs={**CONV_ATTRS, "kernel_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_weight_type,
    impl=_grad_weight_impl,
    vjp=_grad_weight_vjp,
    doc="Gradient of conv2d w.r.t. its weight, from the input x and the output gradient g.",
)
define_op(
    "max_pool2d",
    attrs=POOL_ATTRS,
    shape=_pool_type,
    impl=_max_pool_impl,
    vjp=_max_pool_vjp,
    doc="Max over windows; padding counts as -inf.",
)
define_op(
    "max_pool2d_indices",
    attrs=POOL_ATTRS,
    shape=lambda x, **attrs: _pool_type(x, **attrs, dtype="int64"),
    impl=_max_pool_indices_impl,
    vjp=no_grad,
    doc="Flat index (row * W + col) into each input plane of the first maximum of each window.",
)
define_op(
    "avg_pool2d",
    attrs=POOL_ATTRS,
    shape=_pool_type,
    impl=_avg_pool_impl,
    vjp=_avg_pool_vjp,
    doc="Mean over windows; zero padding counts in the mean (PyTorch's count_include_pad=True).",
)
