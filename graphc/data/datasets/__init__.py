"""Data sets: `Digits` (bundled with scikit-learn), `MNIST` and `FashionMNIST` (IDX files)."""

from graphc.data.datasets.digits import Digits
from graphc.data.datasets.idx import IDXError, read_idx, write_idx
from graphc.data.datasets.mnist import MNIST, DownloadError, FashionMNIST

__all__ = ["MNIST", "Digits", "DownloadError", "FashionMNIST", "IDXError", "read_idx", "write_idx"]
