"""`parity`: run a layer in PyTorch and in graphc with the same weights and inputs, and compare
outputs, input gradients, parameter gradients and buffers."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc


def flatten(value) -> list:
    """The tensors of a nested output (tuples/lists; None left out), in order."""
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [t for part in value for t in flatten(part)]
    return [value]


class Parity:
    def __init__(self, torch):
        self.torch = torch

    def twins(self, make, double: bool = True, seed: int = 0):
        """(theirs, mine): `make(nn)` built in both libraries, mine loading theirs' state_dict."""
        self.torch.manual_seed(seed)
        theirs, mine = make(self.torch.nn), make(graphc.nn)
        if double:
            theirs.double()
            mine.double()
        result = mine.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                                       for k, v in theirs.state_dict().items()})
        assert not result.missing_keys and not result.unexpected_keys
        return theirs, mine

    def check(self, theirs, mine, *inputs, call=None, grad: bool = True, rtol: float = 1e-10,
              atol: float = 1e-12, seed: int = 4):
        """Compare forward values, then gradients of a random weighting of the float outputs
        w.r.t. float inputs and parameters, then buffers. Inputs are NumPy arrays or None."""
        torch = self.torch
        call = call or (lambda module, *args: module(*args))
        floating = [x is not None and x.dtype.kind == "f" for x in inputs]
        tx = [None if x is None else torch.from_numpy(x.copy()).requires_grad_(grad and f)
              for x, f in zip(inputs, floating)]
        gx = [None if x is None else graphc.from_numpy(x.copy()).requires_grad_(grad and f)
              for x, f in zip(inputs, floating)]
        t_out, g_out = flatten(call(theirs, *tx)), flatten(call(mine, *gx))
        assert len(t_out) == len(g_out)
        for t, g in zip(t_out, g_out):
            assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
            np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=rtol,
                                       atol=atol)
        if grad:
            rng = np.random.default_rng(seed)
            t_loss = g_loss = 0
            for t, g in zip(t_out, g_out):
                if t.dtype.is_floating_point and t.requires_grad:
                    w = rng.standard_normal(tuple(t.shape))
                    t_loss = t_loss + (t * torch.from_numpy(w)).sum()
                    g_loss = g_loss + (g * graphc.from_numpy(w)).sum()
            t_loss.backward()
            g_loss.backward()
            for t, g in zip(tx, gx):
                # PyTorch gives no gradient to an input its kernel skipped (a causal float mask
                # it recognized and replaced by is_causal): nothing to compare then.
                if t is not None and t.grad is not None:
                    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=rtol * 100,
                                               atol=atol * 100)
            theirs_params = dict(theirs.named_parameters())
            for name, param in mine.named_parameters():
                expected = theirs_params[name].grad
                if expected is None:
                    assert param.grad is None or not param.grad.numpy().any(), name
                    continue
                np.testing.assert_allclose(param.grad.numpy(), expected.numpy(), rtol=rtol * 100,
                                           atol=atol * 100, err_msg=name)
        self.check_state(theirs, mine, rtol, atol)
        return t_out, g_out

    def check_layer(self, make, x, **options):
        """twins(make), the same repr, then `check` on input array `x`."""
        theirs, mine = self.twins(make)
        assert repr(mine) == repr(theirs)
        return self.check(theirs, mine, x, **options)

    def check_error(self, make, cls, message: str, test_file: str) -> None:
        """`make(nn, randn)` raises `cls` with `message` in PyTorch and in graphc; graphc's is
        one line ending with the user's `file:line` (in `test_file`)."""
        with pytest.raises(cls) as theirs:
            make(self.torch.nn, self.torch.randn)
        assert message in str(theirs.value)
        with pytest.raises(cls) as mine:
            make(graphc.nn, graphc.randn)
        text = str(mine.value).replace("graphc.", "torch.")
        assert message in text and "\n" not in text, text
        assert re.search(rf"{test_file}:\d+$", text), text

    def check_state(self, theirs, mine, rtol=1e-10, atol=1e-12):
        ours = mine.state_dict()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=rtol, atol=atol,
                                       err_msg=key)


@pytest.fixture(scope="session")
def parity():
    return Parity(pytest.importorskip("torch"))
