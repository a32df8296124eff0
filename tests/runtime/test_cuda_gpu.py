"""On a real GPU (skipped without CuPy and a CUDA device): generated kernels, whole training steps,
captured replays, eager CUDA tensors and the differential checker against the CPU. Tolerances:
float32 1e-5 relative, float64 1e-10 (the issue's parity targets). `scripts/gpu_check.sh` runs
this file and the benchmark in one go."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

cupy = pytest.importorskip("cupy")
if not graphc.cuda.is_available():
    pytest.skip(f"no CUDA device: {graphc.cuda.unavailable_reason()}", allow_module_level=True)

from cuda_models import examples, step_feeds, zoo_steps
from test_cuda_codegen import REDUCTION_CASES, elementwise_cases

from graphc import nn, optim
from graphc.differential import check
from ir.graph import Graph
from ir.ops.registry import OPS
from ir.types import TensorType
from passes.memory import plan_memory
from runtime import Executable
from runtime.cuda import codegen

RTOL = {"float16": 2e-3, "float32": 1e-5, "float64": 1e-10}


def agree(got, want) -> bool:
    if got.shape != want.shape:
        return False
    if got.dtype.kind != "f":
        return bool((got == want).all())
    rtol = RTOL[got.dtype.name]
    return bool(np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                           atol=rtol * 1e-3, equal_nan=True).all())


def test_every_elementwise_op_on_the_gpu_computes_what_its_reference_kernel_computes():
    wrong = []
    for op, dtype, node, arrays, source in elementwise_cases():
        kernel = cupy.ElementwiseKernel(source.in_params, source.out_params, source.operation,
                                        "k", preamble=source.preamble)
        out = cupy.empty(arrays[0].shape, node.outputs[0].dtype)
        kernel(*[cupy.asarray(a) for a in arrays], out)
        with np.errstate(all="ignore"):
            want = np.asarray(OPS[op].impl(np, *arrays, **node.attrs))
        if not agree(cupy.asnumpy(out), want):
            wrong.append(f"{op}[{dtype}]")
    assert not wrong, wrong


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reductions_on_the_gpu(dtype):
    rng = np.random.default_rng(0)
    # near 1: sums without cancellation and products without overflow, so 1e-5 is meaningful
    x = rng.uniform(0.9, 1.1, size=(33, 65, 17)).astype(dtype) if dtype != "int64" else \
        rng.integers(-4, 5, size=(33, 65, 17)).astype(dtype)
    x[3, 4, 5] = 7  # one clear maximum
    for op, attrs in REDUCTION_CASES:
        graph = Graph(op)
        node = graph.add_node(op, [graph.add_input("x", TensorType(x.shape, dtype))], attrs)
        (stage,) = codegen.node_stages(node)
        s = stage.source
        kernel = cupy.ReductionKernel(s.in_params, s.out_params, s.map_expr, s.reduce_expr,
                                      s.post_map_expr, s.identity, s.name, s.reduce_type,
                                      preamble=s.preamble)
        out = cupy.empty(node.outputs[0].shape, node.outputs[0].dtype)
        kernel(cupy.asarray(x), out, axis=s.axes, keepdims=s.keepdims)
        want = np.asarray(OPS[op].impl(np, x, **attrs))
        assert agree(cupy.asnumpy(out), want), (op, attrs)


def run(graph, feeds, backend, steps=3, capture=None):
    exe = Executable(graph, plan_memory(graph), backend, capture=capture)
    on_gpu = backend == "cupy"
    params = {v.name: cupy.asarray(feeds[v.name]) if on_gpu else np.array(feeds[v.name])
              for v in graph.params}
    for name, array in params.items():
        exe.feed(name, array)
    losses = []
    for _ in range(steps):
        for value in graph.user_inputs():
            exe.feed(value.name, np.array(feeds[value.name]))
        losses.append(float(cupy.asnumpy(exe.run([5] * len(graph.random_keys))[0])))
    host = {k: cupy.asnumpy(v) if on_gpu else v for k, v in params.items()}
    return exe, losses, host


def test_the_zoo_training_steps_on_the_gpu_equal_the_cpu():
    for graph, feeds in zoo_steps():
        _, want, expected = run(graph, feeds, "numpy")
        exe, got, params = run(graph, feeds, "cupy")
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=graph.name)
        if any(name.endswith("exp_avg") for name in params):
            # Adam: gradients that are zero but for rounding (an attention key bias's) become
            # lr-sized steps of either sign; the losses above are what must agree
            continue
        for name, array in params.items():  # three steps of other summation orders
            np.testing.assert_allclose(array, expected[name], rtol=1e-5, atol=1e-5,
                                       err_msg=name)
        assert not exe.program.fallbacks, exe.program.fallbacks


def tutorial(dtype=graphc.float32, loss=nn.CrossEntropyLoss):
    graphc.manual_seed(0)
    model = examples().NeuralNetwork().to(dtype)
    X = graphc.randn(64, 1, 28, 28, dtype=dtype)
    y = graphc.randint(0, 10, (64,)) if loss is nn.CrossEntropyLoss else \
        graphc.randn(64, 10, dtype=dtype)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = graphc.compile_train_step(model, loss(), opt, X, y)
    return step.graph, step_feeds(step, model, (X, y))


def test_the_tutorial_step_in_float64_on_the_gpu_equals_the_cpu_to_1e_10():
    graph, feeds = tutorial(graphc.float64)
    _, want, expected = run(graph, feeds, "numpy")
    _, got, params = run(graph, feeds, "cupy")
    np.testing.assert_allclose(got, want, rtol=1e-10)
    for name, array in params.items():
        np.testing.assert_allclose(array, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_captured_step_replays_what_launching_kernel_by_kernel_computes():
    graph, feeds = tutorial(loss=nn.MSELoss)  # no atomics: replays are bit for bit
    captured, losses, params = run(graph, feeds, "cupy", steps=5)
    plain, want, expected = run(graph, feeds, "cupy", steps=5, capture=False)
    assert captured.captured and captured._capture.replays == 3 and not plain.captured
    assert losses == want
    for name, array in params.items():
        np.testing.assert_array_equal(array, expected[name])


def test_eager_cuda_tensors_and_autograd_equal_the_cpu():
    graphc.manual_seed(1)
    x, w = graphc.randn(17, 9), graphc.randn(9, 5)
    results = []
    for device in ("cpu", "cuda"):
        wd = graphc.tensor(w.numpy(), device=device, requires_grad=True)
        out = ((x.to(device) @ wd).relu().softmax(1) * 3 - 1).abs().mean(0).sum()
        out.backward()
        results.append((out.item(), wd.grad.cpu().numpy()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-7)


def test_the_checker_finds_no_difference_between_numpy_and_cupy():
    graphc.manual_seed(2)
    model = examples().NeuralNetwork()
    X, y = graphc.randn(64, 1, 28, 28), graphc.randint(0, 10, (64,))
    result = check(model, X, y, loss_fn=nn.CrossEntropyLoss(),
                   optimizer=optim.SGD(model.parameters(), lr=0.1), levels="O2",
                   backends="numpy,cupy")
    assert result.ok, str(result)


def test_a_cuda_model_trains_with_parameters_and_state_on_the_device():
    graphc.manual_seed(3)
    model = examples().NeuralNetwork().cuda()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    X = graphc.randn(64, 1, 28, 28, device="cuda")
    y = graphc.randint(0, 10, (64,), device="cuda")
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, X, y)
    storages = [p._data for p in model.parameters()]
    losses = [step(X, y).item() for _ in range(20)]
    assert losses[-1] < losses[0] and step.variant.exe.backend.name == "cupy"
    assert all(p._data is s for p, s in zip(model.parameters(), storages))
    assert all(isinstance(v._data, cupy.ndarray) for s in opt.state.values() for v in s.values())
    assert step.variant.exe.captured
