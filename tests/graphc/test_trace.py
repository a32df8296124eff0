"""graphc.trace: graph inputs, params, constants, scopes, source locations, TraceError and shape
errors, random keys and state updates."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc
import ir
from graphc import nn, tracing
from graphc.nn import functional as F
from runtime import run_graph


def line_of(marker: str) -> int:
    """The line number of the line in this file that contains `marker`."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text and "line_of" not in text)


def loc(marker: str) -> str:
    return f"test_trace.py:{line_of(marker)}"


def run(graph, inputs, module=None):
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()} if module else {}
    params = {p.name: params[p.name] for p in graph.params}
    return run_graph(graph, [np.asarray(x) for x in inputs], params)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.stack = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        self.scale = graphc.rand(4)  # a plain tensor: a graph constant
        self.register_buffer("offset", graphc.ones(4))

    def forward(self, X, bias):
        h = self.shared(X)
        h = self.stack(h) * self.scale + self.offset  # MARK-block
        return self.shared(h) + bias


def test_names_params_constants_and_values():
    model = Block()
    X, bias = graphc.randn(3, 4), graphc.randn(4)
    graph = graphc.trace(model, X, bias)
    assert [v.name for v in graph.inputs] == ["X", "bias"]
    assert [v.name for v in graph.params] == list(model.state_dict())  # shared Linear once
    assert [c.name for c in graph.constants if c.shape == (4,)] == ["scale"]
    (out,) = run(graph, [X, bias], model)
    np.testing.assert_allclose(out, model(X, bias).detach().numpy(), rtol=1e-6)
    graph.verify()
    assert ir.parse(str(graph)) == graph


def test_scope_and_loc_meta():
    graph = graphc.trace(Block(), graphc.randn(3, 4), graphc.randn(4))
    scopes = {n.meta.get("scope") for n in graph.nodes}
    assert {"shared", "stack.0", "stack.1", "stack.2", None} == scopes
    marked = [n for n in graph.nodes if n.meta["loc"].endswith(loc("MARK-block"))]
    assert [n.op for n in marked if "scope" not in n.meta] == ["mul", "add"]
    assert all(n.meta["loc"].startswith("tests/graphc/test_trace.py:") for n in graph.nodes)


def test_module_scope_costs_nothing_outside_a_trace():
    model = nn.Linear(2, 2)
    assert tracing.module_scope(model) is tracing.module_scope(nn.ReLU())
    with tracing.module_scope(model):
        assert graphc.ones(2).sum().item() == 2


def test_function_inputs_from_specs_arrays_and_tensors():
    def fn(a, b, *rest):
        return a.sum(0) + b * rest[0]

    graph = graphc.trace(fn, graphc.spec((2, 3)), np.ones(3, np.float32), graphc.ones(3))
    assert [(v.name, str(v.type)) for v in graph.inputs] == [
        ("a", "f32[2,3]"),
        ("b", "f32[3]"),
        ("rest0", "f32[3]"),
    ]
    assert graph.name == "fn"


def test_outputs_may_be_tuples_and_eager_tensors():
    const = graphc.tensor([1.0, 2.0])
    graph = graphc.trace(lambda x: (x * 2, {"c": const}), graphc.ones(2))
    out, c = run(graph, [np.ones(2, np.float32)])
    assert out.tolist() == [2.0, 2.0] and c.tolist() == [1.0, 2.0]


def test_control_flow_on_shapes_and_python_values_is_fine():
    def fn(x, n=3):
        for i in range(n):
            if x.shape[0] > 1 and len(x) == 2:
                x = x * (i + 1)
        return x[: x.size(0) // 2]

    graph = graphc.trace(fn, graphc.ones(2, 2))
    (out,) = run(graph, [np.ones((2, 2), np.float32)])
    assert out.tolist() == [[6.0, 6.0]]


def _while_model(X):
    while X.abs().sum() > 1:  # MARK-while
        X = X / 2
    return X


@pytest.mark.parametrize(
    ("fn", "marker", "what"),
    [
        (_while_model, "MARK-while", "bool()"),
        (lambda x: x.sum().item(), "MARK-case", "item()"),  # MARK-case
        (lambda x: float(x.sum()), "MARK-case", "float()"),  # MARK-case
        (lambda x: int(x.sum()), "MARK-case", "int()"),  # MARK-case
        (lambda x: [1, 2][x[0, 0].long()], "MARK-case", "index"),  # MARK-case
        (lambda x: [t for t in x], "MARK-case", "iteration"),  # MARK-case
        (lambda x: x.tolist(), "MARK-case", "tolist()"),  # MARK-case
        (lambda x: x.numpy(), "MARK-case", "numpy()"),  # MARK-case
        (lambda x: x[x > 0], "MARK-case", "boolean-mask"),  # MARK-case
        (lambda x: x if x.max() > 0 else -x, "MARK-case", "bool()"),  # MARK-case
    ],
    ids=["while", "item", "float", "int", "index", "iter", "tolist", "numpy", "mask", "if"],
)
def test_control_flow_on_traced_values_raises_trace_error(fn, marker, what):
    X = graphc.ones(2, 2)
    assert fn(X) is not None  # eagerly it runs
    with pytest.raises(graphc.TraceError) as info:
        graphc.trace(fn, X)
    message = str(info.value)
    assert what in message and "test_trace.py:" in message and "Workaround" in message
    if marker == "MARK-while":
        assert loc(marker) in message


def test_tutorial_loop_model_names_the_while_line():
    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = graphc.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(graphc.mm(X, self.rand_weight) + 1)
            X = self.linear(X)
            while X.abs().sum() > 1:  # MARK-tutorial-while
                X /= 2
            return X.sum()

    model = FixedHiddenMLP()
    assert model(graphc.rand(2, 20)).ndim == 0
    with pytest.raises(graphc.TraceError, match=loc("MARK-tutorial-while")):
        graphc.trace(model, graphc.rand(2, 20))


def test_shape_mismatch_names_op_shapes_and_line():
    def fn(x, w):
        return x @ w  # MARK-matmul

    with pytest.raises(ir.ShapeError) as info:
        graphc.trace(fn, graphc.ones(2, 3), graphc.ones(4, 5))
    message = str(info.value)
    assert "matmul" in message and "f32[2,3]" in message and "f32[4,5]" in message
    assert loc("MARK-matmul") in message
    with pytest.raises(ir.ShapeError, match="add.*f32\\[2,3\\].*f32\\[4\\].*test_trace.py"):
        graphc.ones(2, 3) + graphc.ones(4)  # eager errors name the line too


def test_random_inside_a_trace_is_refused_and_keys_are_inputs():
    with pytest.raises(graphc.TraceError, match="random"):
        graphc.trace(lambda x: x + graphc.rand(2), graphc.ones(2))
    graph = graphc.trace(lambda x: x * graphc.random.key_tensor().float(), graphc.ones(2))
    assert graph.random_keys == [graph.inputs[1]] and [v.name for v in graph.inputs] == ["x", "key"]


def test_dropout_traces_with_a_random_key():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    graph = graphc.trace(model, graphc.ones(2, 4))
    assert len(graph.meta["random_keys"]) == 1
    model.eval()
    assert "random_keys" not in graphc.trace(model, graphc.ones(2, 4)).meta


def test_inplace_update_of_a_buffer_is_a_graph_update():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", graphc.zeros(()))

        def forward(self, x):
            self.count += 1
            return x * self.count

    model = Counter()
    graph = graphc.trace(model, graphc.ones(2))
    assert [(p.name, new.node.op) for p, new in graph.updates] == [("count", "add")]
    assert model.count.item() == 0  # tracing does not run the update
    (out,) = run(graph, [np.ones(2, np.float32)], model)
    assert out.tolist() == [1.0, 1.0]


def test_inplace_update_of_a_constant_is_refused():
    const = graphc.zeros(2)

    def fn(x):
        const.add_(x)
        return const

    with pytest.raises(graphc.TraceError, match="neither a parameter nor a buffer"):
        graphc.trace(fn, graphc.ones(2))


def test_traced_tensors_outside_their_trace_and_nested_traces():
    kept = []
    graphc.trace(lambda x: kept.append(x) or x, graphc.ones(2))
    with pytest.raises(RuntimeError, match="outside of its trace"):
        kept[0] + 1
    with pytest.raises(RuntimeError, match="another trace"):
        graphc.trace(lambda x: graphc.trace(lambda y: y, x), graphc.ones(2))
    assert graphc.dispatch.state.trace is None


def test_scalar_constants_are_shared_and_repr_of_traced_tensor():
    seen = []

    def fn(x):
        seen.append(repr(x))
        return x.relu() * 2 + 1 + 1 - 2

    graph = graphc.trace(fn, graphc.ones(3))
    assert seen == ["tensor(<traced %x: f32[3]>)"]
    assert [c.data.item() for c in graph.constants] == [2, 1]  # one constant per distinct scalar


def test_traced_index_tensors_and_mask_assignment():
    def fn(x, idx):
        y = x[idx] + x[:, idx].sum()
        y[y > 1.0] = 0.0  # a mask assignment traces as where
        return y

    x = np.arange(12.0, dtype=np.float32).reshape(3, 4) / 10
    idx = np.array([-1, 0, 2], dtype=np.int64)
    graph = graphc.trace(fn, x, idx)
    (out,) = run(graph, [x, idx])
    np.testing.assert_allclose(out, fn(graphc.from_numpy(x.copy()), graphc.from_numpy(idx)).numpy())

    def scatter(x, idx):
        x = x * 1
        x[idx] = 1.0  # an index-tensor assignment traces as a scatter
        x[:, idx] = x[:, idx] * 2
        return x

    (out,) = run(graphc.trace(scatter, x, idx), [x, idx])
    expected = scatter(graphc.from_numpy(x.copy()), graphc.from_numpy(idx))
    np.testing.assert_allclose(out, expected.numpy())


def test_function_trace_names_params_of_the_given_module():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())

    def loss(x):
        return model(x).sum()

    named = graphc.trace(loss, graphc.ones(4, 3), module=model)
    assert [p.name for p in named.params] == ["0.weight", "0.bias"]
    assert {n.meta.get("scope") for n in named.nodes} == {"0", "1", None}
    anonymous = graphc.trace(loss, graphc.ones(4, 3))
    assert not anonymous.params and len(anonymous.constants) >= 2  # weights frozen as constants
    assert {n.meta.get("scope") for n in anonymous.nodes} >= {"Linear", "ReLU"}


def test_traced_inplace_ops_keep_shape_and_dtype_rules():
    def grow(x):
        x += graphc.ones(2, 3)
        return x

    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        graphc.trace(grow, graphc.ones(3))

    def halve(x):
        x /= 2
        return x

    with pytest.raises(RuntimeError, match="can't be cast"):
        graphc.trace(halve, graphc.ones(3, dtype=graphc.int64))

    def accumulate(x):
        x += graphc.ones(3, dtype=graphc.float64)
        return x

    assert graphc.trace(accumulate, graphc.ones(3)).outputs[0].dtype == "float32"


def test_a_batch_of_rows_times_a_matrix_is_one_2d_product_and_so_is_its_weight_gradient():
    """(N, L, K) @ (K, M) folds to (N*L, K) @ (K, M), as PyTorch's matmul does: the weight's
    gradient is then one product, not a product per batch element summed."""
    from passes.autodiff import differentiate

    layer = nn.Linear(8, 5)
    x = graphc.randn(4, 3, 8)
    graph = graphc.trace(lambda x: layer(x).sum(), x, module=layer)
    products = [n for n in graph.nodes if n.op == "matmul"]
    assert [tuple(n.outputs[0].shape) for n in products] == [(12, 5)]
    backward = differentiate(graph, wrt=["weight"]).backward
    grads = [n for n in backward.nodes if n.op == "matmul"]
    assert grads and all(n.outputs[0].type.ndim == 2 for n in grads)
    out = layer(x)
    assert out.shape == (4, 3, 5)
    np.testing.assert_allclose(out.detach().numpy(),
                               x.numpy() @ layer.weight.detach().numpy().T
                               + layer.bias.detach().numpy(), rtol=1e-5, atol=1e-6)
