"""graphc.autograd.Function: the tutorials' custom functions give PyTorch's values and gradients
eagerly and compiled; the IR holds one `custom` node whose gradient rule is the user's backward."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import ir
from graphc import nn

torch = pytest.importorskip("torch")


def legendre(lib):  # "Learning PyTorch with examples": defining new autograd functions
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    return LegendrePolynomial3


def my_relu(lib):  # the older tutorial's MyReLU: clamp forward, masked assignment backward
    class MyReLU(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    return MyReLU


def scaled_pair(lib):  # two outputs, a non-tensor argument, ctx attributes, needs_input_grad
    class ScaledPair(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, scale):
            ctx.scale = scale
            ctx.save_for_backward(x, w)
            index = (x > 0).sum(dim=-1)
            ctx.mark_non_differentiable(index)
            return x * w * scale, x.exp(), index

        @staticmethod
        def backward(ctx, g_prod, g_exp, g_index):
            x, w = ctx.saved_tensors
            gx = g_prod * w * ctx.scale + g_exp * x.exp() if ctx.needs_input_grad[0] else None
            gw = (g_prod * x * ctx.scale).sum(0) if ctx.needs_input_grad[1] else None
            return gx, gw, None

    return ScaledPair


def run(lib, make, args, grad_args):
    tensors = [lib.tensor(a, requires_grad=i in grad_args) if isinstance(a, np.ndarray) else a
               for i, a in enumerate(args)]
    outs = make(lib).apply(*tensors)
    outs = outs if isinstance(outs, tuple) else (outs,)
    total = sum((o * (k + 1.0)).sum() for k, o in enumerate(outs) if o.requires_grad)
    total.backward()
    return ([o.detach().numpy() for o in outs],
            [tensors[i].grad.numpy() for i in grad_args],
            [o.requires_grad for o in outs])


@pytest.mark.parametrize("make, args, grad_args", [
    (legendre, [np.linspace(-1, 1, 7)], [0]),
    (my_relu, [np.linspace(-1, 1, 7)], [0]),
    (scaled_pair, [np.random.default_rng(0).standard_normal((3, 4)), np.arange(4.0), 2.5],
     [0, 1]),
    (scaled_pair, [np.random.default_rng(0).standard_normal((3, 4)), np.arange(4.0), 0.5], [1]),
])
def test_values_gradients_and_requires_grad_equal_pytorchs(make, args, grad_args):
    ours, theirs = run(graphc, make, args, grad_args), run(torch, make, args, grad_args)
    for got, expected in zip(ours[:2], theirs[:2]):
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    assert ours[2] == theirs[2]


def test_the_polynomial_tutorial_compiled_equals_eager():
    P3 = legendre(graphc).apply

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Parameter(graphc.tensor(0.0)), nn.Parameter(graphc.tensor(-1.0))
            self.c, self.d = nn.Parameter(graphc.tensor(0.0)), nn.Parameter(graphc.tensor(0.3))

        def forward(self, x):
            return self.a + self.b * P3(self.c + self.d * x)

    x = graphc.linspace(-math.pi, math.pi, 200)
    y = graphc.sin(x)
    losses = []
    for compiled in (False, True):
        model = Model()
        optimizer = graphc.optim.SGD(model.parameters(), lr=5e-5)
        loss_fn = nn.MSELoss(reduction="sum")
        step = graphc.compile_train_step(model, loss_fn, optimizer, x, y) if compiled else None
        run_losses = []
        for _ in range(20):
            if compiled:
                run_losses.append(step(x, y).item())
                continue
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run_losses.append(loss.item())
        losses.append(run_losses)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]


def test_the_custom_node_prints_parses_and_runs_in_the_ir():
    from runtime import run_graph

    relu = my_relu(graphc).apply
    graph = graphc.trace(lambda x: relu(x * 2.0).sum(), graphc.randn(5))
    (node,) = [n for n in graph.nodes if n.op == "custom"]
    assert node.attrs["name"] == "MyReLU" and node.attrs["grads"] == (True,)
    assert "custom(" in str(graph) and ir.parse(str(graph)) == graph
    x = np.array([-1.0, 2.0, -3.0, 4.0, 0.5], dtype=np.float32)
    assert run_graph(graph, [x], {})[0] == pytest.approx(13.0)


def test_a_forward_returning_its_input_or_a_view_keeps_its_result_in_planned_graphs():
    class Identity(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class Flat(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.reshape(-1)

        @staticmethod
        def backward(ctx, g):
            return g.reshape(2, 3)

    def f(x):  # the planner reuses the buffers of x * 2 and x * 5 for the later temporaries
        kept = Identity.apply(x * 2.0) + (x + 1.0) * 3.0
        return kept, Flat.apply(x * 5.0), (x - 1.0) * 7.0

    x = graphc.arange(6.0).reshape(2, 3)
    for level in ("O0", "O2"):
        for got, expected in zip(graphc.compile(f, x, opt_level=level)(x), f(x)):
            np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_backward_mistakes_are_clear_errors():
    class TooFew(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    class WrongShape(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g

    x = graphc.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients \(expected "
                                           r"2, got 1\)"):
        TooFew.apply(x, x)
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[\] but expected "
                                           r"shape compatible with \[3\]"):
        WrongShape.apply(x)
