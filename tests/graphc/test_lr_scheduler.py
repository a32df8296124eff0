"""Learning-rate schedulers: the lrs (and cycled momenta) of PyTorch's, step for step, and
compiled training steps that follow them without being rebuilt."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim

torch = pytest.importorskip("torch")

SCHEDULES = [  # (scheduler, options, optimizer, optimizer options, how step() is called)
    ("StepLR", {"step_size": 3, "gamma": 0.5}, "SGD", {"lr": 0.1}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 7], "gamma": 0.3}, "SGD", {"lr": 0.1}),
    ("ExponentialLR", {"gamma": 0.9}, "Adam", {"lr": 0.01}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 1e-3}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95**epoch}, "SGD", {"lr": 0.1}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 12}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("OneCycleLR", {"max_lr": [0.5], "epochs": 3, "steps_per_epoch": 4, "three_phase": True,
                    "anneal_strategy": "linear"}, "Adam", {"lr": 0.01}),
    ("ReduceLROnPlateau", {"patience": 1, "factor": 0.5, "cooldown": 1}, "SGD", {"lr": 0.1}),
    ("ReduceLROnPlateau", {"mode": "max", "threshold_mode": "abs", "patience": 0,
                           "min_lr": 0.02}, "Adam", {"lr": 0.1}),
]
METRICS = [1.0, 0.9, 0.95, 0.97, 0.89, 0.9, 0.91, 0.92, 0.5, 0.6, 0.7]


def run(lib, name, options, opt_name, opt_options):
    param = lib.nn.Parameter(lib.ones(2))
    optimizer = getattr(lib.optim, opt_name)([param], **opt_options)
    scheduler = getattr(lib.optim.lr_scheduler, name)(optimizer, **options)
    trace = []
    for metric in METRICS:
        optimizer.step()
        scheduler.step(metric) if name == "ReduceLROnPlateau" else scheduler.step()
        group = optimizer.param_groups[0]
        trace.append((group["lr"], group.get("momentum"), group.get("betas")))
        assert scheduler.get_last_lr() == [group["lr"]]
    return trace


@pytest.mark.parametrize("name, options, opt_name, opt_options", SCHEDULES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedule_equals_pytorchs(name, options, opt_name, opt_options):
    ours = run(graphc, name, options, opt_name, opt_options)
    theirs = run(torch, name, options, opt_name, opt_options)
    for got, expected in zip(ours, theirs):
        for a, b in zip(got, expected):
            if b is None:
                assert a is None
            else:
                assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


def test_state_dict_round_trip_resumes_the_schedule():
    param = nn.Parameter(graphc.ones(2))
    optimizer = optim.SGD([param], lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2)
    for _ in range(3):
        scheduler.step()
    saved = scheduler.state_dict()
    other = optim.lr_scheduler.StepLR(optim.SGD([param], lr=0.1), step_size=2)
    other.load_state_dict(saved)
    assert other.last_epoch == 3 and other.get_last_lr() == scheduler.get_last_lr()


@pytest.mark.parametrize("opt_name, opt_options, name, options", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, "OneCycleLR", {"max_lr": 0.5, "total_steps": 6}),
    ("Adam", {"lr": 0.01}, "CosineAnnealingLR", {"T_max": 3}),
    ("Adadelta", {}, "ExponentialLR", {"gamma": 0.5}),
])
def test_compiled_steps_follow_the_schedule_without_rebuilding(opt_name, opt_options, name,
                                                               options):
    X, y = graphc.randn(8, 4), graphc.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    results = []
    for compiled in (False, True):
        graphc.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        optimizer = getattr(optim, opt_name)(model.parameters(), **opt_options)
        scheduler = getattr(optim.lr_scheduler, name)(optimizer, **options)
        loss_fn = nn.CrossEntropyLoss()
        step = graphc.compile_train_step(model, loss_fn, optimizer, X, y) if compiled else None
        losses = []
        for _ in range(5):
            if compiled:
                losses.append(step(X, y).item())
            else:
                loss = loss_fn(model(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
        if compiled:
            assert len(step._variants) == 1  # lr, momentum, betas are inputs of the one graph
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for eager, compiled in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(eager, compiled, rtol=1e-4, atol=1e-6)
