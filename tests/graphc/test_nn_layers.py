"""Each layer against PyTorch (same weights, same input): forward values and float64 gradients."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import graphc
import ir
from graphc import nn
from graphc.nn import functional as F
from passes.memory import plan_memory
from runtime import Executable, run_graph


def needs_op(*names):
    missing = [n for n in names if n not in ir.OPS]
    return pytest.mark.skipif(bool(missing), reason=f"op(s) {missing} not in the op set yet")


CONV = needs_op("conv2d")
MAXPOOL = needs_op("max_pool2d")
AVGPOOL = needs_op("avg_pool2d")

# name -> (constructor taking the nn namespace, input shape, integer input range or None)
LAYERS = {
    "linear": (lambda nn: nn.Linear(5, 3), (4, 5), None),
    "linear_no_bias_3d": (lambda nn: nn.Linear(5, 3, bias=False), (2, 4, 5), None),
    "linear_1d_input": (lambda nn: nn.Linear(5, 3), (5,), None),
    "identity": (lambda nn: nn.Identity(), (3, 4), None),
    "flatten": (lambda nn: nn.Flatten(), (2, 3, 4), None),
    "flatten_range": (lambda nn: nn.Flatten(0, 1), (2, 3, 4), None),
    "unflatten": (lambda nn: nn.Unflatten(1, (2, 3)), (4, 6), None),
    "relu": (lambda nn: nn.ReLU(), (3, 7), None),
    "sigmoid": (lambda nn: nn.Sigmoid(), (3, 7), None),
    "tanh": (lambda nn: nn.Tanh(), (3, 7), None),
    "softmax": (lambda nn: nn.Softmax(dim=1), (3, 7), None),
    "softmax_dim0": (lambda nn: nn.Softmax(dim=0), (3, 7), None),
    "log_softmax": (lambda nn: nn.LogSoftmax(dim=-1), (2, 3, 7), None),
    "leaky_relu": (lambda nn: nn.LeakyReLU(0.2), (3, 7), None),
    "elu": (lambda nn: nn.ELU(alpha=0.7), (3, 7), None),
    "gelu": (lambda nn: nn.GELU(), (3, 7), None),
    "gelu_tanh": (lambda nn: nn.GELU(approximate="tanh"), (3, 7), None),
    "silu": (lambda nn: nn.SiLU(), (3, 7), None),
    "mish": (lambda nn: nn.Mish(), (3, 7), None),
    "softplus": (lambda nn: nn.Softplus(), (3, 7), None),
    "softplus_beta": (lambda nn: nn.Softplus(beta=2.0, threshold=3.0), (3, 7), None),
    "prelu": (lambda nn: nn.PReLU(), (3, 7), None),
    "prelu_channels": (lambda nn: nn.PReLU(3), (2, 3, 4), None),
    "layer_norm": (lambda nn: nn.LayerNorm(6), (3, 6), None),
    "layer_norm_2d": (lambda nn: nn.LayerNorm((4, 6)), (2, 4, 6), None),
    "batch_norm1d": (lambda nn: nn.BatchNorm1d(4), (6, 4), None),
    "batch_norm1d_3d": (lambda nn: nn.BatchNorm1d(3), (5, 3, 4), None),
    "batch_norm2d": (lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 5), None),
    "embedding": (lambda nn: nn.Embedding(10, 3), (4, 5), 10),
    "embedding_padding": (lambda nn: nn.Embedding(10, 3, padding_idx=2), (4, 5), 10),
    "conv2d": (lambda nn: nn.Conv2d(1, 1, kernel_size=3, padding=1), (2, 1, 8, 8), None),
    "conv2d_lenet": (lambda nn: nn.Conv2d(3, 6, 5, padding=2), (2, 3, 9, 9), None),
    "conv2d_stride": (lambda nn: nn.Conv2d(2, 4, 3, stride=2, bias=False), (2, 2, 9, 9), None),
    "max_pool2d": (lambda nn: nn.MaxPool2d(2), (2, 3, 8, 8), None),
    "max_pool2d_stride": (lambda nn: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9), None),
    "avg_pool2d": (lambda nn: nn.AvgPool2d(2), (2, 3, 8, 8), None),
}
MARKS = {"conv2d": CONV, "conv2d_lenet": CONV, "conv2d_stride": CONV, "max_pool2d": MAXPOOL,
         "max_pool2d_stride": MAXPOOL, "avg_pool2d": AVGPOOL}
CASES = [pytest.param(name, marks=MARKS.get(name, ())) for name in LAYERS]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def twin_layers(name, torch, double):
    make, shape, int_range = LAYERS[name]
    torch.manual_seed(0)
    theirs, mine = make(torch.nn), make(nn)
    if double:
        theirs.double()
        mine.double()
    mine.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(3)
    if int_range:
        x = rng.integers(0, int_range, size=shape)
    else:
        x = rng.standard_normal(shape).astype(np.float64 if double else np.float32)
    return theirs, mine, x


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("double", [False, True])
def test_forward_equals_pytorch(name, double, torch):
    theirs, mine, x = twin_layers(name, torch, double)
    expected = theirs(torch.from_numpy(x.copy())).detach().numpy()
    got = mine(graphc.from_numpy(x)).detach().numpy()
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tol = 1e-12 if double else 2e-6
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    for key, value in theirs.state_dict().items():  # running statistics update alike
        np.testing.assert_allclose(mine.state_dict()[key].numpy(), value.numpy(), rtol=tol,
                                   atol=tol, err_msg=key)


@pytest.mark.parametrize("name", CASES)
def test_gradients_equal_pytorch_float64(name, torch):
    theirs, mine, x = twin_layers(name, torch, double=True)
    tx, gx = torch.from_numpy(x.copy()), graphc.from_numpy(x.copy())
    floating = x.dtype.kind == "f"
    if floating:
        tx.requires_grad_()
        gx.requires_grad_()
    weights = np.random.default_rng(4).standard_normal(theirs(tx).shape)
    (theirs(tx) * torch.from_numpy(weights)).sum().backward()
    (mine(gx) * graphc.from_numpy(weights)).sum().backward()
    if floating:
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    tparams = dict(theirs.named_parameters())
    for pname, param in mine.named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), tparams[pname].grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=pname)


def test_linear_init_matches_pytorch_distribution():
    graphc.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound) has standard deviation bound / sqrt(3).
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    graphc.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.detach().numpy(), w)


def test_init_functions():
    graphc.manual_seed(0)
    w = graphc.empty((200, 100))
    nn.init.constant_(w, 3.0)
    assert np.all(w.numpy() == 3)
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    nn.init.zeros_(w)
    assert np.all(w.numpy() == 0)
    nn.init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(200, 100))
    nn.init.xavier_uniform_(w)
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / 300)
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 300)) < 0.05 * 2 * math.sqrt(2 / 300)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 100)) < 0.05 * math.sqrt(2 / 100)
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / 200)
    nn.init.uniform_(w, -0.5, 0.25)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 0.25
    nn.init.normal_(w, mean=1.0, std=0.01)
    assert abs(w.numpy().mean() - 1) < 0.01
    assert nn.init._calculate_fan_in_and_fan_out(graphc.empty((6, 3, 5, 5))) == (75, 150)
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(graphc.empty((3,)))


def test_init_gains_equal_pytorch(torch):
    for name, param in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2),
                        ("leaky_relu", None), ("selu", None), ("sigmoid", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))


def test_init_on_parameter_keeps_it_a_leaf():
    layer = nn.Linear(3, 2)
    nn.init.xavier_uniform_(layer.weight)
    assert layer.weight.is_leaf and layer.weight.requires_grad and layer.weight.grad is None


# -- dropout -----------------------------------------------------------------------------------------
def test_dropout_train_and_eval():
    graphc.manual_seed(0)
    drop = nn.Dropout(p=0.25)
    x = graphc.ones((200, 50))
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    drop.eval()
    assert drop(x) is x
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_dropout_reproducible_under_manual_seed():
    drop, x = nn.Dropout(0.5), graphc.ones((30, 30))
    graphc.manual_seed(7)
    first, second = drop(x).numpy().copy(), drop(x).numpy().copy()
    graphc.manual_seed(7)
    np.testing.assert_array_equal(drop(x).numpy(), first)
    assert not np.array_equal(first, second)


def test_dropout_gradient_is_the_mask():
    graphc.manual_seed(1)
    x = graphc.ones((20, 20), requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


def test_dropout_traces_with_a_random_key_in_training_only():
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
    x = graphc.ones((4, 8))
    graph = graphc.trace(net, x)
    assert any(node.op == "random_mask" for node in graph.nodes)
    (key,) = graph.random_keys
    params = {k: v.numpy() for k, v in net.state_dict().items()}
    inputs = [x.numpy() if v is not key else np.array(5, np.int64) for v in graph.inputs]
    a, b = run_graph(graph, inputs, params)[0], run_graph(graph, inputs, params)[0]
    np.testing.assert_array_equal(a, b)  # the randomness is the key input alone
    assert (a == 0).any()
    net.eval()
    graph = graphc.trace(net, x)
    assert not any(node.op == "random_mask" for node in graph.nodes)
    assert not graph.random_keys


# -- batch norm, embedding details -------------------------------------------------------------------
def test_batch_norm_running_stats_and_modes(torch):
    theirs, mine, x = twin_layers("batch_norm2d", torch, double=True)
    for _ in range(3):
        theirs(torch.from_numpy(x.copy()))
        mine(graphc.from_numpy(x))
    assert int(mine.num_batches_tracked.item()) == 3
    theirs.eval()
    mine.eval()
    np.testing.assert_allclose(mine(graphc.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(mine.state_dict()[key].numpy(), value.numpy(), rtol=1e-12)


def test_batch_norm_traced_in_training_updates_running_stats_as_graph_updates():
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = graphc.randn(5, 3)
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    graph = graphc.trace(net, x)
    for key, value in before.items():  # tracing itself writes nothing
        np.testing.assert_array_equal(net.state_dict()[key].numpy(), value)
    assert {p.name for p, _ in graph.updates} == {
        "1.running_mean", "1.running_var", "1.num_batches_tracked"}
    params = {k: v.copy() for k, v in before.items()}
    (out,) = Executable(graph, plan_memory(graph))([x.numpy()], params)
    expected = net(x).detach().numpy()  # the eager step updates the module's buffers
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(params[key], value.numpy(), rtol=1e-6, atol=1e-7, err_msg=key)


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(6, 3, padding_idx=1)
    assert np.all(emb.weight.detach().numpy()[1] == 0)
    idx = graphc.tensor([[1, 2], [1, 5]])
    emb(idx).sum().backward()
    grad = emb.weight.grad.numpy()
    assert np.all(grad[1] == 0) and np.all(grad[2] == 1) and np.all(grad[0] == 0)


# -- functional extras -------------------------------------------------------------------------------
def test_one_hot_and_pad_equal_pytorch(torch):
    idx = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(
        F.one_hot(graphc.from_numpy(idx), 5).numpy(),
        torch.nn.functional.one_hot(torch.from_numpy(idx), 5).numpy())
    assert F.one_hot(graphc.from_numpy(idx)).shape == (2, 2, 4)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for pads in [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1)]:
        np.testing.assert_array_equal(
            F.pad(graphc.from_numpy(x), pads, value=-1.0).numpy(),
            torch.nn.functional.pad(torch.from_numpy(x), pads, value=-1.0).numpy())


def test_softmax_family_stable_for_huge_logits():
    x = graphc.tensor([[1e4, -1e4, 0.0], [3e4, 3e4, -5.0]], requires_grad=True)
    p = F.softmax(x, dim=1)
    logp = F.log_softmax(x, dim=1)
    assert np.all(np.isfinite(p.detach().numpy())) and np.all(np.isfinite(logp.detach().numpy()))
    np.testing.assert_allclose(p.detach().numpy().sum(1), 1.0, rtol=1e-6)
    (logp * graphc.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    big = graphc.tensor([1e4, -1e4])
    for fn in (F.softplus, F.elu, F.mish, F.silu, F.gelu):
        assert np.all(np.isfinite(fn(big).numpy())), fn.__name__


def lenet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


@CONV
@MAXPOOL
def test_lenet_traces_and_equals_pytorch(torch):
    torch.manual_seed(0)
    theirs, mine = lenet(torch.nn), lenet(nn)
    mine.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    assert repr(mine) == repr(theirs)
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(mine(graphc.from_numpy(x)).detach().numpy(), expected,
                               rtol=1e-4, atol=1e-5)
    graph = graphc.trace(mine, graphc.from_numpy(x))
    (out,) = run_graph(graph, [x], {k: v.numpy() for k, v in mine.state_dict().items()})
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [lambda nn: nn.CosineSimilarity(dim=-1),
                                  lambda nn: nn.PairwiseDistance(p=3.0, keepdim=True)])
def test_distance_modules_match_pytorch_and_name_a_shape_mismatch(make, parity):
    torch = parity.torch
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 8)), rng.standard_normal((1, 8))
    got = make(graphc.nn)(graphc.tensor(a), graphc.tensor(b))
    want = make(torch.nn)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    for lib, tensor in ((torch, torch.tensor), (graphc, graphc.tensor)):
        with pytest.raises(RuntimeError, match=re.escape(
                "The size of tensor a (8) must match the size of tensor b (7) at non-singleton "
                "dimension 1")):
            make(lib.nn)(tensor(a), tensor(rng.standard_normal((5, 7))))
