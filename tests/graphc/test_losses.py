"""Losses: values and gradients equal PyTorch's, huge logits stay finite, finite-difference checks."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import ir
from graphc import nn
from graphc.nn import functional as F

N, C = 5, 4
RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((N, C)) * 3
TARGET = np.array([0, 3, 1, 1, 2])
WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
REAL = RNG.standard_normal((N, C))
BINARY = (RNG.random((N, C)) > 0.5).astype(np.float64)
PROBS = RNG.random((N, C)) * 0.98 + 0.01
SOFT_TARGET = RNG.random((N, C))
SOFT_TARGET /= SOFT_TARGET.sum(1, keepdims=True)

CE_CASES = [
    {"reduction": r, "label_smoothing": s, "weight": w, "ignore_index": i}
    for r in ("mean", "sum", "none") for s in (0.0, 0.2) for w in (None, WEIGHT) for i in (None, 1)
]


def case_id(case):
    return "-".join(f"{k}={'w' if isinstance(v, np.ndarray) else v}" for k, v in case.items())


# (name, graphc fn, torch fn name, input, target, kwargs); arrays in kwargs become tensors
def loss_cases():
    cases = [("cross_entropy", LOGITS, TARGET, case) for case in CE_CASES]
    cases += [
        ("cross_entropy", RNG.standard_normal((2, C, 3)), RNG.integers(0, C, (2, 3)), {}),
        ("cross_entropy", RNG.standard_normal((2, C, 3)), RNG.integers(0, C, (2, 3)),
         {"reduction": "none", "label_smoothing": 0.1}),
        ("cross_entropy", RNG.standard_normal(C), np.array(2), {}),
        ("cross_entropy", RNG.standard_normal(C), np.array(2),
         {"reduction": "none", "label_smoothing": 0.3}),
        ("cross_entropy", LOGITS, SOFT_TARGET, {}),
        ("cross_entropy", LOGITS, SOFT_TARGET, {"label_smoothing": 0.1, "reduction": "sum"}),
        ("cross_entropy", LOGITS, SOFT_TARGET, {"weight": WEIGHT, "reduction": "none"}),
        ("nll_loss", LOGITS, TARGET, {}),
        ("nll_loss", LOGITS, TARGET, {"weight": WEIGHT, "ignore_index": 3}),
        ("nll_loss", LOGITS, TARGET, {"reduction": "none"}),
        ("mse_loss", REAL, LOGITS, {}),
        ("mse_loss", REAL, LOGITS, {"reduction": "sum"}),
        ("mse_loss", REAL, LOGITS, {"reduction": "none"}),
        ("l1_loss", REAL, LOGITS, {}),
        ("l1_loss", REAL, LOGITS, {"reduction": "none"}),
        ("smooth_l1_loss", REAL, LOGITS, {}),
        ("smooth_l1_loss", REAL, LOGITS, {"beta": 0.5, "reduction": "none"}),
        ("smooth_l1_loss", REAL, LOGITS, {"beta": 0.0, "reduction": "sum"}),
        ("huber_loss", REAL, LOGITS, {}),
        ("huber_loss", REAL, LOGITS, {"delta": 2.5, "reduction": "none"}),
        ("kl_div", np.log(PROBS), SOFT_TARGET, {"reduction": "batchmean"}),
        ("kl_div", np.log(PROBS), np.where(BINARY > 0, SOFT_TARGET, 0.0), {"reduction": "none"}),
        ("kl_div", np.log(PROBS), np.log(SOFT_TARGET), {"log_target": True, "reduction": "sum"}),
        ("kl_div", np.log(PROBS), SOFT_TARGET, {}),
        ("binary_cross_entropy_with_logits", LOGITS, BINARY, {}),
        ("binary_cross_entropy_with_logits", LOGITS, BINARY,
         {"weight": WEIGHT, "pos_weight": WEIGHT[::-1].copy(), "reduction": "sum"}),
        ("binary_cross_entropy_with_logits", LOGITS, PROBS, {"reduction": "none"}),
        ("binary_cross_entropy", PROBS, BINARY, {}),
        ("binary_cross_entropy", PROBS, BINARY, {"weight": WEIGHT, "reduction": "none"}),
    ]
    return [pytest.param(*c, id=f"{c[0]}-{i}") for i, c in enumerate(cases)]


def graphc_kwargs(kwargs, dtype):
    return {k: graphc.from_numpy(v.astype(dtype)) if isinstance(v, np.ndarray) else v
            for k, v in kwargs.items()}


def torch_kwargs(torch, kwargs, dtype):
    out = {k: torch.from_numpy(v.astype(dtype)) if isinstance(v, np.ndarray) else v
           for k, v in kwargs.items()}
    if out.get("ignore_index", 0) is None:
        out.pop("ignore_index")  # graphc's None means "ignore nothing"; torch's default -100 also
    return out


def as_target(target, dtype):
    return target if target.dtype.kind == "i" else target.astype(dtype)


def graphc_loss(name, x, target, kwargs, dtype=np.float64, requires_grad=False):
    gx = graphc.from_numpy(x.astype(dtype).copy())
    if requires_grad:
        gx.requires_grad_()
    loss = getattr(F, name)(gx, graphc.from_numpy(as_target(target, dtype)),
                            **graphc_kwargs(kwargs, dtype))
    return gx, loss


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name, x, target, kwargs", loss_cases())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_and_gradient_equal_pytorch(name, x, target, kwargs, dtype, torch):
    tx = torch.from_numpy(x.astype(dtype).copy()).requires_grad_()
    tloss = getattr(torch.nn.functional, name)(
        tx, torch.from_numpy(as_target(target, dtype)), **torch_kwargs(torch, kwargs, dtype))
    gx, loss = graphc_loss(name, x, target, kwargs, dtype, requires_grad=True)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert loss.dtype == (graphc.float64 if dtype == np.float64 else graphc.float32)
    np.testing.assert_allclose(loss.detach().numpy(), tloss.detach().numpy(), rtol=tol, atol=tol)
    seed = np.random.default_rng(1).standard_normal(tuple(tloss.shape)).astype(dtype)
    (tloss * torch.from_numpy(seed)).sum().backward()
    (loss * graphc.from_numpy(seed)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name, x, target, kwargs", loss_cases())
def test_gradient_matches_finite_differences_float64(name, x, target, kwargs):
    gx, loss = graphc_loss(name, x, target, kwargs, requires_grad=True)
    seed = np.random.default_rng(2).standard_normal(tuple(loss.shape))
    (loss * graphc.from_numpy(seed)).sum().backward()
    eps, numeric = 1e-6, np.zeros_like(x, dtype=np.float64)
    with graphc.no_grad():
        for i in np.ndindex(x.shape):
            hi, lo = x.astype(np.float64).copy(), x.astype(np.float64).copy()
            hi[i] += eps
            lo[i] -= eps
            f_hi = (graphc_loss(name, hi, target, kwargs)[1].numpy() * seed).sum()
            f_lo = (graphc_loss(name, lo, target, kwargs)[1].numpy() * seed).sum()
            numeric[i] = (f_hi - f_lo) / (2 * eps)
    np.testing.assert_allclose(gx.grad.numpy(), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_finite_losses_and_gradients(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [3e4, 3e4, -3e4]], dtype=dtype)
    target = np.array([1, 0, 2])
    for name, tgt, kwargs in [
        ("cross_entropy", target, {}),
        ("cross_entropy", target, {"label_smoothing": 0.1}),
        ("nll_loss", target, {}),
        ("binary_cross_entropy_with_logits", np.eye(3)[target], {}),
        ("binary_cross_entropy_with_logits", np.eye(3)[target], {"pos_weight": np.ones(3) * 2}),
    ]:
        if name == "nll_loss":
            x = graphc.from_numpy(logits.copy()).requires_grad_()
            loss = F.nll_loss(F.log_softmax(x, 1), graphc.from_numpy(tgt))
        else:
            x, loss = graphc_loss(name, logits, tgt, kwargs, dtype, requires_grad=True)
        loss.backward()
        assert np.isfinite(loss.item()), name
        assert np.all(np.isfinite(x.grad.numpy())), name


def test_huge_logits_equal_pytorch(torch):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    target = np.array([1, 2])
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target))
    got = F.cross_entropy(graphc.from_numpy(logits), graphc.from_numpy(target))
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    assert got.item() == pytest.approx((2e4 + 5e3) / 2, rel=1e-12)


def test_loss_modules_match_functions():
    x, target = graphc.from_numpy(LOGITS.copy()), graphc.from_numpy(TARGET)
    binary, real = graphc.from_numpy(BINARY), graphc.from_numpy(REAL)
    weight = graphc.from_numpy(WEIGHT)
    pairs = [
        (nn.CrossEntropyLoss()(x, target), F.cross_entropy(x, target)),
        (nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1, reduction="sum")(x, target),
         F.cross_entropy(x, target, weight=weight, label_smoothing=0.1, reduction="sum")),
        (nn.CrossEntropyLoss(ignore_index=1)(x, target), F.cross_entropy(x, target, ignore_index=1)),
        (nn.NLLLoss()(x, target), F.nll_loss(x, target)),
        (nn.MSELoss(reduction="none")(x, real), F.mse_loss(x, real, reduction="none")),
        (nn.L1Loss()(x, real), F.l1_loss(x, real)),
        (nn.SmoothL1Loss(beta=0.5)(x, real), F.smooth_l1_loss(x, real, beta=0.5)),
        (nn.HuberLoss(delta=2.0)(x, real), F.huber_loss(x, real, delta=2.0)),
        (nn.KLDivLoss(reduction="batchmean", log_target=True)(x, real),
         F.kl_div(x, real, reduction="batchmean", log_target=True)),
        (nn.BCEWithLogitsLoss(pos_weight=weight)(x, binary),
         F.binary_cross_entropy_with_logits(x, binary, pos_weight=weight)),
    ]
    for module_value, function_value in pairs:
        np.testing.assert_array_equal(module_value.numpy(), function_value.numpy())
    assert list(nn.CrossEntropyLoss(weight=weight).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


def test_cross_entropy_traces_and_runs():
    from runtime import run_graph

    x, target = graphc.from_numpy(LOGITS.copy()), graphc.from_numpy(TARGET)
    graph = graphc.trace(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), x, target)
    graph.verify()
    (value,) = run_graph(graph, [LOGITS, TARGET], {})
    assert value == pytest.approx(F.cross_entropy(x, target, label_smoothing=0.1).item(), rel=1e-12)


BAD_TARGETS = [  # (loss, targets for 3 classes, options, the target reported)
    ("cross_entropy", [1, -5, 2], {}, -5),
    ("cross_entropy", [1, 4, 2], {}, 4),
    ("cross_entropy", [1, 0, 7], {"label_smoothing": 0.1}, 7),
    ("nll_loss", [-1, 0, 2], {}, -1),
    ("nll_loss", [0, -100, 9], {"reduction": "none"}, 9),
    ("cross_entropy", [0, 3, -100], {"ignore_index": 3, "weight": WEIGHT[:3]}, -100),
]


@pytest.mark.parametrize("name, target, kwargs, expected", BAD_TARGETS)
def test_out_of_bounds_targets_raise_pytorchs_error(name, target, kwargs, expected, torch):
    x = RNG.standard_normal((3, 3))
    with pytest.raises(IndexError, match=f"^Target {expected} is out of bounds.$"):
        getattr(torch.nn.functional, name)(
            torch.from_numpy(x), torch.tensor(target), **torch_kwargs(torch, kwargs, np.float64))
    with pytest.raises(IndexError, match=f"^Target {expected} is out of bounds.$"):
        graphc_loss(name, x, np.array(target), kwargs)


def test_default_ignore_index_is_minus_100_as_in_pytorch(torch):
    target = np.array([0, -100, 3, -100, 2])
    for name in ("cross_entropy", "nll_loss"):
        for reduction in ("mean", "sum", "none"):
            expected = getattr(torch.nn.functional, name)(
                torch.from_numpy(LOGITS), torch.from_numpy(target), reduction=reduction)
            _, got = graphc_loss(name, LOGITS, target, {"reduction": reduction})
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)


def test_compiled_step_checks_its_targets_before_updating():
    model = nn.Linear(4, 3)
    optimizer = graphc.optim.SGD(model.parameters(), lr=0.1)
    X, y = graphc.randn(5, 4), graphc.tensor([0, 1, 2, 1, 0])
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), optimizer, X, y)
    step(X, y)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for bad in (-5, 3):
        # PyTorch's class (a compiled step's error is an ExecutionError too), the user's line
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds.") as err:
            step(X, graphc.tensor([0, 1, bad, 1, 0]))
        assert isinstance(err.value, ir.errors.ExecutionError)
        assert "test_losses.py" in str(err.value)
    for key, value in model.state_dict().items():
        assert graphc.equal(value, before[key]), key
    forward = graphc.compile(lambda a, b: F.nll_loss(a, b), X, y)
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        forward(X, graphc.tensor([0, 1, 4, 1, 0]))
