"""Eager autograd (recorded ops differentiated by passes.autodiff) against PyTorch's semantics."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import autograd

torch = pytest.importorskip("torch")


def pair(shape, seed, positive=False):
    """The same float64 leaf in graphc and in torch."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    return graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


FUNCTIONS = {
    "mlp": lambda lib, x, w, b: (lib.tanh(x @ w + b).sigmoid() * 3).sum(),
    "broadcast": lambda lib, x, w, b: ((x.unsqueeze(-1) * b - w.sum(0)) ** 2).mean(),
    "reuse": lambda lib, x, w, b: (x * x + x.exp() - (x / (x.abs() + 1))).sum() + (w * b).sum(),
    "relu_where": lambda lib, x, w, b: (
        lib.relu(x @ w) + lib.where(x.sum(1, keepdim=True) > 0, x @ w, b)
    ).sum(),
    "max_index": lambda lib, x, w, b: (
        x.max(dim=1).values.sum() + (x @ w)[:, [0, 2]].sum() + x[1:, ::2].pow(3).sum() + b.max()
    ),
    "reshape": lambda lib, x, w, b: (
        (x.reshape(-1, 2).permute(1, 0) @ x.view(-1, 2)).sum()
        + lib.cat([w, w * 2], 1).std()
        + lib.stack([b, b]).var()
    ),
    "split_gather": lambda lib, x, w, b: (
        sum((p * (i + 1)).sum() for i, p in enumerate(x.split([1, 3], 1)))
        + x.gather(1, lib.tensor([[0, 3], [1, 1], [2, 0]])).sum()
        + x.chunk(2, 0)[1].pow(2).sum()
        + x.index_select(0, lib.tensor([2, 2])).sum()
        + x.T[1].sum()
        + x.masked_fill(x > 0, 0.5).sum()
    ),
    "log_sqrt": lambda lib, x, w, b: (
        (x.abs() + 1).log().sum() + ((w * w) + 1).sqrt().mean() + b.sin().cos().sum()
    ),
    "clamp_min": lambda lib, x, w, b: (
        x.clamp(-0.5, 0.5).sum()
        + lib.minimum(w, w * 0 + 0.1).sum()
        + b.amin()
        + lib.maximum(b, b * 2).sum()
    ),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_equal_torch(name):
    fn = FUNCTIONS[name]
    (x, tx), (w, tw), (b, tb) = pair((3, 4), 0), pair((4, 3), 1), pair((3,), 2)
    loss, tloss = fn(graphc, x, w, b), fn(torch, tx, tw, tb)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        if theirs.grad is None:
            assert ours.grad is None
            continue
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_grads_accumulate_over_backward_calls_and_match_torch_dtype():
    (w, tw) = pair((3,), 0)
    for _ in range(3):
        (w * w).sum().backward()
        (tw * tw).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())
    assert w.grad.dtype == graphc.float64 and w.grad.requires_grad is False
    f = graphc.ones(2, requires_grad=True)
    (f * 2).sum().backward()
    assert f.grad.dtype == graphc.float32 and f.grad.tolist() == [2.0, 2.0]


def test_post_accumulate_grad_hooks_see_the_accumulated_grad_as_in_torch():
    (w, tw) = pair((3,), 1)
    seen = {"graphc": [], "torch": []}
    handles = [
        w.register_post_accumulate_grad_hook(lambda p: seen["graphc"].append(p.grad.tolist())),
        tw.register_post_accumulate_grad_hook(lambda p: seen["torch"].append(p.grad.tolist())),
    ]
    for _ in range(2):
        (w * w).sum().backward()
        (tw * tw).sum().backward()
    for handle in handles:
        handle.remove()
    (w * w).sum().backward()
    np.testing.assert_allclose(seen["graphc"], seen["torch"])
    assert len(seen["graphc"]) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)


def test_non_scalar_backward_needs_gradient():
    w = graphc.ones(3, requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(graphc.tensor([1.0, 2.0, 3.0]))
    assert w.grad.tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (w * 3).backward(graphc.ones(2))


def test_retain_graph():
    w = graphc.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert w.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_backward_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        graphc.ones(2).sum().backward()


def test_no_grad_detach_and_data():
    w = graphc.ones(2, requires_grad=True)
    with graphc.no_grad():
        assert not graphc.is_grad_enabled()
        y = w * 2
        w -= 0.5  # optimizer-style update of a leaf is allowed without grad
    assert graphc.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None
    assert w.tolist() == [0.5, 0.5] and w.requires_grad
    d = w.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), w.data.numpy())
    z = w * 3
    assert not z.is_leaf and z.grad_fn.name() == "MulBackward0" and w.is_leaf
    assert not (z.detach() * w.data).requires_grad

    @graphc.no_grad()
    def f(t):
        return t * 2

    assert not f(w).requires_grad
    with graphc.no_grad(), graphc.enable_grad():
        assert (w * 2).requires_grad
    with graphc.set_grad_enabled(False):
        assert not (w * 2).requires_grad


def test_data_setter_swaps_storage():
    w = graphc.zeros(2, requires_grad=True)
    w.data = graphc.tensor([3.0, 4.0])
    assert w.tolist() == [3.0, 4.0] and w.requires_grad
    (w * w).sum().backward()
    assert w.grad.tolist() == [6.0, 8.0]


def test_requires_grad_rules():
    t = graphc.ones(2)
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        graphc.ones(2, dtype=graphc.int64).requires_grad_()
    y = t * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert not (y > 1).requires_grad and not y.argmax().requires_grad


def test_frozen_leaves_get_no_grad():
    w = graphc.ones(2, requires_grad=True)
    frozen = graphc.ones(2)
    (w * frozen).sum().backward()
    assert frozen.grad is None and w.grad.tolist() == [1.0, 1.0]


def test_inplace_on_leaf_requiring_grad_raises():
    w = graphc.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 3.0
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.zero_()


def test_inplace_on_a_recorded_tensor_rebinds_like_torch():
    grads = []
    for lib in (graphc, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        x = w * 2
        x += w
        x[0] = 0.0
        x *= w
        x.sum().backward()
        assert x.requires_grad and not x.is_leaf
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(*grads)


def test_inplace_change_of_a_saved_value_is_an_error():
    w = graphc.ones(3, requires_grad=True)
    x = graphc.tensor([1.0, 2.0, 3.0])
    loss = (w * x).sum()  # backward needs x
    x += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    y = graphc.tensor([1.0, 2.0, 3.0])
    loss = (w * y).sum()
    y.view(3)[0] = 5.0  # a view shares the version counter
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        loss.backward()


def test_inplace_change_of_an_unsaved_value_is_fine():
    w = graphc.ones(3, requires_grad=True)
    x = graphc.tensor([1.0, 2.0, 3.0])
    loss = (w + x).sum()  # add saves nothing
    x += 1
    loss.backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


def test_shared_leaf_and_leaf_root():
    w = graphc.tensor([1.0, 2.0], requires_grad=True)
    (w @ w + w.sum()).backward()
    assert w.grad.tolist() == [3.0, 5.0]
    w.grad = None
    w.backward(graphc.tensor([1.0, 1.0]))
    assert w.grad.tolist() == [1.0, 1.0]


def test_training_loop_reuses_the_differentiated_graph():
    autograd._PLANS.clear()
    w = graphc.zeros(3, requires_grad=True)
    x = graphc.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    y = graphc.tensor([1.0, 2.0])
    for _ in range(200):
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        with graphc.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    assert len(autograd._PLANS) == 1
    np.testing.assert_allclose((x @ w).detach().numpy(), y.numpy(), atol=1e-3)


def test_long_chain_does_not_hit_the_recursion_limit():
    w = graphc.ones(1, requires_grad=True)
    x = w
    for _ in range(1500):
        x = x * 1.0001
    x.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0001**1500], rtol=1e-4)


def test_leaf_grads_never_share_memory():
    x, y = graphc.ones(3, requires_grad=True), graphc.ones(3, requires_grad=True)
    (x + y).sum().backward()
    (x * 2).sum().backward()  # accumulates into x.grad in place
    assert x.grad.tolist() == [3.0, 3.0, 3.0] and y.grad.tolist() == [1.0, 1.0, 1.0]
    seed = graphc.tensor([1.0, 2.0, 3.0])
    z = graphc.ones(3, requires_grad=True)
    (z + 0).backward(seed)
    seed.numpy()[0] = 100.0
    assert z.grad.tolist() == [1.0, 2.0, 3.0]


def test_only_real_views_share_the_version_counter():
    w = graphc.ones(3, requires_grad=True)
    a = graphc.tensor([1.0, 2.0, 3.0])
    loss = (w * a).sum()  # saves a
    joined = graphc.cat([a, a])  # a copy: writing it leaves a's version alone
    joined += 1
    loss.backward()
    assert w.grad.tolist() == [1.0, 2.0, 3.0]
    loss = (w * a).sum()
    a[1:] += 1  # a slice is a view: a's version moves
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_gradients_are_c_contiguous():
    w = graphc.ones(4, 3, requires_grad=True)
    (graphc.ones(2, 4) @ w).sum().backward()
    (graphc.ones(2, 3) @ w.T).sum().backward()
    assert w.grad.numpy().flags.c_contiguous and w.grad.tolist() == [[4.0] * 3] * 4


def test_grad_fn_names_and_next_functions_as_pytorch_prints_them():
    def cases(lib):
        F = lib.nn.functional
        x = lib.ones(4, 3, requires_grad=True)
        w = lib.ones(2, 3, requires_grad=True)
        b = lib.ones(2, requires_grad=True)
        t = lib.tensor([0, 1, 1, 0])
        z = lib.matmul(lib.ones(3), w.T) + b
        return {
            "linear": F.linear(x, w, b), "linear_no_bias": F.linear(x, w),
            "z": z, "bce_with_logits": F.binary_cross_entropy_with_logits(z, lib.zeros(2)),
            "cross_entropy": F.cross_entropy(F.linear(x, w, b), t), "nll": F.nll_loss(x, t),
            "mse": F.mse_loss(x, x.detach()), "l1": F.l1_loss(x, x.detach()),
            "bce": F.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid()),
            "smooth_l1": F.smooth_l1_loss(x, x.detach()), "huber": F.huber_loss(x, x.detach()),
            "softmax": F.softmax(x, 1), "log_softmax": F.log_softmax(x, 1), "relu": F.relu(x),
            "mean": x.mean(), "mean_dim": x.mean(0), "sum": x.sum(), "sum_dim": x.sum(0),
            "mm": x @ w.T, "view": x.view(12), "T": x.T, "exp": x.exp(), "mul": x * x * 3,
            "add": x + 2, "double": x.double(), "cat": lib.cat([x, x]), "clamp": x.clamp(0, 1),
            "pow": x**2, "where": lib.where(x > 0, x, x * 2), "expand": x[:1].expand(2, 3),
        }

    ours, theirs = cases(graphc), cases(torch)
    for key, value in ours.items():
        assert value.grad_fn.name() == theirs[key].grad_fn.name(), key
        assert repr(value.grad_fn).startswith(f"<{theirs[key].grad_fn.name()} object at 0x")

    def chain(lib):  # the 60-minute blitz: loss.grad_fn, then two next_functions steps back
        lib.manual_seed(0)
        net = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
        loss = lib.nn.MSELoss()(net(lib.ones(1, 3)), lib.zeros(1, 2))
        first = loss.grad_fn.next_functions[0][0]
        return [loss.grad_fn.name(), first.name(), first.next_functions[0][0].name()]

    assert chain(graphc) == chain(torch)
