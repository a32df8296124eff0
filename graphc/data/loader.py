"""`DataLoader`: batches of a map-style data set, optionally shuffled, collated into Tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from graphc.data.sampling import as_generator


class DataLoader:
    """Iterate over `dataset` in batches (PyTorch's DataLoader, single process).

    `shuffle=True` draws a new order each epoch from `generator`: None uses graphc's global
    generator (seeded by `graphc.manual_seed`), an int seeds a private one when the loader is made,
    and a `numpy.random.Generator` is used as given. A `sampler` (an iterable of indices with a
    length, such as `DistributedSampler`) gives the order instead. `drop_last` drops a final short
    batch.
    `batch_size=None` yields single samples without collating. `num_workers` and `pin_memory`
    are accepted so PyTorch code runs unchanged; loading always happens in this process.
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler=None,
        *,
        drop_last: bool = False,
        collate_fn=None,
        generator=None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn or default_collate
        self.generator = as_generator(generator) if shuffle else None

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.int64)
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            yield self.collate_fn([self.dataset[int(i)] for i in indices])


def default_collate(batch: list):
    """Stack a list of samples into a batch, recursing into tuples, lists and dicts.

    Tensors and arrays are stacked along a new first axis; ints become an int64 Tensor, floats a
    float64 one and bools a bool one (as in PyTorch); strings stay a list.
    """
    import graphc

    first = batch[0]
    if isinstance(first, graphc.Tensor):
        return graphc.from_numpy(np.stack([t.numpy() for t in batch]))
    if isinstance(first, (np.ndarray, np.generic, bool, int, float)):
        return graphc.from_numpy(np.ascontiguousarray(np.stack([_scalar_array(x) for x in batch])))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, Sequence):
        if len({len(sample) for sample in batch}) != 1:
            raise ValueError("default_collate: samples in a batch have different lengths")
        columns = [default_collate(list(items)) for items in zip(*batch)]
        return tuple(columns) if isinstance(first, tuple) else columns
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


def _scalar_array(x) -> np.ndarray:
    # Python scalars take PyTorch's batch dtypes: int -> int64, float -> float64, bool -> bool.
    if isinstance(x, bool):
        return np.asarray(x, dtype=np.bool_)
    if isinstance(x, int):
        return np.asarray(x, dtype=np.int64)
    if isinstance(x, float):
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x)
