"""Devices, default dtype/device, factory keywords and module spellings as PyTorch code uses them:
the quickstart's device line, `size=`, `torch.normal`, `torch.utils.data` from `import torch`."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import graphc
from graphc import nn

NO_CUPY = importlib.util.find_spec("cupy") is None


@pytest.fixture
def restore_defaults():
    yield
    graphc.set_default_dtype(graphc.float32)
    graphc.set_default_device(None)


@pytest.mark.skipif(not NO_CUPY, reason="CuPy is installed")
def test_without_cupy_there_is_no_accelerator_and_cupy_is_never_imported():
    assert not graphc.cuda.is_available() and graphc.cuda.device_count() == 0
    assert not graphc.backends.mps.is_available()
    assert not graphc.accelerator.is_available()
    assert graphc.accelerator.current_accelerator() is None
    assert "cupy" not in sys.modules


def test_the_quickstart_device_lines_give_cpu():
    torch = graphc
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() \
        else "cpu"
    older = ("cuda" if torch.cuda.is_available()
             else "mps" if torch.backends.mps.is_available() else "cpu")
    if not NO_CUPY:
        pytest.skip("CuPy is installed")
    assert device == older == "cpu"
    model = nn.Linear(3, 2).to(device)
    assert model(torch.zeros(1, 3, device=device)).device == torch.device("cpu")


@pytest.mark.skipif(not NO_CUPY, reason="CuPy is installed")
@pytest.mark.parametrize("make", [
    lambda: graphc.zeros(2, device="cuda"),
    lambda: graphc.rand(2, device="cuda:0"),
    lambda: graphc.tensor([1.0], device=graphc.device("cuda")),
    lambda: graphc.arange(3, device="cuda"),
    lambda: graphc.zeros(1).to("cuda"),
    lambda: graphc.zeros(1).cuda(),
    lambda: nn.Linear(2, 2, device="cuda"),
    lambda: nn.Conv2d(1, 2, 3, device="cuda"),
    lambda: nn.Linear(2, 2).cuda(),
])
def test_cuda_without_a_gpu_is_a_runtime_error_naming_the_reason(make):
    with pytest.raises(RuntimeError, match="no CUDA device: CuPy is not installed"):
        make()


def test_device_names_parse_as_pytorchs():
    assert str(graphc.device("cuda:1")) == "cuda:1" and graphc.device("mps").type == "mps"
    assert graphc.device(0) == graphc.device("cuda:0")
    with pytest.raises(RuntimeError, match="mps"):
        graphc.zeros(1, device="mps")
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda, mps device type"):
        graphc.device("gpu")
    assert graphc.zeros(2, device="cpu").device == graphc.device("cpu")
    graphc.backends.cudnn.benchmark = True  # scripts set it; nothing changes
    graphc.backends.cudnn.benchmark = False


def test_default_dtype_as_pytorch(restore_defaults):
    torch = pytest.importorskip("torch")
    assert graphc.get_default_dtype() == graphc.float32
    graphc.set_default_dtype(graphc.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for make in (lambda m: m.tensor(1.5), lambda m: m.zeros(2), lambda m: m.rand(2),
                     lambda m: m.arange(0.0, 1.0, 0.5), lambda m: m.tensor([1, 2]) / 2,
                     lambda m: m.tensor([1, 2]) * 1.5, lambda m: m.nn.Linear(2, 2).weight,
                     lambda m: m.Tensor([1])):
            got, expected = make(graphc), make(torch)
            assert got.dtype.name == str(expected.dtype).split(".")[1]
            assert ("dtype=" in repr(got)) == ("dtype=" in repr(expected))
    finally:
        torch.set_default_dtype(torch.float32)
    with pytest.raises(TypeError, match="floating-point"):
        graphc.set_default_dtype(graphc.int64)


ISSUE_11_LAYERS = [
    lambda **kw: nn.Conv1d(2, 4, 3, **kw), lambda **kw: nn.ConvTranspose2d(2, 4, 3, **kw),
    lambda **kw: nn.GroupNorm(2, 4, **kw), lambda **kw: nn.RMSNorm(4, **kw),
    lambda **kw: nn.GRU(3, 4, **kw), lambda **kw: nn.LSTMCell(3, 4, **kw),
    lambda **kw: nn.MultiheadAttention(4, 2, **kw),
    lambda **kw: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, **kw),
]


@pytest.mark.parametrize("make", ISSUE_11_LAYERS)
def test_layers_take_the_default_dtype_and_check_device(make, restore_defaults):
    graphc.set_default_dtype(graphc.float64)
    assert {p.dtype for p in make().parameters()} == {graphc.float64}
    assert {p.dtype for p in make(dtype=graphc.float32).parameters()} == {graphc.float32}
    assert make(device="cpu")
    if NO_CUPY:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            make(device="cuda")


def test_default_device(restore_defaults):
    graphc.set_default_device("cpu")
    assert graphc.get_default_device() == graphc.device("cpu")
    assert graphc.ones(2).device == graphc.device("cpu")
    if NO_CUPY:
        graphc.set_default_device("cuda")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            graphc.zeros(2)
        with pytest.raises(RuntimeError, match="no CUDA device"):
            nn.Linear(2, 2)


def test_factories_take_size_as_a_keyword():
    torch = pytest.importorskip("torch")
    for name in ("zeros", "ones", "rand", "randn", "empty"):
        assert getattr(graphc, name)(size=(2, 3)).shape == getattr(torch, name)(size=(2, 3)).shape
        assert getattr(graphc, name)(size=4).shape == (4,)
        with pytest.raises(TypeError, match="multiple values for argument 'size'"):
            getattr(graphc, name)(2, size=(2,))
    assert graphc.full(size=(2,), fill_value=3.0).tolist() == [3.0, 3.0]
    for args, kwargs in (((0, 10), {"size": (3,)}), ((10, (2, 2)), {}), ((10,), {"size": (5,)}),
                         ((3, 5, (4,)), {})):
        got, expected = graphc.randint(*args, **kwargs), torch.randint(*args, **kwargs)
        assert got.shape == expected.shape and got.dtype.name == "int64"
    assert graphc.rand(2, requires_grad=True, device="cpu").requires_grad


def test_normal_as_pytorchs():
    graphc.manual_seed(0)
    x = graphc.normal(0, 0.01, (2000, 2))
    assert x.shape == (2000, 2) and x.dtype == graphc.float32
    assert abs(x.std().item() - 0.01) < 1e-3 and abs(x.mean().item()) < 1e-3
    means = graphc.tensor([0.0, 100.0, -100.0])
    y = graphc.normal(means, 1.0)
    assert y.shape == (3,) and np.allclose(y.numpy(), means.numpy(), atol=6)
    assert graphc.normal(means, graphc.ones(2, 1)).shape == (2, 3)
    with pytest.raises(TypeError, match="size"):
        graphc.normal(0.0, 1.0)


def test_utils_data_and_data_come_with_import_graphc():
    assert graphc.utils.data.DataLoader is graphc.data.DataLoader
    assert graphc.utils.data.TensorDataset is graphc.data.TensorDataset
    from graphc.utils.data import DataLoader, Dataset, random_split  # noqa: F401

    loader = graphc.utils.data.DataLoader(
        graphc.utils.data.TensorDataset(graphc.arange(6.0), graphc.arange(6)), batch_size=4)
    assert [len(x) for x, _ in loader] == [4, 2]
