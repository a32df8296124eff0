"""graphc.nn.utils.clip_grad_norm_ / clip_grad_value_ against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

WEIGHTS = [np.arange(12.0).reshape(3, 4) / 7, np.linspace(-1, 1, 5)]
GRADS = [np.cos(np.arange(12.0)).reshape(3, 4) * 10, np.array([3.0, -4.0, 0.0, 1e-3, -8.0])]


def with_grads(lib, grads=GRADS):
    params = [lib.tensor(w, requires_grad=True) for w in WEIGHTS]
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g)
    return params


@pytest.mark.parametrize("max_norm", [1.0, 1e3])  # clipped, and left as it is
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, float("inf")])
def test_clip_grad_norm_equals_pytorch(max_norm, norm_type, parity):
    torch = parity.torch
    ours, theirs = with_grads(graphc), with_grads(torch)
    total = graphc.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_one_tensor_no_gradients_and_non_finite_norms(parity):
    torch = parity.torch
    (ours, *_), (theirs, *_) = with_grads(graphc), with_grads(torch)
    np.testing.assert_allclose(graphc.nn.utils.clip_grad_norm_(ours, 0.5).numpy(),
                               torch.nn.utils.clip_grad_norm_(theirs, 0.5).numpy())
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    assert float(graphc.nn.utils.clip_grad_norm_([graphc.zeros(2, requires_grad=True)], 1)) == 0
    bad = [GRADS[0], np.array([np.inf, 0, 0, 0, 0])]
    for lib in (graphc, torch):
        with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
            lib.nn.utils.clip_grad_norm_(with_grads(lib, bad), 1.0, error_if_nonfinite=True)


def test_clip_grad_value_equals_pytorch(parity):
    torch = parity.torch
    ours, theirs = with_grads(graphc), with_grads(torch)
    graphc.nn.utils.clip_grad_value_(ours, 2.5)
    torch.nn.utils.clip_grad_value_(theirs, 2.5)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
