"""Every OpInfo row (tests/graphc/opinfo.py) through every check: PyTorch parity of values, dtypes
and error classes; gradients against PyTorch and finite differences in float64; traced and
compiled equal eager."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from passes.memory import plan_memory
from passes.pipeline import optimize
from runtime import Executable, run_graph
from tests.graphc.opinfo import OPS

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on NaN, inf, 0 ** -1

BY_NAME = {info.name: info for info in OPS}
TOL = {"float16": (2e-3, 1e-3), "float32": (2e-5, 2e-6), "float64": (1e-11, 1e-12)}
GRAD_TOL = (1e-8, 1e-10)
BUILTIN = (IndexError, ValueError, TypeError, RuntimeError)


def to_graphc(a, grad=False):
    if isinstance(a, np.ndarray):
        return graphc.tensor(a, requires_grad=grad and a.dtype == np.float64)
    return a


def to_torch(a, grad=False):
    if isinstance(a, np.ndarray):
        return torch.tensor(a, requires_grad=grad and a.dtype == np.float64)
    return a


def flat(result) -> list:
    """Tensors and Python values of a result (a tensor, a tuple, a namedtuple, a scalar)."""
    if isinstance(result, (tuple, list)):
        return [r for item in result for r in flat(item)]
    return [result]


def numpy_of(x):
    if isinstance(x, (graphc.Tensor, torch.Tensor)):
        return np.asarray(x.detach().numpy())
    return np.asarray(x)


def dtype_name(x) -> str:
    if isinstance(x, (graphc.Tensor, torch.Tensor)):
        return str(x.dtype).split(".")[-1]
    return type(x).__name__


def builtin_class(err: BaseException) -> type:
    """The built-in exception class an error is an instance of, as users would catch it."""
    for cls in type(err).__mro__:
        if cls in BUILTIN:
            return cls
    return Exception


def run(module, info, sample, convert, grad=False):
    args = [convert(a, grad) for a in sample.args]
    return module and info.fn(module, *args, **sample.kwargs), args


def assert_close(ours, theirs, dtype, what, tol=None):
    rtol, atol = tol or info_tol(dtype)
    a, b = numpy_of(ours), numpy_of(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if a.dtype.kind in "biu" or b.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def info_tol(dtype):
    return TOL.get(dtype, (0, 0))


def compare_outputs(info, ours, theirs, dtype, what):
    ours, theirs = flat(ours), flat(theirs)
    assert len(ours) == len(theirs), f"{what}: {len(ours)} outputs, PyTorch gives {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        kind = dtype_name(b)
        tol = info.tol.get(kind, info_tol(kind))
        assert dtype_name(a) == dtype_name(b), f"{what}: output {i} dtype"
        if info.indices and i > 0:
            continue  # indices of ties may differ: the values they pick were compared
        assert_close(a, b, kind, f"{what}: output {i}", tol)


def samples(info, dtype, seed=0):
    rng = np.random.default_rng([seed, sorted(BY_NAME).index(info.name)])
    return info.samples(rng, dtype)


# -- forward parity with PyTorch, error classes included ------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_forward_matches_pytorch(name):
    info = BY_NAME[name]
    for dtype in info.dtypes:
        for i, sample in enumerate(samples(info, dtype)):
            what = f"{name} {dtype} sample {i} {[getattr(a, 'shape', a) for a in sample.args]}"
            try:
                theirs, _ = run(torch, info, sample, to_torch)
            except BUILTIN as err:  # PyTorch refuses: graphc must refuse with the same class
                with pytest.raises(builtin_class(err)):
                    run(graphc, info, sample, to_graphc)
                continue
            ours, _ = run(graphc, info, sample, to_graphc)
            compare_outputs(info, ours, theirs, dtype, what)


# -- gradients: against PyTorch, and against finite differences ------------------------------------
def _loss(module, outputs, weights):
    total = None
    for out, w in zip(outputs, weights):
        if isinstance(out, (graphc.Tensor, torch.Tensor)) and out.dtype.is_floating_point:
            term = (out * module.tensor(w)).sum()
            total = term if total is None else total + term
    return total


def _weights(rng, outputs):
    return [rng.standard_normal(tuple(o.shape)) if hasattr(o, "shape") else None for o in outputs]


@pytest.mark.parametrize("name", sorted(n for n, info in BY_NAME.items() if info.grad))
def test_gradient_matches_pytorch(name):
    info = BY_NAME[name]
    rng = np.random.default_rng(1)
    for i, sample in enumerate(s for s in samples(info, "float64") if s.grad):
        try:
            theirs, targs = run(torch, info, sample, to_torch, grad=True)
        except BUILTIN:
            continue  # PyTorch refuses this sample (checked in the forward test)
        ours, oargs = run(graphc, info, sample, to_graphc, grad=True)
        weights = _weights(rng, flat(theirs))
        their_loss = _loss(torch, flat(theirs), weights)
        our_loss = _loss(graphc, flat(ours), weights)
        if their_loss is None or not their_loss.requires_grad:
            continue
        their_loss.backward()
        if our_loss.requires_grad:  # else graphc knows the gradient is zero: PyTorch's must be
            our_loss.backward()
        for j, (a, b) in enumerate(zip(oargs, targs)):
            if isinstance(b, torch.Tensor) and b.requires_grad:
                expected = b.grad if b.grad is not None else torch.zeros_like(b)
                got = a.grad if a.grad is not None else graphc.zeros_like(a)
                assert_close(got, expected, "float64", f"{name} sample {i}: grad of input {j}",
                             info.grad_tol or GRAD_TOL)


@pytest.mark.parametrize(
    "name", sorted(n for n, info in BY_NAME.items() if info.grad and info.finite_differences)
)
def test_gradient_matches_finite_differences(name):
    info = BY_NAME[name]
    sample = next((s for s in samples(info, "float64") if s.grad and _size(s) > 0), None)
    if sample is None:
        pytest.skip("no differentiable sample")
    rng = np.random.default_rng(2)
    out, args = run(graphc, info, sample, to_graphc, grad=True)
    weights = _weights(rng, flat(out))
    loss = _loss(graphc, flat(out), weights)
    if loss is None or not loss.requires_grad:
        pytest.skip("no float output depends on a float input")
    loss.backward()
    for j, (a, arg) in enumerate(zip(sample.args, args)):
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64):
            continue
        numeric = np.zeros(a.shape)
        for pos in np.ndindex(a.shape):
            values = []
            for step in (1e-6, -1e-6):
                moved = list(sample.args)
                moved[j] = a.copy()
                moved[j][pos] += step
                result, _ = run(graphc, info, type(sample)(tuple(moved), sample.kwargs), to_graphc)
                values.append(float(_loss(graphc, flat(result), weights)))
            numeric[pos] = (values[0] - values[1]) / 2e-6
        got = arg.grad.numpy() if arg.grad is not None else np.zeros(a.shape)
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: gradient of input {j}")


def _size(sample) -> int:
    return sum(a.size for a in sample.args if isinstance(a, np.ndarray))


def _eager_or_none(info, sample):
    try:
        return run(graphc, info, sample, to_graphc)[0]
    except BUILTIN:
        return None


# -- traced and compiled equal eager ---------------------------------------------------------------
def compiled_run(graph, level: str, arrays) -> list:
    """`graph` optimized at `level`, planned and run by the runtime's Executable."""
    optimized = optimize(graph, level)
    return Executable(optimized, plan_memory(optimized))(arrays, {})


@pytest.mark.parametrize("name", sorted(n for n, info in BY_NAME.items() if info.trace != "skip"))
def test_traced_and_compiled_equal_eager(name):
    info = BY_NAME[name]
    for dtype in info.dtypes:
        for i, sample in enumerate(samples(info, dtype)):
            eager = _eager_or_none(info, sample)
            if eager is None:
                continue  # refused eagerly (checked against PyTorch above)
            arrays = [a for a in sample.args if isinstance(a, np.ndarray)]

            def fn(*tensors, sample=sample):
                it = iter(tensors)  # the arrays' tensors, in order; other arguments as they are
                args = [next(it) if isinstance(a, np.ndarray) else a for a in sample.args]
                return info.fn(graphc, *args, **sample.kwargs)

            if info.trace == "error":
                with pytest.raises(graphc.TraceError):
                    graphc.trace(fn, *arrays)
                return
            graph = graphc.trace(fn, *arrays)
            expected = [numpy_of(e) for e in flat(eager)]
            what = f"{name} {dtype} sample {i}"
            compiled = [(f"compiled {level}", compiled_run(graph, level, arrays))
                        for level in ("O0", "O2")]
            for kind, results in (("traced", run_graph(graph, arrays)), *compiled):
                assert len(results) == len(expected), f"{what}: {kind} output count"
                for got, want in zip(results, expected):
                    assert got.dtype == want.dtype, f"{what}: {kind} dtype {got.dtype}"
                    assert_close(got, want, want.dtype.name, f"{what}: {kind}")
