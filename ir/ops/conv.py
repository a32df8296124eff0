"""2-D convolution (with groups) and its two gradient ops, on NCHW tensors or, with
`layout="CHWN"`, on channels-first, batch-last ones.

NCHW kernels view the padded input as windows (N, C, Ho, Wo, kh, kw) with `as_strided`, which NumPy
and CuPy both have, copy them once into an im2col matrix and do one (per group batched) matrix
multiply. CHWN kernels (the layout pass moves convolution chains there) copy each kernel tap's
shifted slab of the input into the columns, contiguous runs of Wo * N values, into scratch the
planner provides, and their products come out already in CHWN: no transposes. The gradient ops are
linear maps whose own gradients are conv2d and its partners, so the set is closed under
differentiation. `conv2d_grad_input` is also the transposed convolution.
"""

from __future__ import annotations

from ir.errors import ShapeError
from ir.ops.registry import FUSE_OUT, Attr, define_op
from ir.types import TensorType, is_float

PAIR = (tuple,)
LAYOUTS = ("NCHW", "CHWN")
LAYOUT = {"layout": Attr(str, "NCHW", "NCHW, or CHWN: channels first, batch last")}
CONV_ATTRS = {
    "stride": Attr(PAIR, (1, 1)),
    "padding": Attr(PAIR, (0, 0)),
    "dilation": Attr(PAIR, (1, 1)),
    "groups": Attr(int, 1),
    **LAYOUT,
}
TO_CHWN, TO_NCHW = (1, 2, 3, 0), (3, 0, 1, 2)  # permutations between the two layouts


def nchw(t: TensorType, layout: str) -> TensorType:
    """The NCHW type of an activation stored in `layout`."""
    if layout not in LAYOUTS:
        raise ShapeError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "NCHW" or t.ndim != 4:
        return t
    return TensorType(tuple(t.shape[i] for i in TO_NCHW), t.dtype)


def stored(t: TensorType, layout: str) -> TensorType:
    """An NCHW type as stored in `layout`."""
    return t if layout == "NCHW" else TensorType(tuple(t.shape[i] for i in TO_CHWN), t.dtype)


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


def _conv_type(x: TensorType, w: TensorType, *, stride, padding, dilation, groups,
               layout) -> TensorType:
    x = nchw(x, layout)
    image(x), image(w, "weight"), _same_dtype(x, w), _check_groups(w, groups)
    if x.shape[1] != w.shape[1] * groups:
        raise ShapeError(f"input has {x.shape[1]} channels, weight expects "
                         f"{w.shape[1] * groups} ({groups} group(s) of {w.shape[1]})")
    ho, wo = out_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)
    return stored(TensorType((x.shape[0], w.shape[0], ho, wo), x.dtype), layout)


def _grad_input_type(g, w, *, input_hw, stride, padding, dilation, groups, layout) -> TensorType:
    g = nchw(g, layout)
    image(g, "gradient"), image(w, "weight"), _same_dtype(g, w), _check_groups(w, groups)
    expect = (w.shape[0], *out_hw(input_hw, w.shape[2:], stride, padding, dilation))
    if g.shape[1:] != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output (N, {expect})")
    return stored(TensorType((g.shape[0], w.shape[1] * groups, *input_hw), g.dtype), layout)


def _grad_weight_type(x, g, *, kernel_hw, stride, padding, dilation, groups,
                      layout) -> TensorType:
    x, g = nchw(x, layout), nchw(g, layout)
    image(x), image(g, "gradient"), _same_dtype(x, g)
    if groups < 1 or x.shape[1] % groups or g.shape[1] % groups:
        raise ShapeError(f"groups={groups} must divide the input's {x.shape[1]} and the "
                         f"gradient's {g.shape[1]} channels")
    expect = (x.shape[0], *out_hw(x.shape[2:], kernel_hw, stride, padding, dilation))
    if (g.shape[0], *g.shape[2:]) != expect:
        raise ShapeError(f"gradient {g} does not match the conv2d output {expect} (N, Ho, Wo)")
    return TensorType((g.shape[1], x.shape[1] // groups, *kernel_hw), x.dtype)


# -- kernels ---------------------------------------------------------------------------------------
def spatial_index(layout: str, rows, cols) -> tuple:
    """The index selecting `rows` and `cols` of the H and W axes of a `layout` array."""
    every = slice(None)
    return (every, every, rows, cols) if layout == "NCHW" else (every, rows, cols, every)


def pad_hw(xp, x, padding, value=0.0, extra=(0, 0), layout="NCHW"):
    """`x` padded by `padding` on both sides of H and W, plus `extra` after (bottom, right)."""
    (ph, pw), (eh, ew) = padding, extra
    if not (ph or pw or eh or ew):
        return x
    hw = ((ph, ph + eh), (pw, pw + ew))
    widths = ((0, 0), (0, 0), *hw) if layout == "NCHW" else ((0, 0), *hw, (0, 0))
    return xp.pad(x, widths, constant_values=value)


def windows(xp, x, kernel, stride, dilation, layout="NCHW"):
    """A strided view of the windows of `x` (no copy): (N, C, Ho, Wo, kh, kw) for NCHW,
    (C, Ho, Wo, N, kh, kw) for CHWN."""
    h_axis, w_axis = (2, 3) if layout == "NCHW" else (1, 2)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    h, w = x.shape[h_axis], x.shape[w_axis]
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    shape, strides = list(x.shape), list(x.strides)
    shape[h_axis], shape[w_axis] = ho, wo
    strides[h_axis], strides[w_axis] = x.strides[h_axis] * sh, x.strides[w_axis] * sw
    return xp.lib.stride_tricks.as_strided(
        x, shape=(*shape, kh, kw),
        strides=(*strides, x.strides[h_axis] * dh, x.strides[w_axis] * dw),
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


def _conv_write(xp, out, x, w, *, stride, padding, dilation, groups, layout, scratch=None):
    if layout == "CHWN":
        cols, _ = chwn_columns(xp, x, w.shape[2:], stride, padding, dilation, scratch)
        o = w.shape[0]
        for rows, cols_rows in _group_rows(o, cols.shape[0], groups):
            xp.matmul(w.reshape(o, -1)[rows], cols[cols_rows], out=out.reshape(o, -1)[rows])
        return out
    cols, (n, ho, wo) = im2col(xp, x, w.shape[2:], stride, padding, dilation, groups)
    product = (w.reshape(groups, w.shape[0] // groups, -1) @ cols).reshape(w.shape[0], n, ho, wo)
    xp.copyto(out, product.transpose(1, 0, 2, 3))
    return out


def _grad_input_write(xp, out, g, w, *, input_hw, stride, padding, dilation, groups, layout,
                      scratch=None):
    if layout == "CHWN":
        return _chwn_grad_input(xp, out, g, w, stride, padding, dilation, groups, scratch)
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


def _grad_weight_write(xp, out, x, g, *, kernel_hw, stride, padding, dilation, groups, layout,
                       scratch=None):
    if layout == "CHWN":
        cols, _ = chwn_columns(xp, x, kernel_hw, stride, padding, dilation, scratch)
        o = g.shape[0]
        g2 = g.reshape(o, -1)
        for rows, cols_rows in _group_rows(o, cols.shape[0], groups):
            xp.matmul(g2[rows], cols[cols_rows].T, out=out.reshape(o, -1)[rows])
        return out
    cols, _ = im2col(xp, x, kernel_hw, stride, padding, dilation, groups)
    # (C*kh*kw, K) @ (K, O) is the fast orientation for BLAS here; transpose the small result.
    gw = cols @ _rows(xp, g, groups).transpose(0, 2, 1)
    xp.copyto(out.reshape(groups, g.shape[1] // groups, -1), gw.transpose(0, 2, 1))
    return out


# -- the CHWN (channels first, batch last) kernels ---------------------------------------------------
def _group_rows(o: int, k: int, groups: int):
    """(output rows, column rows) slices of each group's product."""
    og, kg = o // groups, k // groups
    return [(slice(i * og, (i + 1) * og), slice(i * kg, (i + 1) * kg)) for i in range(groups)]


def tap_slices(i, j, out_hw_, stride, dilation):
    """The rows and columns of the input that kernel tap (i, j) reads for every output cell."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw_, stride, dilation
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def chwn_columns(xp, x, kernel, stride, padding, dilation, scratch=None):
    """(the (C*kh*kw, Ho*Wo*N) column matrix, (Ho, Wo)) of CHWN `x`: one slab copy per tap."""
    c, h, w, n = x.shape
    (kh, kw), hw = kernel, out_hw((h, w), kernel, stride, padding, dilation)
    columns, padded = (*(scratch or ()), None, None)[:2]
    if columns is None:
        columns = xp.empty((c * kh * kw, hw[0] * hw[1] * n), dtype=x.dtype)
    source = _padded_chwn(xp, x, padding, padded)
    slabs = columns.reshape(c, kh, kw, *hw, n)
    for i in range(kh):
        for j in range(kw):
            rows, cols = tap_slices(i, j, hw, stride, dilation)
            slabs[:, i, j] = source[:, rows, cols, :]
    return columns, hw


def _padded_chwn(xp, x, padding, buffer=None):
    (ph, pw), (c, h, w, n) = padding, x.shape
    if not (ph or pw):
        return x
    if buffer is None:
        buffer = xp.empty((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    buffer.fill(0)
    buffer[:, ph:ph + h, pw:pw + w, :] = x
    return buffer


def _chwn_grad_input(xp, out, g, w, stride, padding, dilation, groups, scratch):
    o, _, kh, kw = w.shape
    c, h, wd, n = out.shape
    hw = g.shape[1:3]
    taps, padded = (*(scratch or ()), None, None)[:2]
    if taps is None:
        taps = xp.empty((c * kh * kw, hw[0] * hw[1] * n), dtype=g.dtype)
    g2, w2 = g.reshape(o, -1), w.reshape(o, -1)
    for rows, taps_rows in _group_rows(o, taps.shape[0], groups):
        xp.matmul(w2[rows].T, g2[rows], out=taps[taps_rows])
    (ph, pw) = padding
    if ph or pw:
        target = padded if padded is not None else \
            xp.empty((c, h + 2 * ph, wd + 2 * pw, n), dtype=g.dtype)
    else:
        target = out
    target.fill(0)
    slabs = taps.reshape(c, kh, kw, *hw, n)
    for i in range(kh):
        for j in range(kw):
            rows, cols = tap_slices(i, j, hw, stride, dilation)
            view = target[:, rows, cols, :]
            xp.add(view, slabs[:, i, j], out=view)
    if target is not out:
        xp.copyto(out, target[:, ph:ph + h, pw:pw + wd, :])
    return out


def _columns_scratch(x: TensorType, kernel, stride, padding, dilation, layout):
    """CHWN kernels' scratch: the column matrix and, with padding, a padded copy of x."""
    if layout != "CHWN":
        return ()
    c, h, w, n = x.shape
    ho, wo = out_hw((h, w), kernel, stride, padding, dilation)
    types = [TensorType((c * kernel[0] * kernel[1], ho * wo * n), x.dtype)]
    if any(padding):
        types.append(TensorType((c, h + 2 * padding[0], w + 2 * padding[1], n), x.dtype))
    return tuple(types)


def allocating(write, type_rule):
    """The reference kernel of an op with a `write` kernel: write into a fresh array shaped by
    the op's type rule."""

    def impl(xp, *arrays, **attrs):
        t = type_rule(*(TensorType.of(a) for a in arrays), **attrs)
        return write(xp, xp.empty(t.shape, dtype=t.dtype), *arrays, **attrs)

    return impl


# -- gradient rules --------------------------------------------------------------------------------
def _conv_vjp(b, g, out, x, w, **attrs):
    return (
        b.conv2d_grad_input(g, w, input_hw=nchw(x.type, attrs["layout"]).shape[2:], **attrs),
        b.conv2d_grad_weight(x, g, kernel_hw=w.shape[2:], **attrs),
    )


def _grad_input_vjp(b, h, out, g, w, *, input_hw, **attrs):
    return b.conv2d(h, w, **attrs), b.conv2d_grad_weight(h, g, kernel_hw=w.shape[2:], **attrs)


def _grad_weight_vjp(b, h, out, x, g, *, kernel_hw, **attrs):
    input_hw = nchw(x.type, attrs["layout"]).shape[2:]
    return b.conv2d_grad_input(g, h, input_hw=input_hw, **attrs), b.conv2d(x, h, **attrs)


# -- ops -------------------------------------------------------------------------------------------
define_op(
    "conv2d",
    attrs=CONV_ATTRS,
    arity=2,
    fusion=FUSE_OUT,
    shape=_conv_type,
    impl=allocating(_conv_write, _conv_type),
    write=_conv_write,
    layout_operands=(0, -1),
    scratch=lambda x, w, *, stride, padding, dilation, groups, layout: _columns_scratch(
        x, w.shape[2:], stride, padding, dilation, layout),
    vjp=_conv_vjp,
    doc="Cross-correlation of NCHW input with (O, C/groups, kh, kw) weight (no bias; add it "
    "separately); `groups` splits the channels into independent convolutions.",
)
define_op(
    "conv2d_grad_input",
    attrs={**CONV_ATTRS, "input_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_input_type,
    impl=allocating(_grad_input_write, _grad_input_type),
    write=_grad_input_write,
    layout_operands=(0, -1),
    scratch=lambda g, w, *, input_hw, stride, padding, dilation, groups, layout: _columns_scratch(
        TensorType((w.shape[1] * groups, *input_hw, g.shape[3]), g.dtype) if layout == "CHWN"
        else g, w.shape[2:], stride, padding, dilation, layout),
    vjp=_grad_input_vjp,
    doc="Gradient of conv2d w.r.t. its input: the transposed convolution of g with w.",
)
define_op(
    "conv2d_grad_weight",
    attrs={**CONV_ATTRS, "kernel_hw": Attr(PAIR)},
    arity=2,
    shape=_grad_weight_type,
    impl=allocating(_grad_weight_write, _grad_weight_type),
    write=_grad_weight_write,
    layout_operands=(0, 1),
    scratch=lambda x, g, *, kernel_hw, stride, padding, dilation, groups, layout: (
        _columns_scratch(x, kernel_hw, stride, padding, dilation, layout)),
    vjp=_grad_weight_vjp,
    doc="Gradient of conv2d w.r.t. its weight, from the input x and the output gradient g.",
)
