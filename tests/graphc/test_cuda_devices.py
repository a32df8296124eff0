"""Devices as in PyTorch, checked without a GPU: with CuPy absent (graphc says why) and with a fake
CuPy on the host (`fake_cupy`, tests/runtime/fakecupy.py), where tensors, eager ops, autograd,
modules, optimizers, compiled steps and checkpoints live on `cuda:0` and compute what the CPU
computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc import nn, optim

CUDA = graphc.device("cuda:0")


def host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def test_importing_graphc_never_imports_cupy():
    code = "import graphc, sys; graphc.randn(2).sum(); print('cupy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_without_cupy_cuda_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy fails, as when not installed
    graphc.cuda.unavailable_reason.cache_clear()
    try:
        assert not graphc.cuda.is_available()
        with pytest.raises(RuntimeError, match="graphc has no CUDA device"):
            graphc.randn(2).to("cuda")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            nn.Linear(2, 2).cuda()
        with pytest.raises(RuntimeError, match="no CUDA device"):
            graphc.zeros(2, device="cuda")
    finally:
        graphc.cuda.unavailable_reason.cache_clear()


def test_tensors_move_between_devices(fake_cupy):
    x = graphc.randn(3, 4)
    gx = x.to("cuda")
    assert gx.device == CUDA and gx.is_cuda and str(gx.device) == "cuda:0"
    assert isinstance(gx._data, fake_cupy.ndarray) and not x.is_cuda
    np.testing.assert_array_equal(gx.cpu().numpy(), x.numpy())
    assert x.cuda().device == CUDA and gx.to(graphc.device("cuda")) is gx
    assert gx.to("cpu", graphc.float64).dtype == graphc.float64
    assert graphc.zeros(2, 3, device="cuda").device == CUDA
    assert graphc.randn(2, device=CUDA).is_cuda and graphc.arange(4, device="cuda").is_cuda
    assert graphc.zeros_like(gx).is_cuda and gx.new_ones(2).is_cuda
    assert graphc.tensor([1.0, 2.0], device="cuda").is_cuda
    assert "device='cuda:0'" in repr(gx)
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        x.to("cuda:1")


def test_numpy_of_a_cuda_tensor_is_pytorchs_error(fake_cupy):
    gx = graphc.randn(2).cuda()
    message = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
               "tensor to host memory first.")
    with pytest.raises(TypeError) as err:
        gx.numpy()
    assert str(err.value) == message
    with pytest.raises(TypeError, match="can't convert cuda:0"):
        np.asarray(gx)
    assert gx.item() if gx.numel() == 1 else gx.tolist()


def test_eager_ops_run_on_the_device_and_compute_what_the_cpu_computes(fake_cupy):
    graphc.manual_seed(0)
    x, w = graphc.randn(5, 4), graphc.randn(4, 3)
    want = ((x @ w).relu() * 2 + 1).softmax(1).sum(0)
    got = ((x.cuda() @ w.cuda()).relu() * 2 + 1).softmax(1).sum(0)
    assert got.device == CUDA
    np.testing.assert_allclose(host(got), host(want), rtol=1e-6)


def test_mixing_devices_in_one_op_names_which_tensor_is_where(fake_cupy):
    a, b = graphc.randn(2, 3).cuda(), graphc.randn(2, 3)
    with pytest.raises(RuntimeError) as err:
        a + b
    assert str(err.value) == (
        "Expected all tensors to be on the same device, but got other is on cpu, different "
        "from other tensors on cuda:0 (when checking argument in method add)")
    with pytest.raises(RuntimeError, match="got self is on cpu, different from other tensors "
                                           "on cuda:0"):
        b * a
    assert (a * 2.5 + graphc.tensor(1.0)).device == CUDA  # 0-d CPU tensors join, as in PyTorch
    with pytest.raises(RuntimeError, match="cannot move a tensor that requires grad"):
        graphc.randn(2, requires_grad=True).cuda()


def test_autograd_on_the_device(fake_cupy):
    graphc.manual_seed(1)
    x, w0 = graphc.randn(6, 4), graphc.randn(4, 2)
    grads = []
    for device in ("cpu", "cuda"):
        w = graphc.tensor(host(w0), device=device, requires_grad=True)
        loss = ((x.to(device) @ w).tanh() ** 2).mean() * 3.0
        loss.backward()
        assert w.grad.device == w.device
        grads.append(host(w.grad))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


def models():
    graphc.manual_seed(2)
    cpu = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))
    gpu = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


def test_module_to_moves_parameters_in_place_and_optimizers_keep_state_there(fake_cupy):
    cpu, gpu = models()
    params = list(gpu.parameters())
    assert gpu.cuda() is gpu and list(gpu.parameters()) == params  # the same Parameter objects
    assert all(p.device == CUDA for p in gpu.parameters())
    graphc.manual_seed(3)
    X, y = graphc.randn(8, 6), graphc.randn(8, 3)
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        opt = optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            nn.MSELoss()(model(X.to(device)), y.to(device)).backward()
            opt.step()
        state = opt.state[next(iter(model.parameters()))]
        assert {v.device.type for v in state.values()} == {device}
    for a, b in zip(cpu.parameters(), gpu.parameters()):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-5, atol=1e-6)
    assert gpu.cpu() is gpu and all(not p.is_cuda for p in gpu.parameters())


def test_a_compiled_step_runs_on_the_device_of_the_parameters(fake_cupy):
    cpu, gpu = models()
    gpu.to("cuda")
    graphc.manual_seed(4)
    X, y = graphc.randn(8, 6), graphc.randn(8, 3)
    losses = {}
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        Xd, yd = X.to(device), y.to(device)
        step = graphc.compile_train_step(model, nn.MSELoss(), opt, Xd, yd)
        storages = [p._data for p in model.parameters()]
        losses[device] = [step(Xd, yd) for _ in range(4)]
        assert all(p._data is s for p, s in zip(model.parameters(), storages))  # in place
        exe = step.variant.exe
        assert exe.backend.name == ("cupy" if device == "cuda" else "numpy")
    assert all(loss.device == CUDA for loss in losses["cuda"])
    np.testing.assert_allclose([host(v) for v in losses["cuda"]],
                               [host(v) for v in losses["cpu"]], rtol=1e-5)
    for a, b in zip(cpu.parameters(), gpu.parameters()):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-5, atol=1e-6)
    assert exe.captured and fake_cupy.host.graph_launches >= 2  # replayed as one graph
    momentum = opt.state[next(iter(gpu.parameters()))]["momentum_buffer"]
    assert momentum.device == CUDA
    with pytest.raises(RuntimeError, match="but got input 0 is on cpu, different from other "
                                           "tensors on cuda:0"):
        step(X, y)


def test_cuda_graph_false_launches_kernel_by_kernel(fake_cupy):
    _, gpu = models()
    gpu.cuda()
    X, y = graphc.randn(8, 6, device="cuda"), graphc.randn(8, 3, device="cuda")
    step = graphc.compile_train_step(gpu, nn.MSELoss(), optim.SGD(gpu.parameters(), lr=0.1),
                                     X, y, cuda_graph=False)
    for _ in range(3):
        step(X, y)
    assert not step.variant.exe.captured and fake_cupy.host.graph_launches == 0


def test_compiled_inference_follows_the_model_to_the_device(fake_cupy):
    _, gpu = models()
    X = graphc.randn(4, 6)
    fast = graphc.compile(gpu, X)
    want = host(fast(X))
    gpu.cuda()
    out = fast(X.cuda())  # recompiled for the new device
    assert out.device == CUDA
    np.testing.assert_allclose(host(out), want, rtol=1e-6)


def test_checkpoints_save_from_and_load_to_either_device(fake_cupy, tmp_path):
    _, gpu = models()
    gpu.cuda()
    path = tmp_path / "model.pth"
    graphc.save(gpu.state_dict(), path)
    restored = graphc.load(path)
    assert all(t.device == CUDA for t in restored.values())  # where they were saved from
    on_cpu = graphc.load(path, map_location="cpu")
    assert all(t.device.type == "cpu" for t in on_cpu.values())
    mapped = graphc.load(path, map_location={"cuda:0": "cpu"})
    assert all(t.device.type == "cpu" for t in mapped.values())
    cpu_model = models()[0]
    cpu_model.load_state_dict(restored)  # across devices, as load_state_dict copies
    gpu.load_state_dict(on_cpu)
    for a, b in zip(cpu_model.parameters(), gpu.parameters()):
        assert b.is_cuda and not a.is_cuda
        np.testing.assert_array_equal(host(a), host(b))


def test_a_checkpoint_saved_on_cuda_needs_map_location_without_a_gpu(fake_cupy, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "w.pth"
    graphc.save({"w": graphc.randn(2).cuda()}, path)
    monkeypatch.setattr(graphc.cuda, "unavailable_reason", lambda: "CuPy is not installed")
    with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device"):
        graphc.load(path)
    assert graphc.load(path, map_location="cpu")["w"].device.type == "cpu"


def test_layers_made_on_the_device(fake_cupy):
    layers = [nn.Linear(3, 2, device="cuda"), nn.Conv2d(1, 2, 3, device="cuda"),
              nn.BatchNorm1d(4, device="cuda"), nn.Embedding(5, 2, device="cuda"),
              nn.LayerNorm(4, device="cuda")]
    for layer in layers:
        assert all(t.is_cuda for t in layer.state_dict().values()), layer
    x = graphc.randn(2, 1, 5, 5, device="cuda")
    assert nn.functional.unfold(x, 2).is_cuda and nn.functional.pad(x, (1, 1, 1, 1), "reflect").is_cuda


def test_the_default_device_applies_to_factories(fake_cupy):
    graphc.set_default_device("cuda")
    try:
        assert graphc.zeros(2).is_cuda and graphc.randn(2, 2).is_cuda
    finally:
        graphc.set_default_device(None)
    assert not graphc.zeros(2).is_cuda
