"""graphc.onnx.export: the tutorial MLP and a LeNet run in onnxruntime with graphc's numbers; an op
without a translation is an error naming the op and the user's line."""

from __future__ import annotations

import io

import numpy as np
import pytest

import graphc
from graphc import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


class NeuralNetwork(nn.Module):  # the quickstart's model
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def lenet():  # d2l's LeNet, with a BatchNorm and both poolings
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120),
        nn.Sigmoid(), nn.Linear(120, 84), nn.Dropout(0.5), nn.Sigmoid(), nn.Linear(84, 10))


def run_onnx(source, feeds: dict):
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_tutorial_mlp_runs_in_onnxruntime_with_a_dynamic_batch(tmp_path):
    graphc.manual_seed(0)
    model = NeuralNetwork()
    path = tmp_path / "mlp.onnx"
    graphc.onnx.export(model, graphc.rand(1, 28, 28), str(path), input_names=["input"],
                       output_names=["logits"],
                       dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["input"]
    assert {t.name for t in proto.graph.initializer} >= {"linear_relu_stack.0.weight"}
    for batch in (1, 7):
        X = np.random.default_rng(batch).random((batch, 28, 28), dtype=np.float32)
        (logits,) = run_onnx(str(path), {"input": X})
        expected = model(graphc.from_numpy(X)).detach().numpy()
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_lenet_runs_in_onnxruntime_in_eval_mode_and_stays_in_training_mode():
    graphc.manual_seed(1)
    model = lenet()
    X = graphc.rand(4, 1, 28, 28)
    model(X)  # a training step's batch statistics move the running ones off their start
    buffer = io.BytesIO()
    graphc.onnx.export(model, (X,), buffer)
    assert model.training  # exported in eval mode, given back in training mode
    (out,) = run_onnx(buffer.getvalue(), {"input": X.numpy()})
    model.eval()
    np.testing.assert_allclose(out, model(X).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_conv_and_pooling_options_translate():
    graphc.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
        nn.Conv2d(8, 8, 3, groups=8, dilation=2), nn.AvgPool2d(2, padding=1, ceil_mode=True,
                                                              count_include_pad=False))
    X = graphc.rand(2, 4, 12, 12)  # partial last windows: ceil_mode matters
    buffer = io.BytesIO()
    graphc.onnx.export(model, (X,), buffer)
    (out,) = run_onnx(buffer.getvalue(), {"input": X.numpy()})
    np.testing.assert_allclose(out, model(X).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(graphc.onnx.UnsupportedOperatorError, match="divisor_override"):
        graphc.onnx.export(nn.AvgPool2d(2, divisor_override=3), (X,), io.BytesIO())


def test_functions_and_many_ops_translate():
    def f(x, index):
        y = graphc.cat([x, x.clamp(-0.5, 0.5)], 1)[:, 1:7:2]
        picked = y.gather(1, index) + y[index[:, 0]].sum(0, keepdim=True)
        return (picked.exp().log() * 2 - 1).max(1).values, y.argmax(1), (y != 0).float().mean()

    x = graphc.randn(5, 4)
    index = graphc.tensor([[0], [2], [1], [0], [2]])
    buffer = io.BytesIO()
    graphc.onnx.export(f, (x, index), buffer)
    got = run_onnx(buffer.getvalue(), {"x": x.numpy(), "index": index.numpy()})
    for a, b in zip(got, f(x, index)):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)


def test_an_op_without_translation_names_the_op_and_the_user_line():
    def f(x, index):
        return x.scatter_add(0, index, x)

    with pytest.raises(graphc.onnx.UnsupportedOperatorError,
                       match=r"op 'scatter_add' at tests/graphc/test_onnx.py:\d+ has no ONNX"):
        graphc.onnx.export(f, (graphc.randn(3), graphc.tensor([0, 1, 0])), io.BytesIO())
