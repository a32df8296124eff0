"""The tutorial models of TUTORIAL_MODELS.md sections 1-3: eager, traced, printed, parsed, vs PyTorch.

The models are written once, in PyTorch spelling, inside `define_models(torch, nn, F)`; calling it
with graphc's modules or torch's gives the two versions (only the imports differ, as promised).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc
import ir
from graphc import nn
from graphc.nn import functional
from runtime import run_graph


def define_models(torch, nn, F):
    """name -> (constructor, input shape) for the tutorial's models, in the library given."""

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28 * 28, 512), nn.ReLU(),
                nn.Linear(512, 512), nn.ReLU(),
                nn.Linear(512, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(20, 256)
            self.out = nn.Linear(256, 10)

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self._modules[str(idx)] = module

        def forward(self, X):
            for block in self._modules.values():
                X = block(X)
            return X

    class FixedHiddenMLPNoLoop(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = torch.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(torch.mm(X, self.rand_weight) + 1)
            X = self.linear(X)
            return X.sum()

    class FixedHiddenMLP(FixedHiddenMLPNoLoop):
        def forward(self, X):
            X = self.linear(X)
            X = F.relu(torch.mm(X, self.rand_weight) + 1)
            X = self.linear(X)
            while X.abs().sum() > 1:  # LOOP-LINE
                X /= 2
            return X.sum()

    class MyListDense(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = nn.ParameterList([nn.Parameter(torch.randn(4, 4)) for i in range(3)])
            self.params.append(nn.Parameter(torch.randn(4, 1)))

        def forward(self, x):
            for i in range(len(self.params)):
                x = torch.mm(x, self.params[i])
            return x

    def block1():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())

    def block2():
        net = nn.Sequential()
        for i in range(4):
            net.add_module(f"block {i}", block1())
        return net

    def shared_net():
        shared = nn.Linear(8, 8)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(),
                             nn.Linear(8, 1))

    return {
        "quickstart": (NeuralNetwork, (3, 28, 28)),
        "sequential": (lambda: nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)),
                       (2, 20)),
        "mlp": (MLP, (2, 20)),
        "my_sequential": (lambda: MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)),
                          (2, 20)),
        "fixed_hidden_no_loop": (FixedHiddenMLPNoLoop, (2, 20)),
        "params_net": (lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), (2, 4)),
        "rgnet": (lambda: nn.Sequential(block2(), nn.Linear(4, 1)), (2, 4)),
        "shared": (shared_net, (2, 4)),
        "my_list_dense": (MyListDense, (2, 4)),
        "fixed_hidden_loop": (FixedHiddenMLP, (2, 20)),
    }


MODELS = define_models(graphc, nn, functional)
TRACEABLE = [name for name in MODELS if name != "fixed_hidden_loop"]


def make(name, seed=0):
    graphc.manual_seed(seed)
    cls, shape = MODELS[name]
    model = cls()
    x = graphc.rand(shape)
    return model, x


def state_arrays(model) -> dict:
    return {key: t.numpy() for key, t in model.state_dict().items()}


# -- eager, trace, print, verify, run, parse -------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_runs_eagerly(name):
    model, x = make(name)
    out = model(x)
    assert np.all(np.isfinite(out.detach().numpy()))
    if name == "quickstart":
        assert tuple(out.shape) == (3, 10)


@pytest.mark.parametrize("name", TRACEABLE)
def test_trace_runs_like_eager(name):
    model, x = make(name)
    expected = model(x).detach().numpy()
    graph = graphc.trace(model, x)
    graph.verify()
    (out,) = run_graph(graph, [x.numpy()], state_arrays(model))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # Parameters are named by their state_dict names; a shared parameter appears once.
    names = [p.name for p in graph.params]
    assert len(names) == len(set(names))
    assert set(names) <= set(model.state_dict())


@pytest.mark.parametrize("name", TRACEABLE)
def test_printed_ir_parses_back_equal(name):
    model, x = make(name)
    graph = graphc.trace(model, x)
    text = str(graph)
    assert text.strip()
    assert ir.parse(text) == graph


def test_quickstart_graph_records_module_paths_and_params():
    model, x = make("quickstart")
    graph = graphc.trace(model, x)
    assert [p.name for p in graph.params] == list(model.state_dict())
    scopes = {node.meta.get("scope") for node in graph.nodes}
    assert {"linear_relu_stack.0", "linear_relu_stack.4"} <= scopes
    assert "linear_relu_stack.0.weight" in str(graph)


def test_fixed_hidden_constant_weight_is_a_graph_constant():
    model, x = make("fixed_hidden_no_loop")
    graph = graphc.trace(model, x)
    assert [p.name for p in graph.params] == ["linear.weight", "linear.bias"]
    weights = [c for c in graph.constants if c.shape == (20, 20)]
    assert len(weights) == 1
    np.testing.assert_array_equal(weights[0].data, model.rand_weight.numpy())


def test_shared_linear_contributes_its_parameters_once():
    model, _ = make("shared")
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"]
    assert list(model.state_dict()) == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"
    ]
    assert model[2].weight is model[4].weight


def test_while_loop_on_traced_value_raises_naming_the_line():
    model, x = make("fixed_hidden_loop")
    assert np.isfinite(model(x).item())  # eagerly the loop just runs
    source, first = inspect.getsourcelines(type(model).forward)
    line = first + next(i for i, text in enumerate(source) if "LOOP-LINE" in text)
    with pytest.raises(graphc.TraceError) as err:
        graphc.trace(model, x)
    assert f"{__file__.rsplit('/', 1)[-1]}:{line}" in str(err.value)


# -- parity with PyTorch ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_models():
    torch = pytest.importorskip("torch")
    return torch, define_models(torch, torch.nn, torch.nn.functional)


def twin(name, torch_models, double: bool):
    """The graphc model with the torch model's weights copied in, plus both inputs."""
    torch, tmodels = torch_models
    torch.manual_seed(0)
    tmodel = tmodels[name][0]()
    model, _ = make(name)
    if double:
        tmodel.double()
        model.double()
    if hasattr(tmodel, "rand_weight"):
        tmodel.rand_weight = tmodel.rand_weight.to(torch.float64 if double else torch.float32)
        model.rand_weight = graphc.from_numpy(tmodel.rand_weight.numpy().copy())
    model.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                           for k, v in tmodel.state_dict().items()})
    x = np.random.default_rng(1).random(tmodels[name][1])
    x = x.astype(np.float64 if double else np.float32)
    return tmodel, model, torch.from_numpy(x.copy()), graphc.from_numpy(x)


@pytest.mark.parametrize("name", list(MODELS))
def test_names_and_repr_equal_pytorch(name, torch_models):
    tmodel, model, _, _ = twin(name, torch_models, double=False)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert repr(model) == repr(tmodel).replace("torch.", "graphc.")
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_equal_pytorch(name, double, torch_models):
    tmodel, model, tx, x = twin(name, torch_models, double)
    expected = tmodel(tx).detach().numpy()
    got = model(x).detach().numpy()
    assert got.dtype == expected.dtype
    tol = {"rtol": 1e-12, "atol": 1e-12} if double else {"rtol": 2e-5, "atol": 2e-5}
    np.testing.assert_allclose(got, expected, **tol)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradients_equal_pytorch_float64(name, torch_models):
    tmodel, model, tx, x = twin(name, torch_models, double=True)
    tmodel(tx).sum().backward()
    model(x).sum().backward()
    tgrads = dict(tmodel.named_parameters())
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        np.testing.assert_allclose(param.grad.numpy(), tgrads[pname].grad.numpy(),
                                   rtol=1e-8, atol=1e-12, err_msg=pname)
