"""graphc.compile and compile_train_step: same numbers as eager, live parameters, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.compile import CompiledInputError


class NeuralNetwork(nn.Module):
    """The quickstart MLP, sized for 8x8 digits so the tests stay fast."""

    def __init__(self, hidden=32, dropout=0.0):
        super().__init__()
        self.flatten = nn.Flatten()
        layers = [nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.linear_relu_stack = nn.Sequential(*layers, nn.Linear(hidden, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def make_model(dtype=np.float32, dropout=0.0):
    graphc.manual_seed(0)
    model = NeuralNetwork(dropout=dropout)
    if dtype == np.float64:
        model = model.double()
    return model


def batch(dtype=np.float32, n=16, seed=1):
    rng = np.random.default_rng(seed)
    X = graphc.from_numpy(rng.random((n, 1, 8, 8)).astype(dtype))
    y = graphc.from_numpy(rng.integers(0, 10, n).astype(np.int64))
    return X, y


def params_of(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# -- graphc.compile ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_forward_equals_eager(dtype):
    model = make_model(dtype)
    X, _ = batch(dtype)
    compiled = graphc.compile(model, X)
    out = compiled(X)
    assert isinstance(out, graphc.Tensor) and out.shape == (16, 10)
    with graphc.no_grad():
        expected = model(X).numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    compiled.graph.verify()


def test_compiled_model_reads_live_parameters():
    model = make_model(np.float64)
    X, _ = batch(np.float64)
    compiled = graphc.compile(model, X)
    first = compiled(X).numpy()
    with graphc.no_grad():
        model.linear_relu_stack[0].weight.mul_(2.0)
    model.linear_relu_stack[4].bias.data = graphc.from_numpy(np.full(10, 3.0))
    second = compiled(X).numpy()
    with graphc.no_grad():
        expected = model(X).numpy()
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, expected, rtol=1e-12)
    other = make_model(np.float64)
    model.load_state_dict(other.state_dict())
    with graphc.no_grad():
        np.testing.assert_allclose(compiled(X).numpy(), other(X).numpy(), rtol=1e-12)


def test_new_input_shapes_and_dtypes_recompile_as_jit_does(caplog):
    model = make_model()
    X, _ = batch()
    compiled = graphc.compile(model, X)
    small = batch(n=8)[0]
    with caplog.at_level("DEBUG", logger="graphc.compile"):
        out = compiled(small)
    assert out.shape == (8, 10) and "recompiling" in caplog.text and "(8, 1, 8, 8)" in caplog.text
    with graphc.no_grad():
        np.testing.assert_allclose(out.numpy(), model(small).numpy(), rtol=1e-5, atol=1e-6)
    assert compiled(X).shape == (16, 10)  # the first variant is still cached
    assert len(compiled._variants) == 2


def test_strict_refuses_other_shapes_and_bad_inputs_are_clear_errors():
    model = make_model()
    X, _ = batch()
    compiled = graphc.compile(model, X, strict=True)
    with pytest.raises(CompiledInputError, match=r"shape \(16, 1, 8, 8\).*got shape \(8, 1, 8, 8\)"):
        compiled(batch(n=8)[0])
    with pytest.raises(CompiledInputError, match="float32 but got .* float64"):
        compiled(batch(np.float64)[0])
    loose = graphc.compile(model, X)
    with pytest.raises(CompiledInputError, match="compiled for 1 input"):
        loose(X, X)
    with pytest.raises(CompiledInputError, match="Tensor or ndarray"):
        loose([[1.0]])


def test_compiled_dropout_follows_train_and_eval():
    model = make_model(dropout=0.5)
    X, _ = batch()
    compiled = graphc.compile(model, X)
    assert compiled.graph.meta.get("random_keys")
    graphc.manual_seed(3)
    a = compiled(X).numpy()
    graphc.manual_seed(3)
    b = compiled(X).numpy()
    c = compiled(X).numpy()
    np.testing.assert_array_equal(a, b)  # the keys come from graphc's seeded generator
    assert not np.array_equal(b, c)
    model.eval()
    assert not compiled.graph.meta.get("random_keys")
    with graphc.no_grad():
        np.testing.assert_allclose(compiled(X).numpy(), model(X).numpy(), rtol=1e-6)


# -- compile_train_step ----------------------------------------------------------------------------

def eager_steps(model, opt, loss_fn, data, n):
    losses = []
    for step in range(n):
        X, y = data[step % len(data)]
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.item()))
    return losses


def compiled_steps(model, opt, loss_fn, data, n):
    step_fn = graphc.compile_train_step(model, loss_fn, opt, *data[0])
    return [float(step_fn(*data[step % len(data)]).item()) for step in range(n)], step_fn


OPTIMIZERS = {
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
}


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_compiled_steps_equal_eager_steps(dtype, tol, opt_name):
    data = [batch(dtype, seed=s) for s in range(3)]
    loss_fn = nn.CrossEntropyLoss()
    eager_model, compiled_model = make_model(dtype), make_model(dtype)
    eager_opt = OPTIMIZERS[opt_name](eager_model.parameters())
    compiled_opt = OPTIMIZERS[opt_name](compiled_model.parameters())
    eager_losses = eager_steps(eager_model, eager_opt, loss_fn, data, 5)
    compiled_losses, _ = compiled_steps(compiled_model, compiled_opt, loss_fn, data, 5)
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=tol)
    expected = params_of(eager_model)
    for name, value in params_of(compiled_model).items():
        np.testing.assert_allclose(value, expected[name], rtol=tol, atol=tol, err_msg=name)
    for p, q in zip(compiled_model.parameters(), eager_model.parameters()):
        for key, value in eager_opt.state[q].items():
            np.testing.assert_allclose(compiled_opt.state[p][key].numpy(), value.numpy(),
                                       rtol=tol, atol=tol, err_msg=key)


def test_loss_decreases_and_state_dict_shows_new_values():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X, y = batch(n=32)
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, X, y)
    before = params_of(model)
    weight_storage = model.linear_relu_stack[0].weight.detach().numpy()
    losses = [float(step(X, y).item()) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < min(losses[:20])
    after = model.state_dict()
    for name in before:
        assert not np.array_equal(after[name].numpy(), before[name]), name
    assert model.linear_relu_stack[0].weight.detach().numpy() is weight_storage  # in place
    buf = opt.state[model.linear_relu_stack[0].weight]["momentum_buffer"]
    assert buf.shape == (32, 64) and np.abs(buf.numpy()).sum() > 0
    loss = step(X, y)
    assert isinstance(loss, graphc.Tensor) and loss.shape == ()


def test_frozen_parameter_untouched_and_rest_matches_eager():
    data = [batch(np.float64, seed=s) for s in range(2)]
    loss_fn = nn.CrossEntropyLoss()
    models = [make_model(np.float64), make_model(np.float64)]
    for model in models:
        model.linear_relu_stack[0].weight.requires_grad_(False)
    frozen = models[1].linear_relu_stack[0].weight.detach().numpy().copy()
    opts = [optim.Adam(m.parameters(), lr=0.01) for m in models]
    eager_steps(models[0], opts[0], loss_fn, data, 3)
    _, step = compiled_steps(models[1], opts[1], loss_fn, data, 3)
    np.testing.assert_array_equal(models[1].linear_relu_stack[0].weight.detach().numpy(), frozen)
    assert "linear_relu_stack.0.weight" not in {p.name for p, _ in step.graph.updates}
    expected = params_of(models[0])
    for name, value in params_of(models[1]).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-10, err_msg=name)


def test_graphs_exist_verify_and_carry_phases():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, *batch())
    for graph in (step.graph, step.forward_graph, step.backward_graph):
        graph.verify()
    phases = {n.meta.get("phase") for n in step.graph.nodes}
    assert phases == {"forward", "backward", "optimizer"}
    assert {n.meta.get("phase") for n in step.backward_graph.nodes} == {"backward"}
    updated = {p.name for p, _ in step.graph.updates}
    assert {name for name, _ in model.named_parameters()} <= updated
    assert "optimizer.linear_relu_stack.0.weight.exp_avg" in updated
    assert len(step.graph.outputs) == 1 and step.graph.outputs[0].shape == ()
    assert step.autodiff.wrt == [name for name, _ in model.named_parameters()]


def test_lr_change_takes_effect_without_rebuilding():
    data = [batch(np.float64)]
    loss_fn = nn.CrossEntropyLoss()
    models = [make_model(np.float64), make_model(np.float64)]
    opts = [optim.SGD(m.parameters(), lr=0.1) for m in models]
    step = graphc.compile_train_step(models[1], loss_fn, opts[1], *data[0])
    for lr in (0.1, 0.0, 0.3):
        for opt in opts:
            opt.param_groups[0]["lr"] = lr
        eager_steps(models[0], opts[0], loss_fn, data, 1)
        step(*data[0])
    expected = params_of(models[0])
    for name, value in params_of(models[1]).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-10, err_msg=name)
    assert len(step._variants) == 1


def test_train_step_respects_train_and_eval_modes():
    model = make_model(dropout=0.5)
    opt = optim.SGD(model.parameters(), lr=0.01)
    X, y = batch()
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, X, y)
    assert step.graph.meta.get("random_keys")
    step(X, y)
    model.eval()
    assert not step.graph.meta.get("random_keys")
    with graphc.no_grad():  # eval: no dropout, so the step's loss is the eager eval loss
        expected = nn.CrossEntropyLoss()(model(X), y).item()
    np.testing.assert_allclose(step(X, y).item(), expected, rtol=1e-6)
    model.train()
    assert step.graph.meta.get("random_keys")
    assert len(step._variants) == 2


def test_train_step_other_target_dtype_recompiles_unless_strict():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.01)
    X, y = batch()
    y32 = graphc.from_numpy(y.numpy().astype(np.int32))
    strict = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, X, y, strict=True)
    with pytest.raises(CompiledInputError, match="input 1 was compiled for .* int64 .* int32"):
        strict(X, y32)
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, X, y)
    assert np.isfinite(step(X, y32).item()) and len(step._variants) == 2


def test_batchnorm_running_stats_update_in_compiled_step_as_in_eager():
    def make():
        graphc.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()

    rng = np.random.default_rng(0)
    data = [(graphc.from_numpy(rng.random((5, 4))), graphc.from_numpy(np.array([0, 1, 2, 0, 1])))]
    loss_fn = nn.CrossEntropyLoss()
    models = [make(), make()]
    opts = [optim.Adam(m.parameters(), lr=0.1) for m in models]
    eager_steps(models[0], opts[0], loss_fn, data, 3)
    compiled_steps(models[1], opts[1], loss_fn, data, 3)
    expected = params_of(models[0])
    got = params_of(models[1])
    assert not np.array_equal(got["1.running_mean"], np.zeros(8))
    for name, value in got.items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-10, err_msg=name)


def test_parameter_names_never_collide_with_generated_value_names():
    # The polynomial tutorial's module: parameters a, b, c, d beside x ** 2 and x ** 3.
    class Polynomial3(nn.Module):
        def __init__(self):
            super().__init__()
            for name in "abcd":
                setattr(self, name, nn.Parameter(graphc.randn(())))

        def forward(self, x):
            return self.a + self.b * x + self.c * x**2 + self.d * x**3

    model = Polynomial3()
    x = graphc.linspace(-3, 3, 20)
    y = graphc.sin(x)
    np.testing.assert_allclose(graphc.compile(model, x)(x).numpy(), model(x).detach().numpy(),
                               rtol=1e-6)
    step = graphc.compile_train_step(model, nn.MSELoss(reduction="sum"),
                                     optim.SGD(model.parameters(), lr=1e-6), x, y)
    assert step(x, y).item() > 0
