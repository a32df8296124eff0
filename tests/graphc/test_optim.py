"""Optimizers: 5-step trajectories equal PyTorch's; param_groups, state_dict, zero_grad, the IR."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import optim

# (graphc/torch class name, options): each runs 5 steps from the same start with the same gradients.
CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.2, "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.2,
                 "weight_decay": 0.1}),
]


def start_values(dtype=np.float64):
    rng = np.random.default_rng(7)
    return [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)]


def gradient(value: np.ndarray, step: int) -> np.ndarray:
    """A gradient that depends on the parameter non-linearly, so trajectories diverge on any slip."""
    return np.tanh(value) * 2.0 + np.cos(value * (step + 1)) - 0.3 * value**2


def make_params(values):
    return [graphc.from_numpy(v.copy()).requires_grad_() for v in values]


def run_graphc(name, options, values, steps=5):
    params = make_params(values)
    opt = getattr(optim, name)(params, **options)
    for step in range(steps):
        for p in params:
            p.grad = graphc.from_numpy(gradient(p.detach().numpy(), step))
        opt.step()
    return params, opt


def run_torch(torch, name, options, values, steps=5):
    params = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    opt = getattr(torch.optim, name)(params, **options)
    for step in range(steps):
        for p in params:
            p.grad = torch.from_numpy(gradient(p.detach().numpy(), step))
        opt.step()
    return params, opt


@pytest.mark.parametrize("name, options", CONFIGS, ids=lambda c: str(c))
def test_trajectory_equals_torch(name, options):
    torch = pytest.importorskip("torch")
    values = start_values()
    ours, our_opt = run_graphc(name, options, values)
    theirs, their_opt = run_torch(torch, name, options, values)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
    for p, q in zip(ours, theirs):
        our_state, their_state = our_opt.state[p], their_opt.state[q]
        assert set(our_state) == set(their_state)
        for key, value in their_state.items():
            np.testing.assert_allclose(our_state[key].numpy(), value.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=key)
            assert our_state[key].numpy().dtype == value.numpy().dtype, key


@pytest.mark.parametrize("name, options", [CONFIGS[2], CONFIGS[7], CONFIGS[12]], ids=str)
def test_float32_trajectory_close_to_torch(name, options):
    torch = pytest.importorskip("torch")
    values = start_values(np.float32)
    ours, _ = run_graphc(name, options, values)
    theirs, _ = run_torch(torch, name, options, values)
    for p, q in zip(ours, theirs):
        assert p.detach().numpy().dtype == np.float32
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def sgd_by_hand(value, lrs):
    for step, lr in enumerate(lrs):
        value = value - lr * gradient(value, step)
    return value


def test_lr_change_between_steps_takes_effect_without_rebuilding():
    values = start_values()
    params = make_params(values[:1])
    opt = optim.SGD(params, lr=0.1)
    lrs = [0.1, 0.0, 0.5, 0.02]
    for step, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = lr
        params[0].grad = graphc.from_numpy(gradient(params[0].detach().numpy(), step))
        before = params[0].detach().numpy().copy()
        opt.step()
        if lr == 0.0:
            np.testing.assert_array_equal(params[0].detach().numpy(), before)
    np.testing.assert_allclose(params[0].detach().numpy(), sgd_by_hand(values[0], lrs), rtol=1e-13)
    assert len(opt._eager) == 1  # one update program served every learning rate


def test_param_groups_have_their_own_hyper_parameters():
    values = start_values()
    w, b = make_params(values)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.0
    for p in (w, b):
        p.grad = graphc.from_numpy(gradient(p.detach().numpy(), 0))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), sgd_by_hand(values[0], [0.1]), rtol=1e-13)
    np.testing.assert_allclose(b.detach().numpy(), sgd_by_hand(values[1], [0.5]), rtol=1e-13)


def test_add_param_group_and_duplicate_rejected():
    w, b = make_params(start_values())
    opt = optim.Adam([w], lr=0.01)
    opt.add_param_group({"params": b, "lr": 0.2})
    assert opt.param_groups[1]["lr"] == 0.2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


def test_invalid_options_rejected():
    w, _ = make_params(start_values())
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([w], lr=-1.0)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam([w], betas=(1.0, 0.9))


def test_params_without_grad_are_skipped():
    w, b = make_params(start_values())
    b_before = b.detach().numpy().copy()
    opt = optim.Adam([w, b], lr=0.1)
    w.grad = graphc.from_numpy(np.ones((3, 4)))
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), b_before)
    assert len(opt.state[b]) == 0 and float(opt.state[w]["step"].numpy()) == 1.0


def test_zero_grad():
    w, b = make_params(start_values())
    opt = optim.SGD([w, b], lr=0.1)
    for p in (w, b):
        p.grad = graphc.from_numpy(np.ones(p.shape))
    opt.zero_grad(set_to_none=False)
    assert np.all(w.grad.numpy() == 0) and np.all(b.grad.numpy() == 0)
    opt.zero_grad()
    assert w.grad is None and b.grad is None


def test_step_updates_storage_in_place():
    w, _ = make_params(start_values())
    storage = w.detach().numpy()
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = graphc.from_numpy(np.ones((3, 4)))
    opt.step()
    assert w.detach().numpy() is storage
    np.testing.assert_allclose(storage, start_values()[0] - 0.1)


def test_state_dict_layout_and_round_trip():
    values = start_values()
    params, opt = run_graphc("Adam", {"lr": 0.05, "weight_decay": 0.01}, values, steps=2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert sd["param_groups"][0]["lr"] == 0.05
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert float(sd["state"][0]["step"].numpy()) == 2.0
    assert sd["state"][0]["step"].numpy().dtype == np.float32

    # A fresh optimizer on copies of the parameters, loaded from sd, continues identically.
    copies = make_params([p.detach().numpy() for p in params])
    other = optim.Adam(copies, lr=1.0)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.05 and other.param_groups[0]["params"] == copies
    for step in range(2, 5):
        for group in (params, copies):
            for p in group:
                p.grad = graphc.from_numpy(gradient(p.detach().numpy(), step))
        opt.step()
        other.step()
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # The loaded state is a copy: stepping `other` did not touch `opt`'s state dict tensors.
    assert other.state[copies[0]]["exp_avg"].numpy() is not opt.state[params[0]]["exp_avg"].numpy()


def test_state_dict_matches_torch_layout():
    torch = pytest.importorskip("torch")
    values = start_values()
    _, ours = run_graphc("SGD", {"lr": 0.1, "momentum": 0.9}, values, steps=1)
    _, theirs = run_torch(torch, "SGD", {"lr": 0.1, "momentum": 0.9}, values, steps=1)
    our_sd, their_sd = ours.state_dict(), theirs.state_dict()
    assert our_sd["state"].keys() == their_sd["state"].keys()
    assert our_sd["state"][1].keys() == their_sd["state"][1].keys()
    assert set(our_sd["param_groups"][0]) <= set(their_sd["param_groups"][0])


def test_load_state_dict_mismatch_leaves_optimizer_unchanged():
    w = make_params(start_values())[0]
    _, opt = run_graphc("Adam", {"lr": 0.1}, start_values(), steps=1)
    other = optim.Adam([w], lr=0.3)
    with pytest.raises(ValueError, match="parameter"):
        other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.3 and len(other.state) == 0
    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = graphc.from_numpy(np.zeros((2, 2)))
    target = optim.Adam(make_params(start_values()), lr=0.3)
    with pytest.raises(ValueError, match="shape"):
        target.load_state_dict(bad)
    assert target.param_groups[0]["lr"] == 0.3 and len(target.state) == 0


def test_adagrad_state_exists_before_first_step():
    w, _ = make_params(start_values())
    opt = optim.Adagrad([w], initial_accumulator_value=0.5)
    assert float(opt.state[w]["step"].numpy()) == 0.0
    np.testing.assert_array_equal(opt.state[w]["sum"].numpy(), np.full((3, 4), 0.5))


def test_update_is_one_ir_graph_marked_optimizer():
    _, opt = run_graphc("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True},
                        start_values(), steps=1)
    ((program, _),) = opt._eager.values()
    graph = program.graph.verify()
    assert graph.nodes and all(n.meta["phase"] == "optimizer" for n in graph.nodes)
    assert {v.name for v in graph.inputs} >= {"group0.lr", "group0.alpha", "group0.momentum"}
    updated = {p.name for p, _ in graph.updates}
    assert updated == {"p0", "p1", "p0.step", "p0.square_avg", "p0.momentum_buffer",
                       "p0.grad_avg", "p1.step", "p1.square_avg", "p1.momentum_buffer",
                       "p1.grad_avg"}
