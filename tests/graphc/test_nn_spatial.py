"""Convolution, pooling and resampling layers against PyTorch in float64: values and gradients,
PyTorch's state_dict loaded; traced graphs equal eager results; bad inputs raise PyTorch's errors
naming the user's line."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import functional as F
from ir.ops.registry import get_op
from runtime import run_graph

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # PyTorch's notes on its fast paths

# name -> (constructor taking an nn namespace, input shape)
LAYERS = {
    "conv2d_same": (lambda nn: nn.Conv2d(3, 4, 3, padding="same"), (2, 3, 6, 5)),
    "conv2d_same_even_dilated": (
        lambda nn: nn.Conv2d(3, 4, (4, 2), padding="same", dilation=(1, 3)), (2, 3, 7, 8)),
    "conv2d_valid": (lambda nn: nn.Conv2d(3, 4, 3, padding="valid"), (2, 3, 6, 5)),
    "conv2d_groups": (lambda nn: nn.Conv2d(4, 6, 3, groups=2, padding=1), (2, 4, 5, 5)),
    "conv2d_depthwise": (lambda nn: nn.Conv2d(4, 8, 3, groups=4, stride=2), (2, 4, 7, 7)),
    "conv2d_dilated": (lambda nn: nn.Conv2d(2, 3, 3, dilation=2, padding=(1, 2)), (2, 2, 9, 8)),
    "conv2d_unbatched": (lambda nn: nn.Conv2d(2, 3, 3), (2, 5, 5)),
    "conv1d": (lambda nn: nn.Conv1d(3, 5, 3, stride=2, padding=1), (2, 3, 11)),
    "conv1d_same_groups": (lambda nn: nn.Conv1d(4, 4, 4, padding="same", groups=4), (2, 4, 9)),
    "conv1d_unbatched": (lambda nn: nn.Conv1d(3, 2, 2, bias=False), (3, 7)),
    "conv_transpose2d": (lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1,
                                                       output_padding=1), (2, 4, 4, 5)),
    "conv_transpose2d_dcgan": (lambda nn: nn.ConvTranspose2d(6, 4, 4, 2, 1, bias=False),
                               (2, 6, 4, 4)),
    "conv_transpose2d_groups_dilated": (
        lambda nn: nn.ConvTranspose2d(4, 6, (3, 2), groups=2, dilation=(2, 1)), (2, 4, 3, 4)),
    "conv_transpose1d": (lambda nn: nn.ConvTranspose1d(3, 2, 3, stride=3), (2, 3, 5)),
    "max_pool2d_ceil": (lambda nn: nn.MaxPool2d(3, 2, ceil_mode=True), (2, 3, 8, 7)),
    "max_pool2d_ceil_padded": (lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 6, 7)),
    "max_pool2d_dilated": (lambda nn: nn.MaxPool2d(2, 1, dilation=2), (2, 3, 6, 6)),
    "max_pool1d": (lambda nn: nn.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 10)),
    "avg_pool2d_ceil": (lambda nn: nn.AvgPool2d(3, 2, ceil_mode=True), (2, 3, 8, 7)),
    "avg_pool2d_ceil_padded": (lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 3, 6, 7)),
    "avg_pool2d_exclude_pad": (lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False),
                               (2, 3, 7, 6)),
    "avg_pool2d_divisor": (lambda nn: nn.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    "avg_pool2d_all_options": (
        lambda nn: nn.AvgPool2d((3, 2), (2, 1), (1, 1), True, False, None), (2, 2, 8, 5)),
    "avg_pool1d": (lambda nn: nn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 10)),
    "adaptive_avg_pool2d_divides": (lambda nn: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 6)),
    "adaptive_avg_pool2d": (lambda nn: nn.AdaptiveAvgPool2d((4, 3)), (2, 3, 7, 5)),
    "adaptive_avg_pool2d_none": (lambda nn: nn.AdaptiveAvgPool2d((None, 3)), (2, 3, 5, 7)),
    "adaptive_avg_pool2d_global": (lambda nn: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 7)),
    "adaptive_avg_pool1d": (lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 9)),
    "adaptive_max_pool2d": (lambda nn: nn.AdaptiveMaxPool2d((4, 3)), (2, 3, 7, 5)),
    "adaptive_max_pool2d_divides": (lambda nn: nn.AdaptiveMaxPool2d(2), (2, 3, 6, 4)),
    "adaptive_max_pool2d_larger": (lambda nn: nn.AdaptiveMaxPool2d((9, 4)), (2, 3, 7, 3)),
    "adaptive_max_pool1d": (lambda nn: nn.AdaptiveMaxPool1d(4), (2, 3, 9)),
    "upsample_nearest": (lambda nn: nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    "upsample_nearest_size": (lambda nn: nn.Upsample(size=(7, 3)), (2, 3, 4, 5)),
    "upsample_nearest_exact": (lambda nn: nn.Upsample(size=(7, 9), mode="nearest-exact"),
                               (2, 3, 4, 5)),
    "upsample_bilinear": (lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
    "upsample_bilinear_corners": (
        lambda nn: nn.Upsample(size=(7, 3), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    "upsample_bilinear_fraction": (
        lambda nn: nn.Upsample(scale_factor=1.7, mode="bilinear"), (2, 3, 4, 5)),
    "upsample_bicubic": (lambda nn: nn.Upsample(size=(7, 8), mode="bicubic"), (2, 3, 4, 5)),
    "upsample_bicubic_corners": (
        lambda nn: nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True), (1, 2, 3, 4)),
    "upsample_linear": (lambda nn: nn.Upsample(scale_factor=2.5, mode="linear"), (2, 3, 4)),
    "upsample_trilinear": (lambda nn: nn.Upsample(size=(3, 4, 5), mode="trilinear"),
                           (1, 2, 2, 3, 4)),
    "upsample_nearest_3d": (lambda nn: nn.Upsample(scale_factor=(2, 1, 3)), (1, 2, 2, 3, 2)),
    "upsampling_bilinear2d": (lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 3)),
    "upsampling_nearest2d": (lambda nn: nn.UpsamplingNearest2d(size=5), (1, 2, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_equals_pytorch(name, parity):
    make, shape = LAYERS[name]
    x = np.random.default_rng(1).standard_normal(shape)
    if "max" in name:  # ties: both must pick the first maximum
        x = np.round(x * 2) / 2
    parity.check_layer(make, x)


@pytest.mark.parametrize("name", ["conv2d_same_even_dilated", "conv2d_depthwise", "max_pool1d",
                                  "avg_pool2d_all_options", "adaptive_avg_pool2d",
                                  "adaptive_max_pool2d", "upsample_bicubic",
                                  "conv_transpose2d"])
def test_traced_layer_equals_eager(name):
    make, shape = LAYERS[name]
    layer = make(nn).double()
    x = np.random.default_rng(2).standard_normal(shape)
    graph = graphc.trace(layer, graphc.from_numpy(x))
    params = {k: v.numpy() for k, v in layer.state_dict().items()}
    (out,) = run_graph(graph, [x], params)
    np.testing.assert_allclose(out, layer(graphc.from_numpy(x)).detach().numpy(), rtol=1e-13)


def test_conv_transpose_output_size_chooses_output_padding(parity):
    theirs, mine = parity.twins(lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1))
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4))
    for size in [(7, 7), (8, 7), [1, 2, 8, 8]]:
        parity.check(theirs, mine, x, call=lambda m, x, size=size: m(x, output_size=size))
    with pytest.raises(ValueError, match="valid sizes range from"):
        mine(graphc.from_numpy(x), output_size=(9, 9))


def test_max_pool_indices_and_unpool(parity):
    rng = np.random.default_rng(3)
    for kernel, stride, size in [(2, 2, (2, 3, 6, 8)), (3, 2, (2, 3, 7, 7))]:
        x = np.round(rng.standard_normal(size) * 2) / 2

        def pool_unpool(nn, x, kernel=kernel, stride=stride):
            out, idx = nn.MaxPool2d(kernel, stride, return_indices=True)(x)
            return out, idx, nn.MaxUnpool2d(kernel, stride)(out, idx, output_size=x.shape)

        torch = parity.torch
        tx = torch.from_numpy(x.copy()).requires_grad_()
        gx = graphc.from_numpy(x.copy()).requires_grad_()
        t_res, g_res = pool_unpool(torch.nn, tx), pool_unpool(nn, gx)
        np.testing.assert_array_equal(g_res[1].numpy(), t_res[1].numpy())
        np.testing.assert_array_equal(g_res[2].detach().numpy(), t_res[2].detach().numpy())
        w = rng.standard_normal(tuple(t_res[2].shape))
        (t_res[2] * torch.from_numpy(w)).sum().backward()
        (g_res[2] * graphc.from_numpy(w)).sum().backward()
        if stride == kernel:  # overlapping windows: PyTorch's unpool gradient counts repeats twice
            np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("return_indices", [False, True])
def test_pool1d_and_adaptive_indices_equal_pytorch(return_indices, parity):
    torch = parity.torch
    x = np.round(np.random.default_rng(5).standard_normal((2, 3, 9, 7)) * 2) / 2
    calls = [
        lambda F, x: F.max_pool1d(x[:, :, 0], 3, 2, 1, return_indices=return_indices),
        lambda F, x: F.adaptive_max_pool2d(x, (4, 5), return_indices),
        lambda F, x: F.adaptive_max_pool1d(x[0], 4, return_indices),
        lambda F, x: F.max_pool2d(x[0], 2, return_indices=return_indices),
    ]
    for call in calls:
        theirs = call(torch.nn.functional, torch.from_numpy(x))
        mine = call(F, graphc.from_numpy(x))
        for t, g in zip(flat(theirs), flat(mine)):
            np.testing.assert_array_equal(g.numpy(), t.numpy())


def flat(value):
    return value if isinstance(value, tuple) else (value,)


def test_functional_forms_equal_pytorch(parity):
    torch = parity.torch
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3)), \
        rng.standard_normal(6)
    cases = [
        lambda F, x, w, b: F.conv2d(x, w, b, 1, "same", 2, 2),
        lambda F, x, w, b: F.conv2d(x, w, None, (2, 1), (1, 0), 1, 2),
        lambda F, x, w, b: F.conv_transpose2d(x[:, :, :4, :4], w[:4], b[:4], 2, 1, 1, 2),
        lambda F, x, w, b: F.interpolate(x, scale_factor=(1.5, 0.5), mode="bilinear"),
        lambda F, x, w, b: F.interpolate(x, size=4, mode="area"),
        lambda F, x, w, b: F.interpolate(x, scale_factor=1.4, recompute_scale_factor=True),
        lambda F, x, w, b: F.avg_pool2d(x, 3, 2, 1, True, True, 2),
    ]
    for case in cases:
        tensors = [torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b)]
        mine = [graphc.from_numpy(a.copy()).requires_grad_() for a in (x, w, b)]
        t, g = case(torch.nn.functional, *tensors), case(F, *mine)
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-12,
                                   atol=1e-13)
        weight = rng.standard_normal(tuple(t.shape))
        (t * torch.from_numpy(weight)).sum().backward()
        (g * graphc.from_numpy(weight)).sum().backward()
        for a, e in zip(mine, tensors):
            expected = np.zeros(tuple(e.shape)) if e.grad is None else e.grad.numpy()
            got = np.zeros(expected.shape) if a.grad is None else a.grad.numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_float32_layers_close_to_pytorch(parity):
    for name in ("conv2d_depthwise", "upsample_bilinear_fraction", "upsample_nearest_exact",
                 "avg_pool2d_all_options", "conv_transpose2d"):
        make, shape = LAYERS[name]
        theirs, mine = parity.twins(make, double=False)
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        parity.check(theirs, mine, x, rtol=2e-5, atol=2e-6, grad=False)


# -- errors as PyTorch's, naming the user's line ----------------------------------------------------
ERRORS = [
    (lambda nn, t: nn.Conv2d(3, 4, 3)(t(2, 5, 8, 8)), RuntimeError,
     ("Given groups=1, weight of size [4, 3, 3, 3], expected input[2, 5, 8, 8] to have 3 channels, "
     "but got 5 channels instead")),
    (lambda nn, t: nn.Conv2d(3, 4, 3)(t(8, 8)), RuntimeError,
     "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [8, 8]"),
    (lambda nn, t: nn.Conv2d(3, 4, 3)(t(1, 3, 2, 2)), RuntimeError,
     ("Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size "
     "can't be greater than actual input size")),
    (lambda nn, t: nn.Conv1d(3, 4, 3)(t(1, 3, 5, 5)), RuntimeError,
     ("Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
     "[1, 3, 5, 5]")),
    (lambda nn, t: nn.ConvTranspose2d(2, 3, 3)(t(1, 3, 4, 4)), RuntimeError,
     ("Given transposed=1, weight of size [2, 3, 3, 3], expected input[1, 3, 4, 4] to have 2 "
     "channels, but got 3 channels instead")),
    (lambda nn, t: nn.Upsample(scale_factor=2, mode="linear")(t(1, 3, 4, 4)), NotImplementedError,
     "Got 4D input, but linear mode needs 3D input"),
    (lambda nn, t: nn.Upsample()(t(1, 3, 4, 4)), ValueError,
     "either size or scale_factor should be defined"),
    (lambda nn, t: nn.GroupNorm(2, 6)(t(2, 4, 5)), RuntimeError,
     ("Expected weight to be a vector of size equal to the number of channels in input, but got "
     "weight of shape [6] and input of shape [2, 4, 5]")),
    (lambda nn, t: nn.BatchNorm2d(3)(t(2, 4, 5, 5)), RuntimeError,
     "running_mean should contain 4 elements not 3"),
    (lambda nn, t: nn.BatchNorm1d(3)(t(1, 3)), ValueError,
     "Expected more than 1 value per channel when training, got input size torch.Size([1, 3])"),
    (lambda nn, t: nn.LayerNorm(6)(t(3, 5)), RuntimeError,
     "Given normalized_shape=[6], expected input with shape [*, 6], but got input of size[3, 5]"),
    (lambda nn, t: nn.functional.max_pool2d(t(5), 2), RuntimeError,
     "non-empty 3D or 4D (batch mode) tensor expected for input"),
    (lambda nn, t: nn.functional.max_pool1d(t(5), 2), RuntimeError,
     ("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, "
     "but got:[5]")),
    (lambda nn, t: nn.AvgPool1d(2)(t(5)), RuntimeError,
     ("Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while "
     "checking arguments for avg_pool1d)")),
    (lambda nn, t: nn.MaxPool2d(2, padding=2)(t(1, 1, 3, 3)), RuntimeError,
     ("pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and "
     "dilation=1")),
    (lambda nn, t: nn.AvgPool2d(2)(t(1, 1, 1, 5)), RuntimeError,
     "Given input size: (1x1x5). Calculated output size: (1x0x2). Output size is too small"),
    (lambda nn, t: nn.MaxPool2d(2, dilation=3)(t(2, 1, 3, 3)), RuntimeError,
     "Given input size: (1x3x3). Calculated output size: (1x0x0). Output size is too small"),
    (lambda nn, t: nn.MaxPool1d(2)(t(1, 1, 1)), RuntimeError,
     "max_pool1d() Invalid computed output size: 0"),
    (lambda nn, t: nn.AdaptiveMaxPool2d(2)(t(3)), RuntimeError,
     "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [3]"),
    (lambda nn, t: nn.AdaptiveAvgPool2d(2)(t(3)), RuntimeError,
     "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [3]"),
    (lambda nn, t: nn.Dropout1d()(t(2, 3, 4, 5)), RuntimeError,
     "dropout1d: Expected 2D or 3D input, but received a 4D input."),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_bad_input_raises_pytorchs_error_with_the_user_line(index, parity):
    parity.check_error(*ERRORS[index], test_file="test_nn_spatial.py")


@pytest.mark.parametrize("make, message", [
    (lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding="same"),
     "padding='same' is not supported for strided convolutions"),
    (lambda nn: nn.Conv2d(3, 4, 3, groups=2), "in_channels must be divisible by groups"),
    (lambda nn: nn.Conv2d(3, 4, 3, padding="full"), "Invalid padding string 'full'"),
    (lambda nn: nn.GroupNorm(4, 6), "num_channels (6) must be divisible by num_groups (4)"),
])
def test_bad_arguments_raise_pytorchs_error(make, message, parity):
    for lib in (parity.torch.nn, nn):
        with pytest.raises(ValueError, match=re.escape(message)):
            make(lib)


def test_max_pooling_takes_nan_as_the_maximum_as_pytorch(parity):
    torch = parity.torch
    x = np.random.default_rng(7).standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 1, 2, 3] = x[0, 1, 3, 3] = np.nan
    for call in (lambda F, x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
                 lambda F, x: F.adaptive_max_pool2d(x, (4, 4), return_indices=True)):
        (t_out, t_idx), (g_out, g_idx) = (call(torch.nn.functional, torch.from_numpy(x)),
                                          call(F, graphc.from_numpy(x)))
        np.testing.assert_array_equal(g_idx.numpy(), t_idx.numpy())
        np.testing.assert_array_equal(g_out.numpy(), t_out.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("window", [(2, 2, 0), (3, 2, 1), (2, 1, 0)])  # (kernel, stride, padding)
@pytest.mark.parametrize("nan_input", [False, True])
def test_max_pooling_gradient_lands_on_the_first_maximum_bit_for_bit(dtype, window, nan_input,
                                                                     parity):
    """Ties (small integers), NaN/inf/-0.0 in the incoming gradient and NaN windows: the input
    gradient equals PyTorch's, eager and in the batch-last kernel O2 runs; bit for bit where
    windows tile the input (overlapping windows add their shares in another order)."""
    torch = parity.torch
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, (3, 2, 6, 6)).astype(dtype)
    if nan_input:
        x[0, 1, 2, 3] = np.nan
    kernel, stride, padding = window
    out_hw = (6 + 2 * padding - kernel) // stride + 1
    g = rng.standard_normal((3, 2, out_hw, out_hw)).astype(dtype)
    g.reshape(-1)[:5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]

    def grad_of(lib, pool, x):
        t = (torch.tensor(x, requires_grad=True) if lib is torch
             else graphc.tensor(x, requires_grad=True))
        (pool(t) * (torch.tensor(g) if lib is torch else graphc.tensor(g))).sum().backward()
        return t.grad.numpy()

    want = grad_of(torch, lambda t: torch.nn.functional.max_pool2d(t, kernel, stride, padding), x)
    eager = grad_of(graphc, lambda t: F.max_pool2d(t, kernel, stride, padding), x)
    def same(got):
        if stride == kernel:
            as_int = f"i{x.itemsize}"
            np.testing.assert_array_equal(np.ascontiguousarray(got).view(as_int),
                                          want.view(as_int))
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13)

    same(eager)
    # the batch-last kernel compiled steps run at O2
    attrs = {"kernel": (kernel, kernel), "stride": (stride, stride), "padding": (padding, padding),
             "dilation": (1, 1), "ceil_mode": False, "layout": "CHWN"}
    pool, grad = get_op("max_pool2d"), get_op("max_pool2d_grad")
    chwn = [np.ascontiguousarray(a.transpose(1, 2, 3, 0)) for a in (g, x)]
    out = pool.impl(np, chwn[1], **attrs)
    batch_last = grad.impl(np, chwn[0], chwn[1], out, **attrs).transpose(3, 0, 1, 2)
    same(batch_last)
