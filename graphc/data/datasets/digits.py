"""scikit-learn's 8 x 8 handwritten digits: a small real data set that needs no download."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from graphc.data.datasets.labelled import LabelledImages

TEST_SIZE = 360  # of 1797 images: 1437 train / 360 test, about 80 / 20
SPLIT_SEED = 0


def _load() -> tuple[np.ndarray, np.ndarray]:
    # The CSV that sklearn.datasets.load_digits reads, read directly: importing scikit-learn
    # costs seconds, reading the file milliseconds.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("Digits needs scikit-learn installed (pip install scikit-learn)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 1, 8, 8) / 16, table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_size: int, seed: int):
    """Sorted (train, test) index arrays; each class is split in the data set's proportion."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * test_size / len(labels)
    take = np.floor(exact).astype(int)
    # hand the rounding remainder to the classes with the largest fractional parts
    take[np.argsort(take - exact, kind="stable")[: test_size - take.sum()]] += 1
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    )
    return np.setdiff1d(np.arange(len(labels)), test), np.sort(test)


@functools.lru_cache(maxsize=1)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, labels = _load()
    train, test = stratified_split(labels, TEST_SIZE, SPLIT_SEED)
    return images[train], labels[train], images[test], labels[test]


class Digits(LabelledImages):
    """The 1797 8 x 8 digit images that scikit-learn ships (`load_digits`), split 1437 / 360.

    The split is stratified by class and fixed (the same on every machine). A sample is
    `(image, label)`: the image a float32 Tensor of shape (1, 8, 8) with values in [0, 1], the label
    an int. `root` and `download` are accepted so MNIST-style code runs unchanged; the data ships
    inside scikit-learn.
    """

    classes = tuple(str(i) for i in range(10))

    def __init__(
        self,
        root=None,
        train: bool = True,
        transform=None,
        target_transform=None,
        download: bool = False,
    ):
        train_x, train_y, test_x, test_y = _split()
        self.train = train
        self.data = train_x if train else test_x
        self.targets = train_y if train else test_y
        self.transform = transform
        self.target_transform = target_transform

    def image(self, index):
        import graphc

        return graphc.from_numpy(self.data[index])
