"""MNIST and FashionMNIST from their standard IDX files, laid out as torchvision lays them out."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from graphc.data.datasets.idx import read_idx
from graphc.data.datasets.labelled import LabelledImages


class DownloadError(RuntimeError):
    """The data set files could not be downloaded."""


class MNIST(LabelledImages):
    """The MNIST handwritten digits: 28 x 28 uint8 images, labels 0-9 (60000 train, 10000 test).

    Files are looked up in `root/<ClassName>/raw/` (torchvision's layout), `root/<ClassName>/` and
    `root/`, gzip-compressed (`train-images-idx3-ubyte.gz`) or not. `download=True` fetches missing
    files into `root/<ClassName>/raw/`. A sample is `(image, label)`: the image an H x W uint8 array
    (pass `transform=ToTensor()` for a float Tensor in [0, 1]), the label an int.
    """

    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)
    resources = (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    )
    classes = (
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    )

    def __init__(
        self,
        root,
        train: bool = True,
        transform=None,
        target_transform=None,
        download: bool = False,
    ):
        self.root = Path(root).expanduser()
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        names = self.file_names(train)
        folder = self._find(names)
        if folder is None and download:
            self.download()
            folder = self._find(names)
        if folder is None:
            raise FileNotFoundError(self._missing_message(names))
        self.data = read_idx(_existing(folder, names[0]))
        self.targets = read_idx(_existing(folder, names[1])).astype(np.int64)
        if self.data.ndim != 3 or self.targets.shape != self.data.shape[:1]:
            raise ValueError(
                f"{type(self).__name__}: images {self.data.shape} and labels {self.targets.shape} "
                f"in {folder} do not match"
            )

    @property
    def raw_folder(self) -> Path:
        return self.root / type(self).__name__ / "raw"

    @staticmethod
    def file_names(train: bool) -> tuple[str, str]:
        """The (images, labels) file names, without the .gz suffix."""
        prefix = "train" if train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _folders(self) -> list[Path]:
        return [self.raw_folder, self.root / type(self).__name__, self.root]

    def _find(self, names) -> Path | None:
        for folder in self._folders():
            if all(_existing(folder, name) for name in names):
                return folder
        return None

    def _missing_message(self, names) -> str:
        files = " and ".join(f"{name}.gz" for name in names)
        return (
            f"{type(self).__name__} ({'train' if self.train else 'test'}) files not found: put "
            f"{files} (gzip or not) in {self.raw_folder.resolve()}, or pass download=True"
        )

    def download(self) -> None:
        """Fetch the files that are missing into `raw_folder`, checking their MD5 sums."""
        self.raw_folder.mkdir(parents=True, exist_ok=True)
        for filename, md5 in self.resources:
            target = self.raw_folder / filename
            if target.exists() and _md5(target) == md5:
                continue
            _download(self.mirrors, filename, md5, target)

    def repr_lines(self) -> list[str]:
        return [f"Root location: {self.root}"]


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28 x 28 grey images of 10 kinds of clothing, as MNIST's files."""

    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    resources = (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    )
    classes = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


def _existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _download(mirrors, filename: str, md5: str, target: Path, timeout: float = 30) -> None:
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as err:
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
            errors.append(f"{url}: MD5 mismatch (not the published file)")
            continue
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)  # a file under the final name is always complete
        return
    raise DownloadError(
        f"could not download {filename} ({'; '.join(errors)}); put it in {target.parent.resolve()} "
        "by hand"
    )
