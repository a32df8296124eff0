"""Map-style data sets: the `Dataset` protocol, `TensorDataset`, `Subset` and `random_split`."""

from __future__ import annotations

import itertools
import math

import numpy as np

from graphc.data.sampling import as_generator


class Dataset:
    """A map-style data set: `len(ds)` samples, `ds[i]` the i-th one (PyTorch's protocol)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors (or arrays): `(x[i], y[i], ...)`."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            sizes = ", ".join(str(len(t)) for t in tensors)
            raise ValueError(f"TensorDataset tensors differ in their first dimension: {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split `dataset` into non-overlapping random subsets of the given lengths.

    `lengths` are counts summing to `len(dataset)`, or fractions summing to 1 (the remainder of the
    rounding goes round-robin to the first subsets, as in PyTorch). `generator`: see `DataLoader`.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= x <= 1 for x in lengths) and math.isclose(sum(lengths), 1.0):
        counts = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} do not add up to len(dataset) = {n}")
    order = as_generator(generator).permutation(n)
    bounds = np.cumsum([0, *lengths])
    return [Subset(dataset, order[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
