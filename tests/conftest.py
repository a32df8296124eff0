"""Shared fixtures: a seeded NumPy generator, random IR graphs built with the Builder, and
`parity`: a layer run in PyTorch and in graphc with the same weights and inputs, compared.

One conftest for all tests: test modules import helpers from it (`from conftest import ...`),
which a second conftest.py in a subfolder would shadow."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import graphc
import ir

# Tests run in debug mode: the pipeline verifies the graph after every pass and executables
# poison their arena before each run, so a read of memory nothing wrote shows up as NaN.
os.environ.setdefault("GRAPHC_DEBUG", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


UNARY = ("neg", "abs", "sign", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "erf",
         "stop_gradient")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")


def _pick(rng, values, pred=lambda v: True):
    choices = [v for v in values if pred(v)]
    return choices[rng.integers(len(choices))] if choices else None


def _is_float(v):
    return ir.is_float(v.dtype)


def _emit_unary(b, rng, pool):
    x = _pick(rng, pool, _is_float)
    return b.emit(str(rng.choice([op for op in UNARY if op in ir.OPS])), x)


def _emit_binary(b, rng, pool):
    x = _pick(rng, pool, _is_float)
    # The second operand: same type, a trailing-axes slice of it, or a scalar (broadcasting).
    y = _pick(rng, pool, lambda v: v is not x and v.type == x.type)
    if y is None or rng.random() < 0.5:
        shape = x.shape[int(rng.integers(x.type.ndim + 1)):]
        y = b.graph.add_constant(rng.standard_normal(shape).astype(x.dtype))
    op = str(rng.choice([op for op in BINARY + COMPARE if op in ir.OPS]))
    return b.emit(op, *((x, y) if rng.random() < 0.5 else (y, x)))


def _emit_where(b, rng, pool):
    x = _pick(rng, pool, _is_float)
    cond = b.gt(x, b.scalar_like(0.0, x))
    return b.where(cond, x, b.neg(x))


def _emit_cast(b, rng, pool):
    x = _pick(rng, pool)
    return b.cast(x, dtype=str(rng.choice(["float32", "float64", "int64", "bool"])))


def _emit_reduce(b, rng, pool):
    x = _pick(rng, pool, lambda v: _is_float(v) and v.type.ndim >= 1)
    axis = int(rng.integers(x.type.ndim))
    if rng.random() < 0.3:
        return b.argmax(x, axis=axis, keepdims=bool(rng.random() < 0.5))
    op = str(rng.choice(["sum", "max", "min"]))
    axes = None if rng.random() < 0.2 else (axis,)
    return b.emit(op, x, axes=axes, keepdims=bool(rng.random() < 0.5))


def _emit_matmul(b, rng, pool):
    x = _pick(rng, pool, lambda v: _is_float(v) and v.type.ndim >= 2)
    if x is None:
        return None
    w = b.graph.add_param(b.graph.fresh_name("w"), ir.TensorType((x.shape[-1], 3), x.dtype))
    return b.matmul(x, w)


def _emit_shape(b, rng, pool):
    x = _pick(rng, pool, lambda v: v.type.ndim >= 1)
    choice = int(rng.integers(6))
    if choice == 0:
        return b.reshape(x, shape=(x.type.size,))
    if choice == 1:
        return b.permute(x, perm=tuple(int(i) for i in rng.permutation(x.type.ndim)))
    if choice == 2:
        return b.broadcast_to(x, shape=(2, *x.shape))
    if choice == 3:
        return b.slice(x, starts=(0,) * x.type.ndim, stops=x.shape, steps=(2,) * x.type.ndim)
    if choice == 4:
        return b.concat(x, x, axis=0)
    pads = tuple((1, 0) for _ in x.shape)
    return b.pad(x, pads=pads, value=float("-inf") if _is_float(x) else 0)


def _emit_split(b, rng, pool):
    x = _pick(rng, pool, lambda v: v.type.ndim >= 1 and v.shape[0] >= 2)
    if x is None:
        return None
    first = int(rng.integers(1, x.shape[0]))
    return b.split(x, sizes=(first, x.shape[0] - first), axis=0)


def _emit_full(b, rng, pool):
    return b.full(shape=(2, 3), dtype="float32", value=float(rng.choice([0.5, 1e-7, 3.0])))


EMITTERS = {
    "neg": _emit_unary, "add": _emit_binary, "where": _emit_where, "cast": _emit_cast,
    "sum": _emit_reduce, "matmul": _emit_matmul, "reshape": _emit_shape, "split": _emit_split,
    "full": _emit_full,
}


def random_graph(rng, n_nodes: int = 12, name: str = "random") -> ir.Graph:
    """A graph of `n_nodes` emitters over the ops that exist, with inputs, params, constants,
    meta on every node, outputs and an update."""
    g = ir.Graph(name)
    pool = [
        g.add_input("x", ir.TensorType((3, 4), "float32")),
        g.add_input("y", ir.TensorType((4,), "float64")),
        g.add_param("layer.0.weight", ir.TensorType((3, 4), "float32")),
        g.add_constant(np.float32(0.25), name="half"),
        g.add_constant(rng.standard_normal((5, 4)).astype(np.float32)),  # > 16: base64
        g.add_constant(np.array([1, -2, 3], dtype=np.int64), name="ints"),
    ]
    emitters = [f for op, f in EMITTERS.items() if op in ir.OPS]
    b = ir.Builder(g)
    for i in range(n_nodes):
        meta = {"loc": f"model.py:{10 + i}", "scope": f"layer.{i % 3}"}
        if i % 4 == 3:
            meta.update(phase="backward", grad_of=pool[-1])
        with b.meta(**meta):
            result = emitters[int(rng.integers(len(emitters)))](b, rng, pool)
        if result is not None:
            pool.extend(result if isinstance(result, tuple) else (result,))
    g.set_outputs(pool[-2:])
    w = g.params[0]
    update = b.emit("add", w, b.scalar_like(1.0, w)) if "add" in ir.OPS else w
    g.updates.append((w, update))
    g.meta["saved"] = [pool[-1]]
    return g


@pytest.fixture
def make_random_graph():
    """`make_random_graph(rng, n_nodes=12)`: a random graph over the ops that exist."""
    return random_graph


@pytest.fixture
def fused_graph():
    """relu(x @ w + b) with `add` and `maximum` fused into one node holding a subgraph."""
    g = ir.Graph("fused_mlp")
    x = g.add_input("x", ir.TensorType((4, 8), "float32"))
    w = g.add_param("fc.weight", ir.TensorType((8, 16), "float32"))
    bias = g.add_param("fc.bias", ir.TensorType((16,), "float32"))
    b = ir.Builder(g, loc="model.py:7", scope="fc")
    h = b.matmul(x, w)
    sub = ir.Graph("fused_0")
    a = sub.add_input("a", h.type)
    c = sub.add_input("c", bias.type)
    sb = ir.Builder(sub, loc="model.py:8", scope="fc")
    s = sb.add(a, c)
    r = sb.maximum(s, sb.scalar_like(0.0, s))
    sub.set_outputs([r, s])
    node = g.add_node("fused", [h, bias], {"body": sub}, {"loc": "model.py:8", "scope": "fc"})
    g.set_outputs([node.outputs[0]])
    return g


def cube_function_body(dtype: str, shape) -> tuple:
    """(body, attrs) of a `custom` node: x**3 forward, the hand-written 3 x**2 g backward."""
    body = ir.Graph("Cube")
    x = body.add_input("x", ir.TensorType(shape, dtype))
    b = ir.Builder(body)
    y = b.mul(b.mul(x, x), x)
    g = body.add_input("g", y.type)
    dx = b.mul(b.mul(g, b.scalar_like(3, x)), b.mul(x, x))
    body.set_outputs([y, dx])
    attrs = {"body": body, "name": "Cube", "outputs": 1, "forward_nodes": 2, "grads": (True,)}
    return body, attrs


# -- parity with PyTorch --------------------------------------------------------------------------
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


@pytest.fixture
def fake_cupy(monkeypatch):
    """A fake CuPy on the host (tests/runtime/fakecupy.py): graphc sees one GPU, cuda:0."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "runtime"))
    import fakecupy

    return fakecupy.install(monkeypatch)
