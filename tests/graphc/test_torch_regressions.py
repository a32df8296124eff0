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


@pytest.mark.parametrize("call", [
    lambda t, x: t.take(x, t.tensor([12])),
    lambda t, x: t.select(x, 1, 4),
    lambda t, x: t.heaviside(x, t.tensor(1)),
    lambda t, x: t.tensor_split(x, 0),
    lambda t, x: t.split_with_sizes(x, [1, 1], 0),
    lambda t, x: t.rot90(x, 1, (0, 0)),
    lambda t, x: t.cdist(x, x[:, :3]),
])
def test_composites_refuse_bad_arguments_as_pytorch(call):
    errors = []
    for lib in (torch, graphc):
        with pytest.raises(Exception) as err:
            call(lib, lib.arange(12.0).reshape(3, 4))
        errors.append((type(err.value), str(err.value)))
    assert errors[0] == errors[1]


def test_dtype_information_and_promotion_as_pytorch():
    for name in ("float16", "float32", "float64"):
        ours, theirs = graphc.finfo(getattr(graphc, name)), torch.finfo(getattr(torch, name))
        for field in ("bits", "eps", "max", "min", "tiny", "resolution"):
            assert getattr(ours, field) == getattr(theirs, field), (name, field)
    for name in ("uint8", "int8", "int16", "int32", "int64"):
        ours, theirs = graphc.iinfo(getattr(graphc, name)), torch.iinfo(getattr(torch, name))
        assert (ours.bits, ours.min, ours.max) == (theirs.bits, theirs.min, theirs.max)
    names = ("bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64")
    for a in names:
        for b in names:
            ga, gb, ta, tb = (getattr(lib, n) for lib in (graphc, torch) for n in (a, b))
            assert graphc.promote_types(ga, gb).name == str(torch.promote_types(ta, tb))[6:]
            assert graphc.can_cast(ga, gb) == torch.can_cast(ta, tb), (a, b)
    for args in [(np.array([1, 2]), 1.5), (np.array(1.0), np.array([1], np.int32)),
                 (np.array([1.0], np.float32), np.array(2.0)), (np.array([True]), 3)]:
        ours = graphc.result_type(*[graphc.tensor(a) if isinstance(a, np.ndarray) else a
                                    for a in args])
        theirs = torch.result_type(*[torch.tensor(a) if isinstance(a, np.ndarray) else a
                                     for a in args])
        assert ours.name == str(theirs)[6:], args
