"""The cupy backend's bookkeeping, on the host stand-in for CuPy (`hostcupy`: generated kernels
compiled for and run on the CPU): whole training steps equal NumPy's, kernels are cached, GEMM
products that would overwrite an operand go to scratch, an unsafe kernel order falls back op by
op, host inputs are copied in each run, and a run is captured once and replayed when safe, with
the reason logged when not."""

from __future__ import annotations

import logging
import shutil

import hostcupy
import numpy as np
import pytest
from cuda_models import examples, step_feeds

import graphc
from graphc import models, nn, optim
from graphc.differential import KERNEL, check_graph
from ir.builder import Builder
from ir.graph import Graph
from ir.types import TensorType
from passes.memory import plan_memory
from runtime import Executable
from runtime.backend import CupyBackend
from runtime.cuda import codegen, kernels

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                reason="no host C++ compiler")


def step_graph(model, loss_fn, optimizer, X, y):
    """An optimized training-step graph and everything it is fed (by name)."""
    step = graphc.compile_train_step(model, loss_fn, optimizer, X, y)
    return step.graph, step_feeds(step, model, (X, y))


def tutorial(loss=nn.CrossEntropyLoss, batch=8):
    graphc.manual_seed(0)
    model = examples().NeuralNetwork()
    X = graphc.randn(batch, 1, 28, 28)
    y = graphc.randint(0, 10, (batch,)) if loss is nn.CrossEntropyLoss else graphc.randn(batch, 10)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return step_graph(model, loss(), opt, X, y)


def small(batch=8):
    graphc.manual_seed(1)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    X, y = graphc.randn(batch, 12), graphc.randn(batch, 4)
    return step_graph(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                      X, y)


def run_steps(graph, feeds, backend, steps=3, **options):
    """`steps` runs; the inputs refed each time (a new batch), lr changed before the third."""
    exe = Executable(graph, plan_memory(graph), backend, **options)
    on_device = backend != "numpy"
    params = {v.name: hostcupy.device(feeds[v.name]) if on_device else
              np.array(feeds[v.name]) for v in graph.params}
    hosts = {v.name: np.array(feeds[v.name]) for v in graph.user_inputs()}
    for name, array in params.items():
        exe.feed(name, array)
    losses = []
    for i in range(steps):
        if i == 2 and "optimizer.group0.lr" in hosts:
            hosts["optimizer.group0.lr"].fill(0.05)
        for name, array in hosts.items():
            exe.feed(name, array * (i + 1) if name == "inputs0" else array)
        losses.append(float(np.asarray(exe.run([])[0])))
        for name, array in hosts.items():
            if name.endswith(".fresh"):
                array.fill(0.0)
    return exe, losses, params


def assert_same_steps(graph, feeds, xp, **options):
    _, want, expected = run_steps(graph, feeds, "numpy")
    exe, got, params = run_steps(graph, feeds, CupyBackend(xp), **options)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for name, array in params.items():
        assert isinstance(array, hostcupy.DeviceArray)  # updated in place, on the "device"
        np.testing.assert_allclose(array, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    return exe


def test_the_tutorial_training_step_runs_generated_kernels_and_equals_numpy():
    graph, feeds = tutorial()
    xp = hostcupy.HostCupy()
    exe = assert_same_steps(graph, feeds, xp, capture=False)
    program = exe.program
    fused = [n for n in graph.nodes if n.op == "fused"]
    assert set(fused) <= set(program.generated) and not program.fallbacks
    assert len(program.cache) < len(program.generated)  # the same update for several params
    assert program.scratch.nbytes > 0  # momentum = alpha * g + beta * momentum, in place
    assert "cublas" in xp.launches and any(n.startswith("graphc_") for n in xp.launches)


ZOO = {
    "LeNet": (lambda: models.LeNet(batch_norm=True), (4, 1, 28, 28), 10),
    "SmallResNet": (lambda: models.SmallResNet(width=8), (4, 3, 32, 32), 10),
    "TransformerClassifier": (lambda: models.TransformerClassifier(
        20, 5, max_len=12, d_model=32, nhead=4, num_layers=1, dim_feedforward=64), None, 5),
    "LSTMClassifier": (lambda: models.LSTMClassifier(20, 5), None, 5),
}


@pytest.mark.parametrize("name", [
    "LeNet", "SmallResNet",
    pytest.param("TransformerClassifier", marks=pytest.mark.slow),  # ~100 kernels to compile
    pytest.param("LSTMClassifier", marks=pytest.mark.slow),
])
def test_the_zoo_training_steps_run_generated_kernels_and_equal_numpy(name):
    make, shape, classes = ZOO[name]
    graphc.manual_seed(0)
    model = make()
    x = graphc.randint(0, 20, (4, 12)) if shape is None else graphc.randn(*shape)
    y = graphc.randint(0, classes, (4,))
    graph, feeds = step_graph(model, nn.CrossEntropyLoss(), optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9), x, y)
    results = []
    for backend in ("numpy", CupyBackend(hostcupy.HostCupy())):
        exe = Executable(graph, plan_memory(graph), backend)
        params = {v.name: np.array(feeds[v.name]) if backend == "numpy" else
                  hostcupy.device(feeds[v.name]) for v in graph.params}
        for key, array in params.items():
            exe.feed(key, array)
        losses = []
        for _ in range(2):
            for value in graph.user_inputs():
                exe.feed(value.name, np.array(feeds[value.name]))
            losses.append(float(np.asarray(exe.run([7] * len(graph.random_keys))[0])))
        results.append((losses, params, exe))
    (want, expected, _), (got, params, exe) = results
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for key, array in params.items():
        np.testing.assert_allclose(array, expected[key], rtol=1e-4, atol=1e-4, err_msg=key)
    assert not exe.program.fallbacks and len(exe.program.generated) > 50


def test_compiled_kernels_are_cached_across_executables():
    graph, _ = small()
    xp = hostcupy.HostCupy()
    first = Executable(graph, plan_memory(graph), CupyBackend(xp)).program
    count, hits = len(first.cache), first.cache.hits
    second = Executable(graph, plan_memory(graph), CupyBackend(xp)).program
    assert second.cache is first.cache and len(second.cache) == count
    assert second.cache.hits >= hits + len(second.generated)  # every kernel found compiled


def test_a_run_is_captured_once_and_replayed_with_host_inputs_copied_in(caplog):
    graph, feeds = small()
    xp = hostcupy.HostCupy()
    with caplog.at_level(logging.DEBUG, logger="graphc.runtime"):
        exe = assert_same_steps(graph, feeds, xp)
    assert exe.captured and exe._capture.replays == 1  # run 1 warms up, 2 captures, 3 replays
    assert xp.graph_launches == 2 and xp.replayed > 0
    assert not [r for r in caplog.records if "not captured" in r.getMessage()]
    launches = len(xp.launches)
    exe.feed("inputs0", np.ones(graph.user_inputs()[0].shape, np.float32))
    exe.run([])  # a replay: no kernel launched one by one
    assert len(xp.launches) == launches and xp.graph_launches == 3


def test_rebinding_a_parameter_captures_again(caplog):
    graph, feeds = small()
    xp = hostcupy.HostCupy()
    exe, _, params = run_steps(graph, feeds, CupyBackend(xp), steps=2)
    assert exe.captured
    name = graph.params[0].name
    with caplog.at_level(logging.DEBUG, logger="graphc.runtime"):
        exe.feed(name, hostcupy.device(params[name]))  # p.data = ... : new storage
        exe.run([])
    assert "rebound; capturing again" in caplog.text and xp.graph_launches == 2


def test_capture_falls_back_with_the_reason_in_a_debug_log(caplog):
    graph, feeds = tutorial()  # cross entropy: gather and scatter_add run by NumPy here
    xp = hostcupy.HostCupy()
    with caplog.at_level(logging.DEBUG, logger="graphc.runtime"):
        exe = assert_same_steps(graph, feeds, xp)
    assert not exe.captured and xp.graph_launches == 0
    (record,) = [r for r in caplog.records if "not captured" in r.getMessage()]
    assert "capture failed" in record.getMessage() and "cannot run inside a captured graph" \
        in record.getMessage()
    off = Executable(graph, plan_memory(graph), CupyBackend(xp), capture=False)
    assert off._capture.reason == "capture=False"


def test_collectives_are_never_captured(caplog):
    g = Graph("reduce")
    x = g.add_input("x", TensorType((4,), "float32"))
    b = Builder(g)
    g.set_outputs([b.all_reduce(b.mul(x, x), reduce="sum", bucket=0)])
    with caplog.at_level(logging.DEBUG, logger="graphc.runtime"):
        exe = Executable(g, plan_memory(g), CupyBackend(hostcupy.HostCupy()))
    assert "communicates with other processes (all_reduce)" in caplog.text
    for _ in range(3):
        exe([np.arange(4, dtype=np.float32)])
    assert not exe.captured


def _body_with_hazard():
    """exp(x) written over x's memory, and sum(x * 2): recomputing x * 2 in the reduction
    would read x after it was overwritten."""
    body = Graph("body")
    x = body.add_input("x", TensorType((3, 4), "float32"))
    b = Builder(body)
    a = b.exp(x)
    s = b.sum(b.mul(x, b.scalar_like(2.0, x)), axes=(1,), keepdims=False)
    body.set_outputs([a, s])
    return body, x, a, s


def layout_over(body, x, a, s, key) -> kernels.Layout:
    layout = kernels.Layout({x: (kernels.IN, 0), a: (kernels.OUT, 0), s: (kernels.OUT, 1)},
                            key, [a, s], [])
    for node in body.nodes:  # the rest lives in the body's workspace
        for value in node.outputs:
            layout.place.setdefault(value, (kernels.STATIC, np.empty(value.shape, np.float32)))
    return layout


def test_a_reduction_reads_its_operand_materialized_when_recomputing_it_is_unsafe():
    body, x, a, s = _body_with_hazard()
    key = {v: id(v) for v in body.values()}
    key[a] = key[x]  # output 0 in place over input 0
    layout = layout_over(body, x, a, s, key)
    with pytest.raises(kernels.Unsafe, match="overwritten before a reduction kernel reads it"):
        kernels.check_order(codegen.stages(body), layout, set())
    xp = hostcupy.HostCupy()
    kernel, reason = kernels.build(body, layout, "k", xp, kernels.kernel_cache(xp),
                                   kernels.Scratch(CupyBackend(xp)))
    assert kernel is not None and reason is None
    first = kernel.launches[0].kernel.source  # exp(x) and x * 2 computed before x is lost
    assert first.operation.count("out") == 2 and len(kernel.launches) == 2


def test_stages_that_cannot_run_over_their_buffers_are_refused():
    body, x, a, s = _body_with_hazard()
    key = {v: id(v) for v in body.values()}
    key[a] = key[s] = key[x]  # both results in x's memory: one of them cannot survive
    layout = layout_over(body, x, a, s, key)
    xp = hostcupy.HostCupy()
    kernel, reason = kernels.build(body, layout, "k", xp, kernels.kernel_cache(xp),
                                   kernels.Scratch(CupyBackend(xp)))
    assert kernel is None and "overwritten" in reason


def test_the_checker_compares_numpy_with_the_generated_kernels(monkeypatch):
    graph, feeds = small()
    xp = hostcupy.HostCupy()
    backends = ("numpy", CupyBackend(xp))
    result = check_graph(graph, feeds, levels="O2", backends=backends)
    assert result.ok and result.runs == ("O2 on numpy", "O2 on cupy"), str(result)
    real = codegen._elementwise_stage

    def wrong(plan, nodes, name):  # the generated code of the relu layer computes exp instead
        real(plan, nodes, name)
        stage = plan.stages[-1]
        if "relu" in stage.source.operation:
            source = stage.source
            operation = source.operation.replace("< 0 ? 0 :", "< 0 ? 1 :")
            stage.source = codegen.ElementwiseSource(source.name, source.inputs, source.outputs,
                                                     operation, source.preamble)

    monkeypatch.setattr(codegen, "_elementwise_stage", wrong)
    found = check_graph(graph, feeds, levels="O2", backends=backends).difference
    assert found is not None and found.kind == KERNEL and found.op == "fused"
    assert "relu" in found.fused
