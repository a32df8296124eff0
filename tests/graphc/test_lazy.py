"""Lazy modules as d2l uses them: sizes from the first call (eager or compiled), PyTorch's reprs,
init through `apply`, optimizers built before the first call, loading into a lazy model."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn

torch = pytest.importorskip("torch")


def lenet(lib):
    n = lib.nn
    return n.Sequential(
        n.LazyConv2d(6, kernel_size=5, padding=2), n.LazyBatchNorm2d(), n.Sigmoid(),
        n.AvgPool2d(kernel_size=2, stride=2), n.Flatten(), n.LazyLinear(12), n.LazyBatchNorm1d(),
        n.ReLU(), n.LazyLinear(10))


def test_shapes_classes_and_reprs_follow_pytorch():
    models = {lib: lenet(lib) for lib in (graphc, torch)}
    assert repr(models[graphc]) == repr(models[torch])
    assert repr(models[graphc][0].weight) == "<UninitializedParameter>"
    X = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    for lib, model in models.items():
        assert tuple(model(lib.from_numpy(X)).shape) == (2, 10)
    assert repr(models[graphc]) == repr(models[torch])
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models.values()]
    assert shapes[0] == shapes[1]
    assert type(models[graphc][5]) is nn.Linear
    assert isinstance(models[graphc][0].weight, nn.Parameter)
    assert not isinstance(models[graphc][0].weight, nn.UninitializedParameter)


def test_apply_init_after_the_first_call_and_an_optimizer_built_before():
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    optimizer = graphc.optim.SGD(net.parameters(), lr=0.1)
    X = graphc.rand(size=(2, 4))
    net(X)

    def init_normal(module):
        if type(module) is nn.Linear:
            nn.init.normal_(module.weight, mean=0, std=0.01)
            nn.init.zeros_(module.bias)

    net.apply(init_normal)
    assert net[0].bias.abs().sum().item() == 0 and net[0].weight.std().item() < 0.05
    before = net[0].weight.detach().clone()
    net(X).sum().backward()
    optimizer.step()
    assert not graphc.equal(net[0].weight, before)


def test_first_call_inside_a_compiled_training_step_equals_eager():
    X, y = graphc.rand(4, 1, 8, 8), graphc.tensor([1, 2, 3, 4])
    losses = []
    for compiled in (False, True):
        graphc.manual_seed(0)
        model = lenet(graphc)
        optimizer = graphc.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.CrossEntropyLoss()
        if compiled:
            step = graphc.compile_train_step(model, loss_fn, optimizer, X, y)
            losses.append([step(X, y).item() for _ in range(3)])
        else:
            run = []
            for _ in range(3):
                loss = loss_fn(model(X), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                run.append(loss.item())
            losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_load_state_dict_gives_a_lazy_model_the_saved_shapes(tmp_path):
    class MLP(nn.Module):  # d2l's file I/O chapter
        def __init__(self):
            super().__init__()
            self.hidden = nn.LazyLinear(256)
            self.output = nn.LazyLinear(10)

        def forward(self, x):
            return self.output(nn.functional.relu(self.hidden(x)))

    net = MLP()
    X = graphc.randn(size=(2, 20))
    Y = net(X)
    graphc.save(net.state_dict(), tmp_path / "mlp.params")
    clone = MLP()
    clone.load_state_dict(graphc.load(tmp_path / "mlp.params"))
    clone.eval()
    assert graphc.equal(clone(X), Y)
    assert repr(clone.hidden) == "Linear(in_features=20, out_features=256, bias=True)"
