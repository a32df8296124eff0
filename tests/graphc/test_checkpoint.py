"""Checkpoints: safetensors round trips, clear errors for bad files, atomic saves."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest

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


def test_unsupported_objects_rejected(tmp_path):
    with pytest.raises(TypeError, match="cannot save"):
        graphc.save({"model": object()}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be str or int"):
        graphc.save({(1, 2): graphc.zeros(2)}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_zero_dim_tensors_keep_their_shape(tmp_path):
    # BatchNorm's num_batches_tracked is 0-d: a checkpoint must load back into the module
    graphc.save({"count": graphc.tensor(3), "bn": nn.BatchNorm1d(2).state_dict()},
                tmp_path / "x.safetensors")
    loaded = graphc.load(tmp_path / "x.safetensors")
    assert loaded["count"].shape == () and loaded["count"].item() == 3
    nn.BatchNorm1d(2).load_state_dict(loaded["bn"])
