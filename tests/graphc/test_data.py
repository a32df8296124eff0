"""graphc.data: DataLoader, data sets (Digits, MNIST-style IDX files), transforms."""

import gzip

import numpy as np
import pytest

import graphc
from graphc.data import (
    MNIST,
    Compose,
    DataLoader,
    Dataset,
    Digits,
    FashionMNIST,
    Lambda,
    Normalize,
    TensorDataset,
    ToTensor,
    random_split,
)
from graphc.data.datasets import DownloadError, IDXError, read_idx, write_idx


def _rows(n=10):
    return TensorDataset(
        graphc.from_numpy(np.arange(n * 2, dtype=np.float32).reshape(n, 2)),
        graphc.from_numpy(np.arange(n, dtype=np.int64)),
    )


def _labels(loader):
    return np.concatenate([y.numpy() for _, y in loader])


# -- DataLoader ----------------------------------------------------------------------------------


def test_batches_in_order_with_short_last_batch():
    loader = DataLoader(_rows(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], graphc.Tensor)
    assert batches[0][0].dtype == graphc.float32 and batches[0][1].dtype == graphc.int64
    np.testing.assert_array_equal(_labels(loader), np.arange(10))
    np.testing.assert_array_equal(batches[1][0].numpy(), [[8, 9], [10, 11], [12, 13], [14, 15]])


def test_accepts_pytorch_worker_arguments():
    loader = DataLoader(_rows(6), 3, shuffle=True, num_workers=4, pin_memory=True, generator=0)
    assert sorted(_labels(loader)) == list(range(6))


def test_drop_last():
    loader = DataLoader(_rows(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(y) for _, y in loader] == [4, 4]
    assert len(DataLoader(_rows(8), batch_size=4, drop_last=True)) == 2


def test_shuffle_is_a_permutation_and_reproducible_by_seed():
    first = _labels(DataLoader(_rows(50), batch_size=8, shuffle=True, generator=3))
    again = _labels(DataLoader(_rows(50), batch_size=8, shuffle=True, generator=3))
    other = _labels(DataLoader(_rows(50), batch_size=8, shuffle=True, generator=4))
    assert sorted(first) == list(range(50))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_shuffle_draws_a_new_order_each_epoch():
    loader = DataLoader(_rows(50), batch_size=50, shuffle=True, generator=np.random.default_rng(0))
    assert not np.array_equal(_labels(loader), _labels(loader))


def test_shuffle_without_generator_follows_manual_seed():
    def epoch():
        graphc.manual_seed(11)
        return _labels(DataLoader(_rows(30), batch_size=7, shuffle=True))

    np.testing.assert_array_equal(epoch(), epoch())


def test_collate_python_scalars_dicts_and_strings():
    class Samples(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full((2,), i, np.float32), "n": i, "w": 0.5 * i, "name": f"s{i}"}

    batch = next(iter(DataLoader(Samples(), batch_size=3)))
    assert tuple(batch["x"].shape) == (3, 2)
    assert batch["n"].dtype == graphc.int64 and batch["n"].numpy().tolist() == [0, 1, 2]
    assert batch["w"].dtype == graphc.float64
    assert batch["name"] == ["s0", "s1", "s2"]


def test_batch_size_none_yields_samples():
    samples = list(DataLoader(_rows(3), batch_size=None))
    assert len(samples) == 3 and tuple(samples[0][0].shape) == (2,)


def test_bad_loader_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_rows(3), batch_size=0)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(_rows(3), shuffle=True, generator="seed")
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))


def test_random_split():
    parts = random_split(_rows(10), [7, 3], generator=0)
    assert [len(p) for p in parts] == [7, 3]
    seen = sorted(int(p[i][1]) for p in parts for i in range(len(p)))
    assert seen == list(range(10))
    assert [len(p) for p in random_split(_rows(10), [0.5, 0.5], generator=0)] == [5, 5]
    with pytest.raises(ValueError, match="add up"):
        random_split(_rows(10), [3, 3])


# -- Digits --------------------------------------------------------------------------------------


def test_digits_shapes_ranges_and_split():
    train, test = Digits(train=True), Digits(train=False)
    assert (len(train), len(test)) == (1437, 360)
    image, label = train[0]
    assert isinstance(image, graphc.Tensor) and image.dtype == graphc.float32
    assert tuple(image.shape) == (1, 8, 8)
    assert isinstance(label, int)
    assert train.data.min() == 0.0 and train.data.max() == 1.0
    assert train.targets.dtype == np.int64
    # stratified: every class keeps its share of the test set
    assert set(np.bincount(test.targets)) <= {35, 36, 37}
    batch_x, batch_y = next(iter(DataLoader(test, batch_size=360)))
    assert tuple(batch_x.shape) == (360, 1, 8, 8) and batch_y.dtype == graphc.int64


def test_digits_split_is_fixed_and_disjoint():
    a, b = Digits(train=False), Digits(train=False)
    np.testing.assert_array_equal(a.data, b.data)
    train = Digits(train=True)
    pixels = {row.tobytes() for row in train.data.reshape(len(train), -1)}
    overlap = sum(row.tobytes() in pixels for row in a.data.reshape(len(a), -1))
    assert overlap == 0


def test_digits_are_scikit_learns_digits():
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    reference = load_digits()
    ours = np.concatenate([Digits(train=True).data, Digits(train=False).data]).reshape(1797, 64)
    labels = np.concatenate([Digits(train=True).targets, Digits(train=False).targets])
    order = np.lexsort(np.c_[ours, labels].T)
    ref_order = np.lexsort(np.c_[reference.data / 16, reference.target].T)
    np.testing.assert_allclose(ours[order], reference.data[ref_order] / 16, rtol=1e-6)
    np.testing.assert_array_equal(labels[order], reference.target[ref_order])


def test_digits_accepts_tutorial_keywords_and_transforms():
    ds = Digits(
        root="unused",
        train=True,
        download=True,
        transform=ToTensor(),
        target_transform=lambda y: y + 100,
    )
    image, label = ds[5]
    assert tuple(image.shape) == (1, 8, 8)
    assert label == int(Digits().targets[5]) + 100


# -- IDX files and MNIST / FashionMNIST ----------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_idx_round_trip(tmp_path, compress, dtype):
    array = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded, array)


def test_idx_reads_a_hand_made_header(tmp_path):
    raw = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [[0, 1, 2], [3, 4, 5]])


def test_idx_rejects_bad_files(tmp_path):
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(tmp_path / "text")
    raw = bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big") + bytes(4)
    (tmp_path / "short").write_bytes(raw)
    with pytest.raises(IDXError, match="needs 10 data bytes, found 4"):
        read_idx(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(raw)[:12])
    with pytest.raises(IDXError, match="gzip"):
        read_idx(tmp_path / "broken.gz")


def _write_mnist(folder, train=True, n=5, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    suffix = ".gz" if compress else ""
    images = (np.arange(n * 28 * 28) % 256).astype(np.uint8).reshape(n, 28, 28)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_reads_torchvision_layout(tmp_path, cls):
    images, _ = _write_mnist(tmp_path / cls.__name__ / "raw")
    ds = cls(tmp_path, train=True)
    assert len(ds) == 5
    image, label = ds[3]
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    np.testing.assert_array_equal(image, images[3])
    assert label == 3 and isinstance(label, int)
    assert len(cls.classes) == 10


def test_reads_uncompressed_files_in_root_and_test_split(tmp_path):
    _write_mnist(tmp_path, train=False, n=4, compress=False)
    ds = FashionMNIST(tmp_path, train=False, transform=ToTensor())
    image, _ = ds[1]
    assert tuple(image.shape) == (1, 28, 28) and image.dtype == graphc.float32
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(x.shape) == (4, 1, 28, 28) and y.numpy().tolist() == [0, 1, 2, 3]


def test_missing_files_error_names_files_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path, train=True)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert str((tmp_path / "FashionMNIST" / "raw").resolve()) in message
    assert "download=True" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        MNIST(tmp_path, train=False)


def test_mismatched_images_and_labels(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    _write_mnist(folder, n=5)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        MNIST(tmp_path)


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    # port 9 on localhost: connection refused at once, no network involved
    monkeypatch.setattr(MNIST, "mirrors", ("http://127.0.0.1:9/",))
    with pytest.raises(DownloadError, match="could not download train-images-idx3-ubyte.gz"):
        MNIST(tmp_path, download=True)


# -- transforms ----------------------------------------------------------------------------------


def test_to_tensor_scales_uint8_and_moves_channels():
    gray = ToTensor()(np.full((4, 5), 255, np.uint8))
    assert tuple(gray.shape) == (1, 4, 5) and gray.dtype == graphc.float32
    np.testing.assert_allclose(gray.numpy(), 1.0)
    color = ToTensor()(np.arange(24, dtype=np.uint8).reshape(2, 4, 3))
    assert tuple(color.shape) == (3, 2, 4)
    np.testing.assert_allclose(color.numpy()[1, 0, 0], 1 / 255, rtol=1e-6)
    floats = ToTensor()(np.full((2, 2), 3.0))
    np.testing.assert_allclose(floats.numpy(), 3.0)  # only uint8 is rescaled
    with pytest.raises(ValueError, match="H x W"):
        ToTensor()(np.zeros(3))


def test_normalize_compose_lambda():
    pipeline = Compose([ToTensor(), Normalize((0.5,), (0.25,)), Lambda(lambda t: t * 2)])
    out = pipeline(np.array([[0, 255]], np.uint8))
    np.testing.assert_allclose(out.numpy(), [[[-4.0, 4.0]]], rtol=1e-6)
    with pytest.raises(ValueError, match="non-zero"):
        Normalize((0.0,), (0.0,))
