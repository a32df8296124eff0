"""Checkpoints: safetensors round trips, clear errors for bad files, atomic saves."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from safetensors import safe_open

import graphc
from graphc import nn, optim
from graphc.checkpoint import CheckpointError


def make_model():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def snapshot(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def assert_model_equals(model, snap):
    current = snapshot(model)
    assert current.keys() == snap.keys()
    for key in snap:
        np.testing.assert_array_equal(current[key], snap[key], err_msg=key)


def test_tensor_round_trip(tmp_path):
    for array in (np.arange(12, dtype=np.float32).reshape(3, 4), np.array(2.5),
                  np.array([1, -2], dtype=np.int64), np.array([True, False])):
        graphc.save(graphc.from_numpy(array), tmp_path / "t.safetensors")
        loaded = graphc.load(tmp_path / "t.safetensors")
        assert isinstance(loaded, graphc.Tensor)
        assert loaded.numpy().dtype == array.dtype
        np.testing.assert_array_equal(loaded.numpy(), array)


def test_state_dict_round_trip_into_model(tmp_path):
    model = make_model()
    path = tmp_path / "model.safetensors"
    graphc.save(model.state_dict(), path)
    loaded = graphc.load(path)
    assert isinstance(loaded, OrderedDict)
    assert list(loaded) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    other.load_state_dict(loaded)
    assert_model_equals(other, snapshot(model))
    # The loaded tensors own writable memory, independent of the file.
    loaded["0.bias"].numpy()[0] = 123.0
    assert other.state_dict()["0.bias"].numpy()[0] != 123.0


def test_file_is_plain_safetensors_with_state_dict_names(tmp_path):
    from safetensors.numpy import load_file

    model = make_model()
    graphc.save(model.state_dict(), tmp_path / "m.safetensors")
    arrays = load_file(str(tmp_path / "m.safetensors"))
    assert set(arrays) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    np.testing.assert_array_equal(arrays["2.weight"], model[2].weight.detach().numpy())


def test_foreign_safetensors_file_loads_as_flat_dict(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.ones((2, 2), dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    loaded = graphc.load(tmp_path / "other.safetensors")
    assert list(loaded) == ["a"]
    np.testing.assert_array_equal(loaded["a"].numpy(), np.ones((2, 2)))


def test_optimizer_state_dict_round_trip(tmp_path):
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    for p in model.parameters():
        p.grad = graphc.from_numpy(np.ones(tuple(p.shape), dtype=np.float32))
    opt.step()
    path = tmp_path / "optim.safetensors"
    graphc.save(opt.state_dict(), path)
    loaded = graphc.load(path)
    assert loaded["param_groups"][0]["betas"] == (0.8, 0.9)
    assert loaded["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert set(loaded["state"]) == {0, 1, 2, 3}
    other = optim.Adam(model.parameters(), lr=1.0)
    other.load_state_dict(loaded)
    assert other.param_groups[0]["lr"] == 0.01
    for p in model.parameters():
        np.testing.assert_array_equal(other.state[p]["exp_avg"].numpy(),
                                      opt.state[p]["exp_avg"].numpy())
        assert float(other.state[p]["step"].numpy()) == 1.0


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.safetensors"):
        graphc.load(tmp_path / "nothere.safetensors")


@pytest.mark.parametrize("damage", ["truncated", "foreign", "empty", "text"])
def test_bad_file_gives_clear_error_and_model_unchanged(tmp_path, damage):
    model = make_model()
    path = tmp_path / "model.safetensors"
    graphc.save(model.state_dict(), path)
    data = path.read_bytes()
    path.write_bytes({
        "truncated": data[: len(data) - 10],
        "foreign": b"PK\x03\x04" + os.urandom(200),  # a zip, as torch.save writes
        "empty": b"",
        "text": b"weights = [1, 2, 3]\n" * 20,
    }[damage])
    before = snapshot(model)
    with pytest.raises(CheckpointError, match="model.safetensors.*not a valid safetensors"):
        model.load_state_dict(graphc.load(path))
    assert_model_equals(model, before)


def test_missing_key_is_an_error_and_model_unchanged(tmp_path):
    model = make_model()
    sd = model.state_dict()
    del sd["2.bias"]
    graphc.save(sd, tmp_path / "partial.safetensors")
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    before = snapshot(target)
    with pytest.raises(RuntimeError, match="2.bias"):
        target.load_state_dict(graphc.load(tmp_path / "partial.safetensors"))
    assert_model_equals(target, before)


def test_wrong_shape_is_an_error_and_model_unchanged(tmp_path):
    graphc.save(make_model().state_dict(), tmp_path / "m.safetensors")
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 5))
    before = snapshot(target)
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        target.load_state_dict(graphc.load(tmp_path / "m.safetensors"))
    assert_model_equals(target, before)


class HalfThenFail:
    """A file object that writes half of what it is given, then fails like a full disk."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["mid-write", "fsync"])
def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch, failure):
    path = tmp_path / "model.safetensors"
    old = make_model()
    graphc.save(old.state_dict(), path)
    old_bytes = path.read_bytes()

    new = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    if failure == "mid-write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfThenFail(real_fdopen(fd, mode)))
    else:
        def fail(fd):
            raise OSError(5, "Input/output error")
        monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        graphc.save(new.state_dict(), path)
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left behind
    loaded = graphc.load(path)
    np.testing.assert_array_equal(loaded["0.weight"].numpy(), old[0].weight.detach().numpy())


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "t.safetensors"
    graphc.save(graphc.from_numpy(np.zeros(3)), path)
    graphc.save(graphc.from_numpy(np.ones(3)), path)
    np.testing.assert_array_equal(graphc.load(path).numpy(), np.ones(3))
    assert os.listdir(tmp_path) == ["t.safetensors"]


def test_other_objects_are_pickled_and_need_weights_only_false(tmp_path):
    path = tmp_path / "x.pt"
    graphc.save({"epoch": 3, "key": (1, 2), 5: {(1, 2): graphc.ones(2)}}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed.*dict"):
        graphc.load(path)
    loaded = graphc.load(path, weights_only=False)
    assert loaded["epoch"] == 3 and loaded[5][(1, 2)].tolist() == [1.0, 1.0]


def test_whole_module_round_trip_as_in_pytorch(tmp_path):
    # The tutorials' `torch.save(model, PATH)` ... `torch.load(PATH, weights_only=False)`.
    model = make_model()
    X = graphc.randn(2, 4)
    graphc.save(model, tmp_path / "model.pth")
    with pytest.raises(pickle.UnpicklingError, match="graphc.nn.containers.Sequential"):
        graphc.load(tmp_path / "model.pth")
    clone = graphc.load(tmp_path / "model.pth", weights_only=False)
    clone.eval()
    assert type(clone) is nn.Sequential and graphc.equal(clone(X), model(X))
    assert clone[0].weight is not model[0].weight and clone[0].weight.requires_grad
    with safe_open(str(tmp_path / "model.pth"), framework="numpy") as f:
        assert len(list(f.keys())) == 4  # the tensors are still safetensors entries


def test_file_objects_map_location_and_weights_only_as_pytorch(tmp_path):
    model = make_model()
    buffer = io.BytesIO()
    graphc.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = graphc.load(buffer, map_location="cpu", weights_only=True)
    assert graphc.equal(state["0.weight"], model[0].weight)
    with open(tmp_path / "m.safetensors", "wb") as f:
        graphc.save({"epoch": 1, "model_state_dict": model.state_dict(),
                     "loss": graphc.tensor(0.5)}, f)
    with open(tmp_path / "m.safetensors", "rb") as f:
        checkpoint = graphc.load(f, map_location=graphc.device("cpu"), weights_only=False)
    assert checkpoint["epoch"] == 1 and checkpoint["loss"].item() == 0.5
    assert graphc.load(tmp_path / "m.safetensors", map_location={"cuda:0": "cpu"}, mmap=False)
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        graphc.load(tmp_path / "m.safetensors", map_location="cuda:0")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        graphc.load(io.BytesIO(b"PK\x03\x04 a zip"))


def test_a_save_removes_the_temporary_files_of_killed_saves(tmp_path):
    path = tmp_path / "model.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".model.safetensors.{dead}.abc123.tmp"
    live = tmp_path / f".model.safetensors.{os.getppid()}.def456.tmp"  # a running process's
    other = tmp_path / f".other.safetensors.{dead}.abc123.tmp"
    for leftover in (stale, live, other):
        leftover.write_bytes(b"half a checkpoint")
    graphc.save(make_model().state_dict(), path)
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, live.name, other.name])


def test_zero_dim_tensors_keep_their_shape(tmp_path):
    # BatchNorm's num_batches_tracked is 0-d: a checkpoint must load back into the module
    graphc.save({"count": graphc.tensor(3), "bn": nn.BatchNorm1d(2).state_dict()},
                tmp_path / "x.safetensors")
    loaded = graphc.load(tmp_path / "x.safetensors")
    assert loaded["count"].shape == () and loaded["count"].item() == 3
    nn.BatchNorm1d(2).load_state_dict(loaded["bn"])
    graphc.save(nn.BatchNorm1d(2), tmp_path / "bn.pth")  # a whole module: pickled
    assert graphc.load(tmp_path / "bn.pth", weights_only=False).num_batches_tracked.shape == ()
