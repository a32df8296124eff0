"""NaN and inf behave as in PyTorch: values and gradients of the ops and composites that select,
compare or clamp (max/min, clamp, where-based activations, softmax, pooling, logistic losses)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
from graphc.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
NAN, INF = float("nan"), float("inf")
# Rows: NaN and inf among ordinary values, -inf and NaN, ties and signed zeros.
X = [[NAN, 1.0, -2.0, INF], [-INF, 0.5, NAN, -1.0], [1.0, 1.0, 0.0, -0.0]]


def fn(lib):
    return F if lib is graphc else TF


CASES = {
    "max": lambda m, t: t.max(),
    "min": lambda m, t: t.min(),
    "max_dim": lambda m, t: t.max(1).values,
    "min_dim_keepdim": lambda m, t: t.min(1, keepdim=True).values,
    "argmax": lambda m, t: t.argmax(1),
    "argmin": lambda m, t: t.argmin(1),
    "clamp": lambda m, t: t.clamp(-1, 1),
    "clamp_min": lambda m, t: t.clamp(min=0),
    "clamp_max": lambda m, t: m.clamp(t, max=0.5),
    "clamp_tensors": lambda m, t: t.clamp(m.tensor([-1.0, 0.0, 0.0, 2.0]), m.tensor(1.0)),
    "maximum": lambda m, t: m.maximum(t, m.zeros(3, 4)),
    "minimum": lambda m, t: m.minimum(t, m.zeros(3, 4)),
    "max_other": lambda m, t: t.max(t.flip(0) if hasattr(t, "flip") else t[[2, 1, 0]]),
    "relu": lambda m, t: m.relu(t),
    "leaky_relu": lambda m, t: fn(m).leaky_relu(t, 0.1),
    "elu": lambda m, t: fn(m).elu(t),
    "prelu": lambda m, t: fn(m).prelu(t, m.tensor([0.25])),
    "softplus": lambda m, t: fn(m).softplus(t),
    "mish": lambda m, t: fn(m).mish(t),
    "silu": lambda m, t: fn(m).silu(t),
    "gelu": lambda m, t: fn(m).gelu(t),
    "sigmoid": lambda m, t: m.sigmoid(t),
    "tanh": lambda m, t: m.tanh(t),
    "abs": lambda m, t: t.abs(),
    "sign": lambda m, t: t.sign(),
    "softmax": lambda m, t: fn(m).softmax(t, 1),
    "log_softmax": lambda m, t: fn(m).log_softmax(t, 1),
    "max_pool2d": lambda m, t: fn(m).max_pool2d(t.reshape(1, 1, 3, 4), 2, 1),
    "max_pool2d_padded": lambda m, t: fn(m).max_pool2d(t.reshape(1, 1, 3, 4), 3, 2, padding=1),
    "avg_pool2d": lambda m, t: fn(m).avg_pool2d(t.reshape(1, 1, 3, 4), 2),
    "mse_loss": lambda m, t: fn(m).mse_loss(t, m.zeros(3, 4), reduction="none"),
    "l1_loss": lambda m, t: fn(m).l1_loss(t, m.zeros(3, 4), reduction="none"),
    "bce_with_logits": lambda m, t: fn(m).binary_cross_entropy_with_logits(
        t, m.ones(3, 4), reduction="none"),
}
# amax/amin: PyTorch's gradient is NaN everywhere in a slice whose extremum is NaN; graphc's
# reduction op uses max()'s rule (the NaNs share it), so only the values are compared.
VALUE_ONLY = {
    "amax": lambda m, t: t.amax(1),
    "amin": lambda m, t: t.amin(),
}


def run(lib, f, grad: bool):
    t = lib.tensor(X, requires_grad=grad)
    out = f(lib, t)
    if grad:
        (out * lib.ones(tuple(out.shape))).sum().backward()
        return out.detach().numpy(), t.grad.numpy()
    return (out.numpy(),)


@pytest.mark.parametrize("name", sorted(CASES) + sorted(VALUE_ONLY))
def test_values_and_gradients_match_pytorch(name):
    f = CASES.get(name) or VALUE_ONLY[name]
    grad = name in CASES and name not in ("argmax", "argmin", "sign")
    expected = run(torch, f, grad)
    with warnings.catch_warnings(record=True) as caught:
        # pytest drops the filters set while it imports test modules: install graphc's again,
        # in front of one that records everything else.
        warnings.simplefilter("always")
        graphc._hide_kernel_warnings()
        got = run(graphc, f, grad)
    assert not caught, f"NumPy's warnings reached the user: {caught[0].message}"
    for what, e, g in zip(("value", "gradient"), expected, got):
        assert e.shape == g.shape, (what, e.shape, g.shape)
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6, equal_nan=True,
                                   err_msg=f"{name}: {what}")


def test_softmax_of_all_minus_inf_rows_is_nan_as_in_pytorch():
    x = [[-INF, -INF], [0.0, -INF], [INF, 1.0]]
    for name in ("softmax", "log_softmax"):
        expected = getattr(TF, name)(torch.tensor(x), 1).numpy()
        with warnings.catch_warnings():
            graphc._hide_kernel_warnings()  # as after `import graphc` (pytest resets filters)
            got = getattr(F, name)(graphc.tensor(x), 1).numpy()
        np.testing.assert_array_equal(got, expected)


def test_compiled_graphs_agree_with_eager_on_nan_and_inf():
    x = graphc.tensor(X)

    def model(t):
        return (F.elu(t.clamp(-1, 1)) + F.softplus(t).max(1, keepdim=True).values,
                graphc.maximum(t, graphc.zeros(4)))

    for got, expected in zip(graphc.compile(model, x)(x), model(x)):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_logistic_regression_from_zero_weights_gets_pytorchs_gradient():
    # A zero logit is exactly where max(x, 0) and |x| have kinks: the loss gradient must be
    # sigmoid(0) - target there, not -target.
    target = [1.0, 0.0, 1.0]
    w = graphc.zeros(3, requires_grad=True)
    F.binary_cross_entropy_with_logits(w, graphc.tensor(target)).backward()
    tw = torch.zeros(3, requires_grad=True)
    TF.binary_cross_entropy_with_logits(tw, torch.tensor(target)).backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)
