"""Regression tests against PyTorch for results graphc once got silently wrong."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on 0 ** -1, log(0)


def both(fn, *arrays, grad=False):
    """fn on graphc tensors and on torch tensors made from the same arrays."""
    ours = [graphc.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    return (fn(graphc, *ours), ours), (fn(torch, *theirs), theirs)


def same(ours, theirs):
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("op", ["&", "|", "^"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_bitwise_operators_keep_the_integer_dtype(op, dtype):
    rng = np.random.default_rng(0)
    a = rng.integers(-9, 9, size=(3, 4)).astype(dtype)
    b = rng.integers(-9, 9, size=(4,)).astype(dtype)
    fn = {"&": lambda t, x, y: x & y, "|": lambda t, x, y: x | y, "^": lambda t, x, y: x ^ y}[op]
    (ours, _), (theirs, _) = both(fn, a, b)
    same(ours, theirs)
    scalar = True if dtype == "bool" else 5
    (ours, _), (theirs, _) = both(lambda t, x: fn(t, x, scalar), a)
    same(ours, theirs)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2, 2.5, 3, -1.0])
def test_pow_gradient_at_zero(exponent):
    x = np.array([0.0, 0.0, 1.5, -2.0])
    if isinstance(exponent, float) and exponent != int(exponent):
        x = np.abs(x)
    (ours, (a,)), (theirs, (b,)) = both(lambda t, x: (x**exponent).sum(), x, grad=True)
    ours.backward(), theirs.backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())


def test_pow_exponent_gradient_at_zero_base():
    base, exponent = np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 2.0, -1.0, 1.5])
    (ours, (_, a)), (theirs, (_, b)) = both(
        lambda t, x, y: (x.detach() ** y).sum(), base, exponent, grad=True
    )
    ours.backward(), theirs.backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize(
    "input_shape, target_shape, dtype",
    [((3, 5), (3, 1), "float32"), ((3, 5), (3,), "float32"), ((3, 5), (4,), "int64"),
     ((3, 5, 2), (3, 3), "int64"), ((3, 5), (3, 5), "int64"), ((3, 5), (3, 1), "int64")],
)
def test_cross_entropy_rejects_targets_pytorch_rejects(input_shape, target_shape, dtype):
    x, target = np.zeros(input_shape, "float32"), np.zeros(target_shape, dtype)
    with pytest.raises(Exception) as theirs:
        torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(target))
    with pytest.raises(type(theirs.value)) as ours:
        graphc.nn.functional.cross_entropy(graphc.tensor(x), graphc.tensor(target))
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "fn",
    [lambda x: x.sum(1), lambda x: x.squeeze(10), lambda x: x.mean(-2), lambda x: x.argmax(1),
     lambda x: x.softmax(1), lambda x: x.max(2), lambda x: x.sum((0, 0))],
)
def test_zero_dim_tensors_reject_out_of_range_dims(fn):
    with pytest.raises(Exception) as theirs:
        fn(torch.tensor(2.0))
    with pytest.raises(type(theirs.value), match=r"Dimension out of range|appears multiple"):
        fn(graphc.tensor(2.0))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("value", [2.0, float("inf"), float("nan")])
def test_softmax_of_a_zero_dim_tensor(name, value):
    x = np.array(value, "float32")
    (ours, _), (theirs, _) = both(lambda t, x: getattr(t, name)(x, 0), x)
    same(ours, theirs)
