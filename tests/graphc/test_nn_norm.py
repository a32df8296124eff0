"""Normalization and channel dropout against PyTorch: GroupNorm, RMSNorm, BatchNorm's running
statistics (momentum and cumulative) after several eager and compiled training steps,
Dropout1d/2d/3d masks."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim

LAYERS = {
    "group_norm": (lambda nn: nn.GroupNorm(2, 6), (3, 6, 4, 5)),
    "group_norm_1d": (lambda nn: nn.GroupNorm(3, 6, eps=1e-3), (3, 6, 7)),
    "group_norm_no_affine": (lambda nn: nn.GroupNorm(1, 4, affine=False), (2, 4)),
    "instance_like_group_norm": (lambda nn: nn.GroupNorm(4, 4), (2, 4, 3, 3)),
    "rms_norm": (lambda nn: nn.RMSNorm(6), (3, 4, 6)),
    "rms_norm_2d_eps": (lambda nn: nn.RMSNorm((4, 6), eps=1e-3), (3, 4, 6)),
    "rms_norm_no_affine": (lambda nn: nn.RMSNorm(5, elementwise_affine=False), (2, 5)),
    "batch_norm_cumulative": (lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 5, 5)),
    "batch_norm3d": (lambda nn: nn.BatchNorm3d(2), (3, 2, 2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_equals_pytorch(name, parity):
    make, shape = LAYERS[name]
    parity.check_layer(make, np.random.default_rng(1).standard_normal(shape))


def test_rms_norm_float32_default_eps(parity):
    theirs, mine = parity.twins(lambda nn: nn.RMSNorm(6), double=False)
    x = (np.random.default_rng(2).standard_normal((3, 6)) * 1e-4).astype(np.float32)
    parity.check(theirs, mine, x, rtol=2e-6, atol=1e-7, grad=False)


def cnn_with_batch_norm(nn, momentum):
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3, momentum=momentum), nn.ReLU(),
        nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.BatchNorm1d(5, momentum=momentum))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("compiled", [False, True])
def test_batch_norm_running_stats_after_training_steps_equal_pytorch(momentum, compiled, parity):
    torch = parity.torch
    theirs, mine = parity.twins(lambda nn: cnn_with_batch_norm(nn, momentum))
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    g_opt = optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((6, 2, 4, 4)), rng.integers(0, 5, 6)) for _ in range(4)]
    t_loss_fn, g_loss_fn = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    step = graphc.compile_train_step(mine, g_loss_fn, g_opt, graphc.from_numpy(batches[0][0]),
                                     graphc.from_numpy(batches[0][1])) if compiled else None
    for x, y in batches:
        t_loss = t_loss_fn(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        t_loss.backward()
        t_opt.step()
        t_opt.zero_grad()
        if compiled:
            g_loss = step(graphc.from_numpy(x), graphc.from_numpy(y))
        else:
            g_loss = g_loss_fn(mine(graphc.from_numpy(x)), graphc.from_numpy(y))
            g_loss.backward()
            g_opt.step()
            g_opt.zero_grad()
        np.testing.assert_allclose(g_loss.item(), t_loss.item(), rtol=1e-10)
    parity.check_state(theirs, mine, rtol=1e-10, atol=1e-12)
    assert int(mine[1].num_batches_tracked.item()) == len(batches)
    theirs.eval()
    mine.eval()
    x = batches[0][0]
    np.testing.assert_allclose(mine(graphc.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("cls, shape, mask_dims", [
    ("Dropout1d", (40, 30, 7), 2), ("Dropout1d", (30, 7), 1), ("Dropout2d", (40, 30, 4, 5), 2),
    ("Dropout2d", (40, 30, 6), 2), ("Dropout3d", (20, 30, 2, 3, 4), 2),
    ("Dropout3d", (30, 2, 3, 4), 1),
])
def test_channel_dropout_zeroes_whole_channels(cls, shape, mask_dims):
    graphc.manual_seed(0)
    drop = getattr(nn, cls)(p=0.3)
    assert repr(drop) == f"{cls}(p=0.3, inplace=False)"
    y = drop(graphc.ones(shape)).numpy()
    per_channel = y.reshape(*shape[:mask_dims], -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1)), "a channel is all kept or all zero"
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((per_channel[..., 0] == 0).mean() - 0.3) < 0.08
    drop.eval()
    assert drop(graphc.ones(shape)).numpy().min() == 1


def test_channel_dropout_traces_with_a_random_key_and_its_gradient_is_the_mask():
    graphc.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 4, 1), nn.Dropout2d(0.5))
    graph = graphc.trace(net, graphc.spec((3, 2, 5, 5)))
    (mask,) = [n for n in graph.nodes if n.op == "random_mask"]
    assert mask.attrs["shape"] == (3, 4, 1, 1) and len(graph.random_keys) == 1
    x = graphc.ones((3, 4, 5, 5), requires_grad=True)
    y = nn.functional.dropout2d(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
