"""2-D convolution over NCHW tensors (with groups) and its two gradient ops.

Kernels view the padded input as windows (N, C, Ho, Wo, kh, kw) with `as_strided`, which NumPy and
CuPy both have, copy them once into an im2col matrix and do one (per group batched) matrix multiply.
The gradient ops are linear maps whose own gradients are conv2d and its partners, so the set is
closed under differentiation. `conv2d_grad_input` is also the transposed convolution.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import FUSE_OUT, Attr, define_op
from ir.types import TensorType, is_float

PAIR = (tuple,)
CONV_ATTRS = {
    "stride": Attr(PAIR, (1, 1)),
    "padding": Attr(PAIR, (0, 0)),
    "dilation": Attr(PAIR, (1, 1)),
    "groups": Attr(int, 1),
}


# -- shapes ----------------------------------------------------------------------------------------
def check_pair(name, value, minimum):
    if len(value) != 2 or any(not isinstance(v, int) or v < minimum for v in value):
        raise ShapeError(f"{name} must be a pair of ints >= {minimum}, got {value}")
    return value


def out_hw(hw, kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output height and width of a window op; ShapeError if the window does not fit."""
    check_pair("kernel", kernel, 1), check_pair("stride", stride, 1)
    check_pair("padding", padding, 0), check_pair("dilation", dilation, 1)
    out = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(hw, kernel, stride, padding, dilation)
    )
    if min(out) < 1:
        raise ShapeError(
            f"window {kernel} (dilation {dilation}) does not fit input {hw} padded by {padding}"
        )
    return out


def image(x: TensorType, role="input") -> TensorType:
    if x.ndim != 4:
        raise ShapeError(f"{role} must be NCHW (4 dimensions), got {x}")
    if not is_float(x.dtype):
        raise ShapeError(f"{role} must be floating point, got {x.dtype}")
    return x


def _same_dtype(a: TensorType, b: TensorType) -> None:
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ ({a.dtype} vs {b.dtype}); insert a cast")


def _check_groups(w: TensorType, groups: int) -> None:
    if groups < 1 or w.shape[0] % groups:
        raise ShapeError(f"groups={groups} must be >= 1 and divide the weight's {w.shape[0]} "
                         "output channels")


def _conv_type(x: TensorType, w: TensorType, *, stride, padding, dilation, groups) -> TensorType:
    image(x), image(w, "weight"), _same_dtype(x, w), _check_groups(w, groups)
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(f"input has {x.shape[1]} channels, weight expects "
                         f"{w.shape[1] * groups} ({groups} group(s) of {w.shape[1]})")
    ho, wo = out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)
    return TensorType((x.shape[0], w.shape[0], ho, wo), x.dtype)


def _grad_input_type(g, w, *, input_hw, stride, padding, dilation, groups) -> TensorType:
    image(g, "gradient"), image(w, "weight"), _same_dtype(g, w), _check_groups(w, groups)
    expect = (w.shape[0], *out_hw(input_hw, w.shape[2:], stride, padding, dilation))
    if g.shape[1:] != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output (N, {expect})")
    return TensorType((g.shape[0], w.shape[1] * groups, *input_hw), g.dtype)


def _grad_weight_type(x, g, *, kernel_hw, stride, padding, dilation, groups) -> TensorType:
    image(x), image(g, "gradient"), _same_dtype(x, g)
    if groups < 1 or x.shape[1] % groups or g.shape[1] % groups:
        raise ShapeError(f"groups={groups} must divide the input's {x.shape[1]} and the "
                         f"gradient's {g.shape[1]} channels")
    expect = (x.shape[0], *out_hw(x.shape[2:], kernel_hw, stride, padding, dilation))
    if (g.shape[0], *g.shape[2:]) != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output {expect} (N, Ho, Wo)")
    return TensorType((g.shape[1], x.shape[1] // groups, *kernel_hw), x.dtype)


# -- kernels ---------------------------------------------------------------------------------------
def pad_hw(xp, x, padding, value=0.0, extra=(0, 0)):
    """`x` padded by `padding` on both sides of H and W, plus `extra` after (bottom, right)."""
    (ph, pw), (eh, ew) = padding, extra
    if not (ph or pw or eh or ew):
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)), constant_values=value)


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


def reduce_taps(xp, win, ufunc, out):
    """`out` = `ufunc` folded over the kernel taps of windows `win` (..., kh, kw), row by row:
    one vectorised operation per tap (much faster than reducing the two strided axes), in the
    order PyTorch's pooling kernels accumulate."""
    kh, kw = win.shape[-2:]
    xp.copyto(out, win[..., 0, 0])
    for t in range(1, kh * kw):
        ufunc(out, win[..., t // kw, t % kw], out=out)
    return out


def first_max_tap(xp, win):
    """The row-major tap index of each window's first maximum (NaN counts as the maximum, as in
    PyTorch), tap by tap like `reduce_taps`."""
    kh, kw = win.shape[-2:]
    best = win[..., 0, 0].copy()
    tap = xp.zeros(best.shape, dtype="int64")
    for t in range(1, kh * kw):
        value = win[..., t // kw, t % kw]
        better = (value > best) | xp.isnan(value)
        xp.copyto(best, value, where=better)
        xp.copyto(tap, t, where=better)
    return tap


def scatter_windows(xp, taps, padded_hw, stride, dilation):
    """The adjoint of `windows`: (A, B, kh, kw, Ho, Wo) window values summed into an
    (A, B, *padded_hw) array; one strided add per kernel tap, no Python loop over pixels."""
    a, b, kh, kw, ho, wo = taps.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = xp.zeros((a, b, *padded_hw), dtype=taps.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            out[:, :, rows, cols] += taps[:, :, i, j]
    return out


def im2col(xp, x, kernel, stride, padding, dilation, groups=1):
    """The windows of padded `x` as a (groups, C/groups*kh*kw, N*Ho*Wo) matrix, and (N, Ho, Wo).

    This row order makes the copy walk the input nearly in memory order, and the products with
    it plain matrix multiplies, which is what keeps conv2d and its gradients fast.
    """
    win = windows(xp, pad_hw(xp, x, padding), kernel, stride, dilation)
    n, c, ho, wo, kh, kw = win.shape
    cols = xp.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(groups, c // groups * kh * kw, -1), (n, ho, wo)


def _rows(xp, g, groups=1):
    """(N, O, Ho, Wo) -> the (groups, O/groups, N*Ho*Wo) matrix."""
    rows = xp.ascontiguousarray(g.transpose(1, 0, 2, 3))
    return rows.reshape(groups, g.shape[1] // groups, -1)


def _conv_write(xp, out, x, w, *, stride, padding, dilation, groups):
    cols, (n, ho, wo) = im2col(xp, x, w.shape[2:], stride, padding, dilation, groups)
    product = (w.reshape(groups, w.shape[0] // groups, -1) @ cols).reshape(w.shape[0], n, ho, wo)
    xp.copyto(out, product.transpose(1, 0, 2, 3))
    return out


def _grad_input_write(xp, out, g, w, *, input_hw, stride, padding, dilation, groups):
    (h, wd), (ph, pw) = input_hw, padding
    n, o, ho, wo = g.shape
    c, kh, kw = w.shape[1] * groups, *w.shape[2:]
    weight = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    taps = (weight @ _rows(xp, g, groups)).reshape(c, kh, kw, n, ho, wo)
    # Channel-major (C, N, ...) like the taps, so each tap's add reads them in memory order.
    padded = scatter_windows(
        xp, taps.transpose(0, 3, 1, 2, 4, 5), (h + 2 * ph, wd + 2 * pw), stride, dilation
    )
    xp.copyto(out, padded[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))
    return out


def _grad_weight_write(xp, out, x, g, *, kernel_hw, stride, padding, dilation, groups):
    cols, _ = im2col(xp, x, kernel_hw, stride, padding, dilation, groups)
    # (C*kh*kw, K) @ (K, O) is the fast orientation for BLAS here; transpose the small result.
    gw = cols @ _rows(xp, g, groups).transpose(0, 2, 1)
    xp.copyto(out.reshape(groups, g.shape[1] // groups, -1), gw.transpose(0, 2, 1))
    return out


def allocating(write, shape_of):
    """The reference kernel of an op with a `write` kernel: write into a fresh array."""

    def impl(xp, *arrays, **attrs):
        return write(xp, xp.empty(shape_of(*arrays, **attrs), dtype=arrays[0].dtype), *arrays,
                     **attrs)

    return impl


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


# -- ops -------------------------------------------------------------------------------------------
define_op(
    "conv2d",
    attrs=CONV_ATTRS,
    arity=2,
    fusion=FUSE_OUT,
    shape=_conv_type,
    impl=allocating(_conv_write, lambda x, w, *, stride, padding, dilation, groups: (
        x.shape[0], w.shape[0], *out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation))),
    write=_conv_write,
    vjp=_conv_vjp,
    doc="Cross-correlation of NCHW input with (O, C/groups, kh, kw) weight (no bias; add it "
    "separately); `groups` splits the channels into independent convolutions.",
)
define_op(
    "conv2d_grad_input",
    attrs={**CONV_ATTRS, "input_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_input_type,
    impl=allocating(_grad_input_write, lambda g, w, *, input_hw, groups, **_: (
        g.shape[0], w.shape[1] * groups, *input_hw)),
    write=_grad_input_write,
    vjp=_grad_input_vjp,
    doc="Gradient of conv2d w.r.t. its input: the transposed convolution of g with w.",
)
define_op(
    "conv2d_grad_weight",
    attrs={**CONV_ATTRS, "kernel_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_weight_type,
    impl=allocating(_grad_weight_write, lambda x, g, *, kernel_hw, groups, **_: (
        g.shape[1], x.shape[1] // groups, *kernel_hw)),
    write=_grad_weight_write,
    vjp=_grad_weight_vjp,
    doc="Gradient of conv2d w.r.t. its weight, from the input x and the output gradient g.",
)
